package state

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/needs"
)

func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil { // Close is idempotent: a test may close it first
			t.Errorf("close the store: %v", err)
		}
	})
	return s, dir
}

func TestNext(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	earlier := now.Add(-time.Hour)
	synced := EnvStatus{Name: "production", LastAttempted: "r1", LastApplied: "r1", Sync: Synced, Health: Healthy, DesiredModel: "a", DesiredDigest: "da", ObservedModel: "a.tar.gz", Since: earlier}
	running := func(served string) *Observation {
		return &Observation{At: now, Container: "running", Asked: true, Served: served}
	}
	applied := func(rev, model string) Outcome {
		return Outcome{Revision: rev, Decision: DecisionApplied, DesiredModel: model}
	}
	with := func(o Outcome, ob *Observation) Outcome { o.Observed = ob; return o }
	tests := []struct {
		name         string
		prev         EnvStatus
		o            Outcome
		sync         Sync
		health       Health
		attempted    string
		applied      string
		sinceChanged bool
		reason       string // in the sync or health reason
	}{
		{"first apply synced", EnvStatus{Name: "production"}, with(applied("r1", "a"), running("a.tar.gz")), Synced, Healthy, "r1", "r1", true, ""},
		{"same state again", synced, with(applied("r1", "a"), running("a.tar.gz")), Synced, Healthy, "r1", "r1", false, ""},
		{"new revision, model loading", synced, with(applied("r2", "b"), &Observation{At: now, Container: "running", Asked: true, Served: "a.tar.gz", Loading: true}), OutOfSync, Progressing, "r2", "r2", true, "loading b"},
		{"model failed to load, old model serves", synced, with(applied("r2", "b"), &Observation{At: now, Container: "running", Asked: true, Served: "a.tar.gz", ModelErr: "load failed"}), Failed, Degraded, "r2", "r2", true, "b failed to load: load failed; still serving a"},
		{"container change failed, old serves", synced, with(Outcome{Revision: "r2", Decision: DecisionFailed, Reason: "exited"}, running("a.tar.gz")), Failed, Healthy, "r2", "r1", true, "exited"},
		{"container change failed, nothing serves", synced, with(Outcome{Revision: "r2", Decision: DecisionFailed, Reason: "exited"}, &Observation{At: now}), Failed, Missing, "r2", "r1", true, "no container"},
		{"refused by policy", synced, with(Outcome{Revision: "r3", Decision: DecisionRefused, Reason: "not signed"}, running("a.tar.gz")), Refused, Healthy, "r3", "r1", true, "not signed"},
		{"held by change window", synced, with(Outcome{Revision: "r3", Decision: DecisionHeld, Reason: "held until 9"}, running("a.tar.gz")), Pending, Healthy, "r3", "r1", true, "held until 9"},
		{"container gone (down)", synced, Outcome{Observed: &Observation{At: now}}, OutOfSync, Missing, "r1", "r1", true, "no container"},
		{"container paused", synced, Outcome{Observed: &Observation{At: now, Container: "paused"}}, OutOfSync, Degraded, "r1", "r1", true, "container paused"},
		{"engine unreachable keeps what was seen", synced, Outcome{Observed: &Observation{At: now, EngineErr: "connection refused"}}, Synced, Healthy, "r1", "r1", false, "cannot observe the Engine"},
		{"a refusal stays while observations come", EnvStatus{Name: "production", LastAttempted: "r3", LastApplied: "r1", Sync: Refused, SyncReason: "bad", Health: Healthy, DesiredModel: "a", ObservedModel: "a.tar.gz", Since: earlier}, Outcome{Observed: running("a.tar.gz")}, Refused, Healthy, "r3", "r1", false, "bad"},
		{"a failed load ends when the model is observed", EnvStatus{Name: "production", LastAttempted: "r2", LastApplied: "r2", Sync: Failed, SyncReason: "model b failed to load: x", Health: Degraded, DesiredModel: "b", ObservedModel: "a.tar.gz", Since: earlier}, Outcome{Observed: running("b.tar.gz")}, Synced, Healthy, "r2", "r2", true, ""},
		{"promotion moves since", synced, with(applied("r2", "b"), running("b.tar.gz")), Synced, Healthy, "r2", "r2", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Next(tt.prev, tt.o, now)
			if got.Sync != tt.sync || got.Health != tt.health || got.LastAttempted != tt.attempted || got.LastApplied != tt.applied {
				t.Errorf("got %s/%s attempted %q applied %q; want %s/%s %q %q", got.Sync, got.Health, got.LastAttempted, got.LastApplied, tt.sync, tt.health, tt.attempted, tt.applied)
			}
			if (got.Since == now) != tt.sinceChanged {
				t.Errorf("since = %v, changed should be %v", got.Since, tt.sinceChanged)
			}
			if reasons := got.SyncReason + "|" + got.HealthReason; !strings.Contains(reasons, tt.reason) || (tt.reason == "" && reasons != "|") {
				t.Errorf("reasons %q, want %q", reasons, tt.reason)
			}
		})
	}
}

