package state

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Anchor is the audit chain's head at one moment: how many rows it had and the hash
// of the last. Exported where the database's owner cannot rewrite it unseen (the
// daemon's log, /metrics, a Git ref of the declaration repository), it turns the hash
// chain's "intact" into "intact and complete": a chain truncated, or edited and
// re-chained after an anchor, no longer matches it.
type Anchor struct {
	Rows int64     `json:"rows"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

// String is the anchor as the log and the Git ref carry it.
func (a Anchor) String() string { return fmt.Sprintf("%d rows, head %s", a.Rows, a.Hash) }

// Head is the chain's anchor now (zero rows and the genesis hash when empty).
func (s *Store) Head(ctx context.Context) (Anchor, error) {
	a := Anchor{Hash: genesis, Time: time.Now().UTC()}
	err := s.db.QueryRowContext(ctx, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").Scan(&a.Rows, &a.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return a, nil
	}
	if err != nil {
		return a, fmt.Errorf("audit head: %w", err)
	}
	return a, nil
}

// AnchorMismatch says how the audit log departs from an anchor: rows missing since it
// was taken, or rows changed (and re-chained) at or before its last row.
type AnchorMismatch struct {
	Anchor Anchor
	// Missing is set when the log has fewer rows than the anchor counted.
	Missing bool
	// First and Last bound the rows that differ, or that are missing.
	First, Last int64
}

func (m *AnchorMismatch) Error() string {
	when := m.Anchor.Time.UTC().Format(time.RFC3339)
	if m.Missing {
		return fmt.Sprintf("rows %d to %d are missing: the anchor of %s counted %d rows (head %s)", m.First, m.Last, when, m.Anchor.Rows, m.Anchor.Hash)
	}
	if m.First == m.Last {
		return fmt.Sprintf("row %d differs from the anchor of %s (head %s): it was edited and the chain recomputed", m.First, when, m.Anchor.Hash)
	}
	return fmt.Sprintf("a row from %d to %d differs from the anchor of %s (row %d should hash to %s): rows were edited and the chain recomputed", m.First, m.Last, when, m.Last, m.Anchor.Hash)
}

// CheckAnchors compares the log with anchors (any order) and returns the first
// mismatch, oldest anchor first: the rows between the last anchor that matches and
// the first that does not are where the log was changed.
func (s *Store) CheckAnchors(ctx context.Context, anchors []Anchor) (*AnchorMismatch, error) {
	sorted := append([]Anchor(nil), anchors...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Rows < sorted[j].Rows })
	head, err := s.Head(ctx)
	if err != nil {
		return nil, err
	}
	var good int64 // rows up to here match an anchor
	for _, a := range sorted {
		if a.Rows == 0 {
			continue
		}
		if a.Rows > head.Rows { // the newest anchor says how many are gone
			newest := sorted[len(sorted)-1]
			return &AnchorMismatch{Anchor: newest, Missing: true, First: head.Rows + 1, Last: newest.Rows}, nil
		}
		var hash string
		if err := s.db.QueryRowContext(ctx, "SELECT hash FROM audit WHERE id = ?", a.Rows).Scan(&hash); err != nil {
			return nil, fmt.Errorf("check anchor: %w", err)
		}
		if hash != a.Hash {
			return &AnchorMismatch{Anchor: a, First: good + 1, Last: a.Rows}, nil
		}
		good = a.Rows
	}
	return nil, nil
}

// ReadAnchors reads anchors, one JSON object per line: the anchor log of the Git ref
// ({"rows":…,"hash":…,"time":…}) or the daemon's JSON log, whose "audit anchor" lines
// carry audit_rows and audit_head (other lines are skipped). A line that is neither
// is an error naming its number.
func ReadAnchors(r io.Reader) ([]Anchor, error) {
	var out []Anchor
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		a, ok, err := parseAnchorLine([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("anchor line %d: %w", line, err)
		}
		if ok {
			out = append(out, a)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read anchors: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("read anchors: no anchor found: give the anchors.jsonl of refs/rasa-gitops/audit or the daemon's JSON log")
	}
	return out, nil
}

// parseAnchorLine reads one line; ok is false for a log line that is no anchor.
func parseAnchorLine(b []byte) (Anchor, bool, error) {
	var v struct {
		Rows      *int64 `json:"rows"`
		Hash      string `json:"hash"`
		Time      string `json:"time"` // the anchor's, or the log line's (ISO 8601)
		AuditRows *int64 `json:"audit_rows"`
		AuditHead string `json:"audit_head"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Anchor{}, false, fmt.Errorf("not JSON: %w", err)
	}
	t, _ := time.Parse(time.RFC3339Nano, v.Time) // only for messages
	switch {
	case v.Rows != nil && sha256Hex(v.Hash):
		return Anchor{Rows: *v.Rows, Hash: v.Hash, Time: t}, true, nil
	case v.AuditRows != nil && sha256Hex(v.AuditHead):
		return Anchor{Rows: *v.AuditRows, Hash: v.AuditHead, Time: t}, true, nil
	case v.Rows != nil:
		return Anchor{}, false, errors.New(`"hash" must be 64 lowercase hex digits`)
	}
	return Anchor{}, false, nil
}

func sha256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
