package state

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Entry is one audit row: a decision or an action, and what came of it.
type Entry struct {
	Time        time.Time `json:"time"`
	Revision    string    `json:"revision"`
	Author      string    `json:"author"`
	Signer      string    `json:"signer"`
	Environment string    `json:"environment"`
	Action      string    `json:"action"`
	Before      string    `json:"before"`
	After       string    `json:"after"`
	Outcome     string    `json:"outcome"`
	Error       string    `json:"error"`
}

// Row is a stored audit entry with its place in the chain.
type Row struct {
	ID int64 `json:"id"`
	Entry
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// genesis is the previous hash of the first row.
var genesis = strings.Repeat("0", 64)

// rowHash chains a row to its predecessor: sha256(prev hash, newline, the row's content
// as a JSON array in column order). The time is hashed as stored (RFC 3339, UTC).
func rowHash(prev string, e Entry) string {
	content, _ := json.Marshal([]string{e.Time.UTC().Format(time.RFC3339Nano), e.Revision, e.Author, e.Signer, e.Environment, e.Action, e.Before, e.After, e.Outcome, e.Error})
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// Record appends entries to the audit log in one transaction, masking secrets first.
func (s *Store) Record(ctx context.Context, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	defer tx.Rollback()
	if err := s.record(ctx, tx, entries...); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	return nil
}

func (s *Store) record(ctx context.Context, tx *sql.Tx, entries ...Entry) error {
	prev := genesis
	if err := tx.QueryRowContext(ctx, "SELECT hash FROM audit ORDER BY id DESC LIMIT 1").Scan(&prev); err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("record audit: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit (time, revision, author, signer, environment, action, before, after, outcome, error, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	defer stmt.Close()
	for _, e := range entries {
		e = s.mask(e)
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		e.Time = e.Time.UTC()
		hash := rowHash(prev, e)
		if _, err := stmt.ExecContext(ctx, e.Time.Format(time.RFC3339Nano), e.Revision, e.Author, e.Signer, e.Environment, e.Action, e.Before, e.After, e.Outcome, e.Error, prev, hash); err != nil {
			return fmt.Errorf("record audit: %w", err)
		}
		prev = hash
	}
	return nil
}

func (s *Store) mask(e Entry) Entry {
	m := s.masker
	e.Revision, e.Author, e.Signer = m.Apply(e.Revision), m.Apply(e.Author), m.Apply(e.Signer)
	e.Environment, e.Action = m.Apply(e.Environment), m.Apply(e.Action)
	e.Before, e.After, e.Outcome, e.Error = m.Apply(e.Before), m.Apply(e.After), m.Apply(e.Outcome), m.Apply(e.Error)
	return e
}

// Filter selects audit rows.
type Filter struct {
	Environment string
	Since       time.Time
	// Before, when positive, keeps rows with a smaller ID: the cursor of the next page
	// (the last ID of the page before it).
	Before int64
	Limit  int // 0: no limit
}

// History returns audit rows, newest first (without their hashes: Export and Verify
// read those).
func (s *Store) History(ctx context.Context, f Filter) ([]Row, error) {
	q := "SELECT id, time, revision, author, signer, environment, action, before, after, outcome, error, '', '' FROM audit WHERE 1=1"
	var args []any
	if f.Environment != "" {
		q += " AND environment = ?"
		args = append(args, f.Environment)
	}
	if !f.Since.IsZero() {
		q += " AND time >= ?"
		args = append(args, f.Since.UTC().Format(time.RFC3339Nano))
	}
	if f.Before > 0 {
		q += " AND id < ?"
		args = append(args, f.Before)
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanRow(rows *sql.Rows) (Row, error) {
	var r Row
	var t string
	if err := rows.Scan(&r.ID, &t, &r.Revision, &r.Author, &r.Signer, &r.Environment, &r.Action, &r.Before, &r.After, &r.Outcome, &r.Error, &r.PrevHash, &r.Hash); err != nil {
		return r, fmt.Errorf("read audit row: %w", err)
	}
	parsed, err := time.Parse(time.RFC3339Nano, t)
	if err != nil {
		// keep the row readable; Verify reports it as broken
		parsed = time.Time{}
	}
	r.Time = parsed
	return r, nil
}

// Broken says where the chain breaks.
type Broken struct {
	ID     int64
	Reason string
}

func (b *Broken) Error() string { return fmt.Sprintf("audit row %d: %s", b.ID, b.Reason) }

// Verify walks the chain in order and returns the number of rows checked and, if the
// log was edited, the first broken row (an edited row no longer hashes to its hash; a
// deleted or reordered row breaks the next row's link).
func (s *Store) Verify(ctx context.Context) (int, *Broken, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, time, revision, author, signer, environment, action, before, after, outcome, error, prev_hash, hash FROM audit ORDER BY id")
	if err != nil {
		return 0, nil, fmt.Errorf("verify: %w", err)
	}
	defer rows.Close()
	prev, n := genesis, 0
	var lastID int64
	for rows.Next() {
		var r Row
		var t string
		if err := rows.Scan(&r.ID, &t, &r.Revision, &r.Author, &r.Signer, &r.Environment, &r.Action, &r.Before, &r.After, &r.Outcome, &r.Error, &r.PrevHash, &r.Hash); err != nil {
			return n, nil, fmt.Errorf("verify: %w", err)
		}
		n++
		if lastID != 0 && r.ID != lastID+1 {
			return n, &Broken{ID: r.ID, Reason: fmt.Sprintf("row %d is missing (deleted)", lastID+1)}, nil
		}
		lastID = r.ID
		if r.PrevHash != prev {
			return n, &Broken{ID: r.ID, Reason: "does not follow the previous row (a row was deleted, inserted or reordered)"}, nil
		}
		parsed, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return n, &Broken{ID: r.ID, Reason: "its time was edited"}, nil
		}
		r.Time = parsed
		if rowHash(r.PrevHash, r.Entry) != r.Hash || parsed.UTC().Format(time.RFC3339Nano) != t {
			return n, &Broken{ID: r.ID, Reason: "its content was edited (it no longer matches its hash)"}, nil
		}
		prev = r.Hash
	}
	if err := rows.Err(); err != nil {
		return n, nil, fmt.Errorf("verify: %w", err)
	}
	return n, nil, nil
}

// Export writes every audit row, oldest first, as JSON lines.
func (s *Store) Export(ctx context.Context, w io.Writer) error {
	rows, err := s.db.QueryContext(ctx, "SELECT id, time, revision, author, signer, environment, action, before, after, outcome, error, prev_hash, hash FROM audit ORDER BY id")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer rows.Close()
	enc := json.NewEncoder(w)
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return err
		}
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	return rows.Err()
}