func TestFailingNamesTheCondition(t *testing.T) {
	ok := EnvStatus{Sync: Synced, Health: Healthy}
	if ok.Failing() != "" {
		t.Errorf("a healthy status fails: %q", ok.Failing())
	}
	bad := EnvStatus{Sync: Refused, SyncReason: "x.yaml:1:2: bad", Health: Missing, HealthReason: "no container"}
	if got := bad.Failing(); got != "Refused: x.yaml:1:2: bad; Missing: no container" {
		t.Errorf("failing = %q", got)
	}
}

func entries(n int) []Entry {
	var out []Entry
	for i := 0; i < n; i++ {
		out = append(out, Entry{Time: time.Date(2026, 11, 26, 12, 0, i, 0, time.UTC), Revision: fmt.Sprintf("main@sha1:%040d", i), Environment: "production", Action: "recreate service:rasa-production", Before: "h1", After: "h2", Outcome: "done"})
	}
	return out
}

func TestAuditChainDetectsEveryEdit(t *testing.T) {
	tamper := map[string]struct {
		sql     string
		brokeAt int64
	}{
		"edit a row":           {"UPDATE audit SET outcome = 'failed' WHERE id = 3", 3},
		"edit a time":          {"UPDATE audit SET time = '2026-11-26T13:00:00Z' WHERE id = 2", 2},
		"delete a row":         {"DELETE FROM audit WHERE id = 3", 4},
		"delete the first row": {"DELETE FROM audit WHERE id = 1", 2},
		"reorder two rows":     {"UPDATE audit SET id = CASE id WHEN 2 THEN 102 WHEN 3 THEN 2 END WHERE id IN (2,3); UPDATE audit SET id = 3 WHERE id = 102", 2},
		"insert a row":         {"INSERT INTO audit (id, time, revision, author, signer, environment, action, before, after, outcome, error, prev_hash, hash) SELECT 100, time, revision, author, signer, environment, action, before, after, outcome, error, prev_hash, hash FROM audit WHERE id = 2", 100},
	}
	for name, tc := range tamper {
		t.Run(name, func(t *testing.T) {
			s, _ := openTest(t)
			ctx := context.Background()
			if err := s.Record(ctx, entries(5)...); err != nil {
				t.Fatal(err)
			}
			if n, broken, err := s.Verify(ctx); err != nil || broken != nil || n != 5 {
				t.Fatalf("untouched log: %d rows, %v, %v", n, broken, err)
			}
			if _, err := s.db.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			_, broken, err := s.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if broken == nil || broken.ID != tc.brokeAt {
				t.Errorf("verify after %q: %v, want row %d", name, broken, tc.brokeAt)
			}
		})
	}
}

