package state

import (
	"context"
	"fmt"
	"time"
)

// Intent is an apply that was started; FinishedAt is zero while it runs (or if the
// process died during it).
type Intent struct {
	ID         int64
	StartedAt  time.Time
	Project    string
	Revision   string
	Plan       string
	FinishedAt time.Time
	Outcome    string
}

// Begin writes an apply's intent before its first Engine call. If it cannot be written
// (a full disk, a broken file) the apply must not start.
func (s *Store) Begin(ctx context.Context, project, revision, plan string) (int64, error) {
	if err := s.Checked(ctx); err != nil {
		return 0, fmt.Errorf("write apply intent (nothing was changed on the Engine): %w", err)
	}
	res, err := s.db.ExecContext(ctx, "INSERT INTO journal (started_at, project, revision, intent) VALUES (?,?,?,?)",
		time.Now().UTC().Format(time.RFC3339Nano), project, s.masker.Apply(revision), s.masker.Apply(plan))
	if err != nil {
		if io := ioTrouble(s.path, err); io != nil {
			err = io
		}
		return 0, fmt.Errorf("write apply intent (nothing was changed on the Engine): %w", err)
	}
	return res.LastInsertId()
}

// Finish writes an apply's outcome after its last Engine call.
func (s *Store) Finish(ctx context.Context, id int64, outcome string) error {
	if err := s.Checked(ctx); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, "UPDATE journal SET finished_at = ?, outcome = ? WHERE id = ?", time.Now().UTC().Format(time.RFC3339Nano), s.masker.Apply(outcome), id); err != nil {
		return fmt.Errorf("write apply outcome: %w", err)
	}
	return nil
}

// Unfinished lists applies that began and never finished: the process died mid-apply.
func (s *Store) Unfinished(ctx context.Context) ([]Intent, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, started_at, project, revision, intent FROM journal WHERE finished_at IS NULL ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer rows.Close()
	var out []Intent
	for rows.Next() {
		var in Intent
		var started string
		if err := rows.Scan(&in.ID, &started, &in.Project, &in.Revision, &in.Plan); err != nil {
			return nil, fmt.Errorf("read journal: %w", err)
		}
		in.StartedAt, _ = time.Parse(time.RFC3339Nano, started)
		out = append(out, in)
	}
	return out, rows.Err()
}

// Interrupted closes an unfinished intent found at start and audits it, in one
// transaction; the run that follows converges from the observed state.
func (s *Store) Interrupted(ctx context.Context, in Intent) error {
	if err := s.Checked(ctx); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("close interrupted apply: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().UTC()
	if _, err := tx.ExecContext(ctx, "UPDATE journal SET finished_at = ?, outcome = 'interrupted' WHERE id = ?", now.Format(time.RFC3339Nano), in.ID); err != nil {
		return fmt.Errorf("close interrupted apply: %w", err)
	}
	if err := s.record(ctx, tx, Entry{Time: now, Revision: in.Revision, Action: "apply", Before: "started " + in.StartedAt.Format(time.RFC3339), After: "interrupted", Outcome: "interrupted",
		Error: "the process stopped during this apply; the next run converges from the observed state"}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("close interrupted apply: %w", err)
	}
	return nil
}
