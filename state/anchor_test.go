package state

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// recordN appends n audit rows, one transaction each, returning the anchor after each.
func recordN(t *testing.T, s *Store, n int) []Anchor {
	t.Helper()
	var anchors []Anchor
	for i := 0; i < n; i++ {
		if err := s.Record(context.Background(), Entry{Time: time.Date(2026, 11, 1, 0, 0, i, 0, time.UTC), Environment: "production", Action: "apply", After: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		a, err := s.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		anchors = append(anchors, a)
	}
	return anchors
}

// rechain recomputes every row's prev_hash and hash after an edit, as someone who can
// write the database would, so that Verify alone finds the chain intact.
func rechain(t *testing.T, s *Store) {
	t.Helper()
	rows, err := s.db.Query("SELECT id, time, revision, author, signer, environment, action, before, after, outcome, error FROM audit ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	type fix struct {
		id         int64
		prev, hash string
	}
	var fixes []fix
	prev := genesis
	for rows.Next() {
		var id int64
		var ts string
		var e Entry
		if err := rows.Scan(&id, &ts, &e.Revision, &e.Author, &e.Signer, &e.Environment, &e.Action, &e.Before, &e.After, &e.Outcome, &e.Error); err != nil {
			t.Fatal(err)
		}
		if e.Time, err = time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Fatal(err)
		}
		h := rowHash(prev, e)
		fixes = append(fixes, fix{id, prev, h})
		prev = h
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, f := range fixes {
		if _, err := s.db.Exec("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", f.prev, f.hash, f.id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAnchorsDetectTruncation(t *testing.T) {
	s, _ := openTest(t)
	anchors := recordN(t, s, 10)
	if _, err := s.db.Exec("DELETE FROM audit WHERE id > 7"); err != nil {
		t.Fatal(err)
	}
	if _, broken, err := s.Verify(context.Background()); err != nil || broken != nil {
		t.Fatalf("the chain alone should look intact after a truncation: %v %v", broken, err)
	}
	m, err := s.CheckAnchors(context.Background(), anchors)
	if err != nil || m == nil || !m.Missing || m.First != 8 || m.Last != 10 {
		t.Fatalf("CheckAnchors = %+v, %v; want rows 8 to 10 missing", m, err)
	}
	if !strings.Contains(m.Error(), "rows 8 to 10 are missing") {
		t.Errorf("message: %s", m)
	}
}

func TestAnchorsDetectAnEditRechained(t *testing.T) {
	s, _ := openTest(t)
	anchors := recordN(t, s, 10)
	if _, err := s.db.Exec("UPDATE audit SET after = 'forged' WHERE id = 6"); err != nil {
		t.Fatal(err)
	}
	rechain(t, s)
	if _, broken, err := s.Verify(context.Background()); err != nil || broken != nil {
		t.Fatalf("the chain alone should look intact after a re-chained edit: %v %v", broken, err)
	}
	// An anchor per row names the row; sparser anchors name the range.
	m, err := s.CheckAnchors(context.Background(), anchors)
	if err != nil || m == nil || m.Missing || m.First != 6 || m.Last != 6 || !strings.Contains(m.Error(), "row 6 differs") {
		t.Fatalf("CheckAnchors (every row) = %v, %v; want row 6", m, err)
	}
	m, err = s.CheckAnchors(context.Background(), []Anchor{anchors[9], anchors[3]})
	if err != nil || m == nil || m.First != 5 || m.Last != 10 || !strings.Contains(m.Error(), "a row from 5 to 10 differs") {
		t.Fatalf("CheckAnchors (rows 4 and 10) = %v, %v; want rows 5 to 10", m, err)
	}
}

func TestAnchorsOfAnUntouchedLogMatch(t *testing.T) {
	s, _ := openTest(t)
	anchors := recordN(t, s, 5)
	recordN(t, s, 3) // rows after the last anchor are not covered, and not a mismatch
	if m, err := s.CheckAnchors(context.Background(), anchors); m != nil || err != nil {
		t.Fatalf("CheckAnchors = %v, %v", m, err)
	}
}

func TestReadAnchors(t *testing.T) {
	h := strings.Repeat("a", 64)
	in := `{"rows":3,"hash":"` + h + `","time":"2026-11-29T10:00:00Z"}
{"level":"info","time":"2026-11-29T11:00:00.000Z","msg":"run ended","outcome":"unchanged"}
{"level":"info","time":"2026-11-29T12:00:00.000Z","msg":"audit anchor","audit_rows":7,"audit_head":"` + h + `"}

`
	got, err := ReadAnchors(strings.NewReader(in))
	if err != nil || len(got) != 2 || got[0].Rows != 3 || got[1].Rows != 7 || got[1].Time.Hour() != 12 {
		t.Fatalf("ReadAnchors = %+v, %v", got, err)
	}
	for _, bad := range []string{"not json\n", `{"rows":3,"hash":"short"}` + "\n", `{"msg":"no anchor here"}` + "\n"} {
		if _, err := ReadAnchors(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ReadAnchors(strings.NewReader("x\n")); err == nil || !strings.Contains(err.Error(), "anchor line 1") {
		t.Errorf("error does not name the line: %v", err)
	}
}

func FuzzReadAnchors(f *testing.F) {
	f.Add([]byte(`{"rows":3,"hash":"` + strings.Repeat("a", 64) + `"}`))
	f.Add([]byte(`{"audit_rows":1,"audit_head":"` + strings.Repeat("b", 64) + `","time":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		anchors, err := ReadAnchors(strings.NewReader(string(b)))
		if err == nil && len(anchors) == 0 {
			t.Fatal("no error and no anchor")
		}
		for _, a := range anchors {
			if !sha256Hex(a.Hash) {
				t.Fatalf("anchor with hash %q", a.Hash)
			}
		}
	})
}