func TestAuditMasksSecrets(t *testing.T) {
	s, _ := openTest(t)
	s.Masker().Add("hunter2-token", "abc") // too short to mask
	ctx := context.Background()
	err := s.Record(ctx, Entry{Environment: "production", Action: "nudge", Error: "PUT /model?token=hunter2-token failed", Before: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Export(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "hunter2") || !strings.Contains(buf.String(), "token=********") || !strings.Contains(buf.String(), `"before":"abc"`) {
		t.Errorf("export: %s", buf.String())
	}
	if _, broken, err := s.Verify(ctx); err != nil || broken != nil {
		t.Errorf("masked rows do not verify: %v, %v", broken, err)
	}
}

func TestHistoryFilters(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	es := entries(4)
	es[1].Environment = "worker"
	if err := s.Record(ctx, es...); err != nil {
		t.Fatal(err)
	}
	rows := history(t, s, Filter{Environment: "production"})
	if len(rows) != 3 || rows[0].ID != 4 {
		t.Errorf("env filter: %+v", rows)
	}
	rows = history(t, s, Filter{Since: es[2].Time})
	if len(rows) != 2 {
		t.Errorf("since filter: %d rows", len(rows))
	}
	rows = history(t, s, Filter{Limit: 1})
	if len(rows) != 1 || rows[0].ID != 4 {
		t.Errorf("limit: %+v", rows)
	}
}

func history(t *testing.T, s *Store, f Filter) []Row {
	t.Helper()
	rows, err := s.History(context.Background(), f)
	if err != nil {
		t.Fatalf("history %+v: %v", f, err)
	}
	return rows
}

func TestStatusCommitAndForget(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	now := time.Now()
	st := Next(EnvStatus{Name: "production", Project: "p"}, Outcome{Revision: "r1", Decision: DecisionApplied, Observed: &Observation{At: now, Container: "running", Asked: true}}, now)
	w := Next(EnvStatus{Name: "worker", Project: "p"}, Outcome{Revision: "r1", Decision: DecisionApplied, Observed: &Observation{At: now, Container: "running", Asked: true}}, now)
	if err := s.Commit(ctx, []EnvStatus{st, w}, []Entry{{Action: "apply", Outcome: "done"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Statuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "production" || got[0].Sync != Synced || !got[0].Since.Equal(now.UTC().Truncate(0)) && got[0].Since.Sub(now).Abs() > time.Millisecond {
		t.Errorf("statuses %+v", got)
	}
	if err := s.Forget(ctx, "p", map[string]bool{"production": true}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Statuses(ctx); err != nil || len(got) != 1 {
		t.Errorf("after forget: %+v, %v", got, err)
	}
}

func TestOpenRefusesWhatItCannotTrust(t *testing.T) {
	ctx := context.Background()
	t.Run("not sqlite", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), []byte("hello, this is not a database at all"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(ctx, dir)
		if err == nil || !strings.Contains(err.Error(), "is not an SQLite database") || !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
			t.Fatalf("err = %v", err)
		}
		if data, err := os.ReadFile(filepath.Join(dir, FileName)); err != nil || !strings.HasPrefix(string(data), "hello") {
			t.Errorf("the file was changed: %q, %v", data, err)
		}
	})
	t.Run("newer schema", func(t *testing.T) {
		s, dir := openTest(t)
		if _, err := s.db.Exec("PRAGMA user_version = 99"); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := Open(ctx, dir)
		if err == nil || !strings.Contains(err.Error(), "schema v99, newer than this build") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("fails integrity check", func(t *testing.T) {
		s, dir := openTest(t)
		if err := s.Record(ctx, entries(200)...); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, FileName)
		data := scribble(t, path, 4096+100, 4096*3) // the second page onwards
		// Open may refuse it at once (a page it reads is damaged), or else the
		// background check does, and then nothing is written to it.
		reopened, err := Open(ctx, dir)
		if err == nil {
			err = reopened.Checked(ctx)
			if werr := reopened.Record(ctx, entries(1)...); werr == nil || !strings.Contains(werr.Error(), path) {
				t.Errorf("a write to the damaged file was not refused: %v", werr)
			}
			if _, werr := reopened.Begin(ctx, "p", "r", "plan"); werr == nil || !strings.Contains(werr.Error(), "nothing was changed") {
				t.Errorf("an apply intent on the damaged file was not refused: %v", werr)
			}
			reopened.Close()
		}
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "restore it from a backup") {
			t.Fatalf("a corrupted file was accepted: %v", err)
		}
		if after, rerr := os.ReadFile(path); rerr != nil || !bytes.Equal(after, data) {
			t.Errorf("the damaged file was changed (%v)", rerr)
		}
	})
	t.Run("damaged schema page", func(t *testing.T) {
		s, dir := openTest(t)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, FileName)
		scribble(t, path, 100, 4096) // the first page past the header
		_, err := Open(ctx, dir)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "restore it from a backup") {
			t.Fatalf("a file whose schema cannot be read: %v", err)
		}
	})
	t.Run("in use", func(t *testing.T) {
		_, dir := openTest(t)
		_, err := Open(ctx, dir)
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
			t.Fatalf("err = %v", err)
		}
		// Readers are welcome beside the writer.
		r, err := OpenReader(ctx, dir)
		if err != nil {
			t.Fatalf("reader beside a writer: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Errorf("close the reader: %v", err)
		}
	})
}

// scribble overwrites bytes [from, to) of the file at path, as a failing disk would,
// and returns its new content; the file must reach to.
func scribble(t *testing.T, path string, from, to int) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < to {
		t.Fatalf("%s is %d bytes: too small to scribble over bytes %d to %d", path, len(data), from, to)
	}
	for i := from; i < to; i++ {
		data[i] = 0xA5
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

func TestBeginFailsOnAFullDisk(t *testing.T) {
	dir := t.TempDir()
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).Run(); err != nil {
		needs.Missing(t, "cannot mount a tiny tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Fill the disk.
	// The filler is bigger than the disk: its write fails with ENOSPC, the point.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := filler.Write(bytes.Repeat([]byte("x"), 1<<20)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v, want ENOSPC", err)
	}
	if err := filler.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Begin(ctx, "p", "r1", strings.Repeat("plan line\n", 20000))
	if err == nil || !strings.Contains(err.Error(), "nothing was changed on the Engine") {
		t.Fatalf("err = %v", err)
	}
}

func TestJournal(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	done, err := s.Begin(ctx, "p", "r1", "plan")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, done, "done"); err != nil {
		t.Fatal(err)
	}
	killed, err := s.Begin(ctx, "p", "r2", "plan 2")
	if err != nil {
		t.Fatal(err)
	}
	open, err := s.Unfinished(ctx)
	if err != nil || len(open) != 1 || open[0].ID != killed || open[0].Revision != "r2" {
		t.Fatalf("unfinished = %+v, %v", open, err)
	}
	if err := s.Interrupted(ctx, open[0]); err != nil {
		t.Fatal(err)
	}
	if open, err := s.Unfinished(ctx); err != nil || len(open) != 0 {
		t.Errorf("still unfinished: %+v, %v", open, err)
	}
	rows := history(t, s, Filter{})
	if len(rows) != 1 || rows[0].Outcome != "interrupted" || rows[0].Revision != "r2" {
		t.Errorf("audit: %+v", rows)
	}
}

var _ = sql.ErrNoRows
