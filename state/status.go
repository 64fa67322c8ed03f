package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Sync says whether an environment runs what its declaration says.
type Sync string

// Sync statuses.
const (
	Synced    Sync = "Synced"    // the last applied revision is the desired one and its model is served
	OutOfSync Sync = "OutOfSync" // a change is declared and not yet applied (or its model not yet loaded)
	Pending   Sync = "Pending"   // a change is held (change window)
	Refused   Sync = "Refused"   // a change was refused (signature policy, invalid declaration)
	Failed    Sync = "Failed"    // applying the change failed; the previous state keeps serving
)

// Health says whether an environment's Rasa server serves.
type Health string

// Health statuses.
const (
	Healthy     Health = "Healthy"     // running and serving its declared model
	Progressing Health = "Progressing" // being replaced, or loading its model
	Degraded    Health = "Degraded"    // a change failed and the previous container serves, or the model failed to load
	Missing     Health = "Missing"     // no container
)

// EnvStatus is the recorded state of one environment.
type EnvStatus struct {
	Name           string `json:"name"`
	Project        string `json:"project"`
	LastAttempted  string `json:"last_attempted_revision"`
	LastApplied    string `json:"last_applied_revision"`
	Sync           Sync   `json:"sync"`
	Health         Health `json:"health"`
	DesiredModel   string `json:"desired_model"`
	DesiredDigest  string `json:"desired_digest"`
	ObservedModel  string `json:"observed_model"`
	ObservedDigest string `json:"observed_digest"`
	LastError      string `json:"last_error"`
	// Fingerprint identifies the last applied rendering of the environment (its
	// service and model); a revision that changes it changes the environment.
	Fingerprint string    `json:"fingerprint"`
	Since       time.Time `json:"since"` // when Sync or Health last changed
	UpdatedAt   time.Time `json:"updated_at"`
}

// Outcome is what one run did for one environment: the input of Next.
type Outcome struct {
	Revision      string
	DesiredModel  string
	DesiredDigest string
	// Refused and Held say the change was not attempted (policy, change window).
	Refused, Held bool
	// Failed says a container action for the environment failed (rolled back or not).
	Failed bool
	// Running says a container of the environment runs after the run.
	Running bool
	// ModelSynced says the Rasa server reports the declared model (or none when none is
	// declared); ObservedModel is what it reports.
	ModelSynced   bool
	ObservedModel string
	Err           string
	// Fingerprint of the environment's rendering in this revision.
	Fingerprint string
}

// Next is the status transition of one environment after a run. It is pure.
func Next(prev EnvStatus, o Outcome, now time.Time) EnvStatus {
	next := prev
	next.UpdatedAt = now
	next.ObservedModel = o.ObservedModel
	if o.ModelSynced {
		next.ObservedDigest = o.DesiredDigest
	} else if o.ObservedModel == "" {
		next.ObservedDigest = ""
	}
	next.LastError = o.Err
	switch {
	case o.Refused:
		next.Sync = Refused
		next.LastAttempted = o.Revision
	case o.Held:
		next.Sync = Pending
	case o.Failed:
		next.Sync = Failed
		next.LastAttempted = o.Revision
	default:
		next.LastAttempted = o.Revision
		next.LastApplied = o.Revision
		next.DesiredModel, next.DesiredDigest = o.DesiredModel, o.DesiredDigest
		next.Fingerprint = o.Fingerprint
		if o.ModelSynced {
			next.Sync = Synced
		} else {
			next.Sync = OutOfSync
		}
	}
	switch {
	case !o.Running:
		next.Health = Missing
	case o.Failed || (o.Err != "" && !o.ModelSynced):
		next.Health = Degraded
	case !o.ModelSynced:
		next.Health = Progressing
	default:
		next.Health = Healthy
	}
	if next.Sync != prev.Sync || next.Health != prev.Health || prev.Since.IsZero() {
		next.Since = now
	}
	return next
}

// Statuses returns every recorded environment, by name.
func (s *Store) Statuses(ctx context.Context) ([]EnvStatus, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, project, last_attempted_revision, last_applied_revision, sync, health, desired_model, desired_digest, observed_model, observed_digest, last_error, fingerprint, since, updated_at FROM environments ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	defer rows.Close()
	var out []EnvStatus
	for rows.Next() {
		var st EnvStatus
		var since, updated string
		if err := rows.Scan(&st.Name, &st.Project, &st.LastAttempted, &st.LastApplied, &st.Sync, &st.Health, &st.DesiredModel, &st.DesiredDigest, &st.ObservedModel, &st.ObservedDigest, &st.LastError, &st.Fingerprint, &since, &updated); err != nil {
			return nil, fmt.Errorf("read status: %w", err)
		}
		st.Since, _ = time.Parse(time.RFC3339Nano, since)
		st.UpdatedAt, _ = time.Parse(time.RFC3339Nano, updated)
		out = append(out, st)
	}
	return out, rows.Err()
}

// Status returns one environment's record (zero when there is none).
func (s *Store) Status(ctx context.Context, name string) (EnvStatus, error) {
	all, err := s.Statuses(ctx)
	if err != nil {
		return EnvStatus{}, err
	}
	for _, st := range all {
		if st.Name == name {
			return st, nil
		}
	}
	return EnvStatus{Name: name}, nil
}

// Commit writes statuses and audit entries in one transaction, so a status never
// changes without its audit row.
func (s *Store) Commit(ctx context.Context, statuses []EnvStatus, entries []Entry) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer tx.Rollback()
	for _, st := range statuses {
		if err := putStatus(ctx, tx, s.masker, st); err != nil {
			return err
		}
	}
	if err := s.record(ctx, tx, entries...); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// Forget removes environments no longer declared from the status table (their history
// stays in the audit log).
func (s *Store) Forget(ctx context.Context, project string, keep map[string]bool) error {
	all, err := s.Statuses(ctx)
	if err != nil {
		return err
	}
	for _, st := range all {
		if st.Project == project && !keep[st.Name] {
			if _, err := s.db.ExecContext(ctx, "DELETE FROM environments WHERE name = ?", st.Name); err != nil {
				return fmt.Errorf("forget %s: %w", st.Name, err)
			}
		}
	}
	return nil
}

func putStatus(ctx context.Context, tx *sql.Tx, m *Masker, st EnvStatus) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO environments (name, project, last_attempted_revision, last_applied_revision, sync, health, desired_model, desired_digest, observed_model, observed_digest, last_error, fingerprint, since, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(name) DO UPDATE SET project=excluded.project, last_attempted_revision=excluded.last_attempted_revision, last_applied_revision=excluded.last_applied_revision,
		sync=excluded.sync, health=excluded.health, desired_model=excluded.desired_model, desired_digest=excluded.desired_digest, observed_model=excluded.observed_model,
		observed_digest=excluded.observed_digest, last_error=excluded.last_error, fingerprint=excluded.fingerprint, since=excluded.since, updated_at=excluded.updated_at`,
		st.Name, st.Project, st.LastAttempted, st.LastApplied, string(st.Sync), string(st.Health), st.DesiredModel, st.DesiredDigest, st.ObservedModel, st.ObservedDigest,
		m.Apply(st.LastError), st.Fingerprint, st.Since.UTC().Format(time.RFC3339Nano), st.UpdatedAt.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("write status of %s: %w", st.Name, err)
	}
	return nil
}
