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
	if err := s.Checked(ctx); err != nil {
		return err
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
	// Action, when set, keeps rows whose action is it or starts with it and a space
	// ("policy:" keeps every policy decision, "start" every start of a service).
	Action string
}

// History returns audit rows, newest first (without their hashes: Export and Verify
// read those).
func (s *Store) History(ctx context.Context, f Filter) ([]Row, error) {
	var out []Row
	err := s.EachHistory(ctx, f, func(r Row) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// EachHistory calls fn with each audit row History would return, newest first, as it
// is read: a listing of the whole log streams instead of being built in memory. An
// error from fn stops the listing and is returned.
//
// The driver's cost is per column, so rows are read as two columns, the ID and the
// text columns joined by a unit separator (U+001F); a row whose text holds one itself
// is read, with every older row, column by column instead.
func (s *Store) EachHistory(ctx context.Context, f Filter, fn func(Row) error) error {
	emitted, odd, err := s.eachJoined(ctx, f, fn)
	if err != nil || odd == 0 {
		return err
	}
	rest := f
	rest.Before = odd + 1
	if f.Limit > 0 {
		rest.Limit = f.Limit - emitted
	}
	return s.eachByColumn(ctx, rest, fn)
}

// historyColumns are the text columns of a history row, in Row's order.
const historyColumns = "time, revision, author, signer, environment, action, before, after, outcome, error"

// eachJoined is the fast path of EachHistory. It stops at the first row it cannot
// split (odd, its ID), having emitted the rows before it.
func (s *Store) eachJoined(ctx context.Context, f Filter, fn func(Row) error) (emitted int, odd int64, err error) {
	q, args := historyQuery("id, concat_ws(char(31), "+historyColumns+")", f)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, 0, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	var id int64
	var joined sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&id, &joined); err != nil {
			return emitted, 0, fmt.Errorf("read audit row: %w", err)
		}
		r, ok := splitRow(id, string(joined))
		if !ok {
			return emitted, id, nil
		}
		if err := fn(r); err != nil {
			return emitted, 0, err
		}
		emitted++
	}
	return emitted, 0, rows.Err()
}

// splitRow reads a row joined by eachJoined; ok is false when the text does not
// split into exactly the ten columns.
func splitRow(id int64, joined string) (Row, bool) {
	var f [10]string
	for i := range f {
		sep := strings.IndexByte(joined, 0x1f)
		if i == len(f)-1 {
			if sep >= 0 {
				return Row{}, false
			}
			f[i] = joined
			break
		}
		if sep < 0 {
			return Row{}, false
		}
		f[i], joined = joined[:sep], joined[sep+1:]
	}
	r := Row{ID: id, Entry: Entry{Time: parseRowTime([]byte(f[0])), Revision: f[1], Author: f[2], Signer: f[3], Environment: f[4], Action: f[5], Before: f[6], After: f[7], Outcome: f[8], Error: f[9]}}
	return r, true
}

// eachByColumn is EachHistory reading every column on its own.
func (s *Store) eachByColumn(ctx context.Context, f Filter, fn func(Row) error) error {
	q, args := historyQuery("id, "+historyColumns, f)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	var r Row
	var t sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&r.ID, &t, &r.Revision, &r.Author, &r.Signer, &r.Environment, &r.Action, &r.Before, &r.After, &r.Outcome, &r.Error); err != nil {
			return fmt.Errorf("read audit row: %w", err)
		}
		r.Time = parseRowTime(t)
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// historyQuery is the SQL of a history filter selecting columns.
func historyQuery(columns string, f Filter) (string, []any) {
	q := "SELECT " + columns + " FROM audit WHERE 1=1"
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
	if f.Action != "" {
		q += " AND (action = ? OR substr(action, 1, ?) = ?)"
		args = append(args, f.Action, len(f.Action)+1, f.Action+" ")
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return q, args
}

// parseRowTime reads a stored time; a malformed one reads as zero (the row stays
// readable; Verify reports it as broken).
func parseRowTime(b []byte) time.Time {
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}
	}
	return t
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
