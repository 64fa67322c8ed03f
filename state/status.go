package state

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Sync says whether an environment runs what the followed revision declares for it.
type Sync string

// Sync statuses. The reason in words is EnvStatus.SyncReason.
const (
	Synced    Sync = "Synced"    // the last attempted revision is applied and its model is served
	OutOfSync Sync = "OutOfSync" // applied, but the host does not match yet (model loading, container missing)
	Pending   Sync = "Pending"   // a change is held by a change window until it opens
	Refused   Sync = "Refused"   // a change was refused (invalid declaration, signer policy)
	Failed    Sync = "Failed"    // applying the change failed; the previous state keeps serving
)

// Health says what was observed of an environment's container and Rasa server,
// compared with what was last applied to it. The reason in words is HealthReason.
type Health string

// Health statuses.
const (
	Healthy     Health = "Healthy"     // running and serving the applied model
	Progressing Health = "Progressing" // running, its model is loading
	Degraded    Health = "Degraded"    // stopped, paused, unhealthy, or serving another model than applied
	Missing     Health = "Missing"     // no container
)

// EnvStatus is the one status model of an environment: every path (apply, serve, the
// daemon, down, model loads finishing) writes it and every reader (status, status
// --server, /api/status, metrics) reads it; /readyz answers from the same run's
// outcome (pipeline.Ready).
type EnvStatus struct {
	Name          string `json:"name"`
	Project       string `json:"project"`
	LastAttempted string `json:"last_attempted_revision"`
	LastApplied   string `json:"last_applied_revision"`
	Sync          Sync   `json:"sync"`
	SyncReason    string `json:"sync_reason,omitempty"`
	Health        Health `json:"health"`
	HealthReason  string `json:"health_reason,omitempty"`
	// DesiredModel is the model of the last applied revision; ObservedModel the model
	// file the Rasa server reported when last asked.
	DesiredModel   string `json:"desired_model"`
	DesiredDigest  string `json:"desired_digest"`
	ObservedModel  string `json:"observed_model"`
	ObservedDigest string `json:"observed_digest"`
	// SourceError says the declaration's source (Git) could not be read on the last
	// run: what runs is the last revision read, and newer ones may exist.
	SourceError string `json:"source_error,omitempty"`
	// Fingerprint identifies the last applied rendering of the environment (its
	// service and model); a revision that changes it changes the environment.
	Fingerprint string `json:"fingerprint"`
	// Since is when the environment last changed state (sync, health) or model.
	Since time.Time `json:"since"`
	// ObservedAt is when the Engine and the Rasa server were last looked at.
	ObservedAt time.Time `json:"observed_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Decision is what a run decided about the change a revision makes to one
// environment. DecisionNone is an update from observation alone (a model load that
// finished, a heal, down): the recorded sync decision stands.
type Decision string

// Decisions.
const (
	DecisionNone    Decision = ""
	DecisionApplied Decision = "applied"
	DecisionRefused Decision = "refused"
	DecisionHeld    Decision = "held"
	DecisionFailed  Decision = "failed"
)

// Observation is what was seen of one environment at one time.
type Observation struct {
	At time.Time
	// Container is the state of its container: "" when there is none, else the
	// Engine's state word (running, exited, paused, ...), with Detail saying more.
	Container string
	Detail    string
	// EngineErr says the Engine could not be asked: nothing is known of the container.
	EngineErr string
	// Asked says the Rasa server answered GET /status; Served is the model file it
	// reports ("" for none) and ServedDigest its digest when known.
	Asked        bool
	Served       string
	ServedDigest string
	// Loading says a model load is in progress; ModelErr is why the last one failed.
	Loading  bool
	ModelErr string
}

// Outcome is the input of Next: what one run decided for an environment and what it
// observed.
type Outcome struct {
	Revision string
	Decision Decision
	// Reason says why a change was refused, held or failed, in words.
	Reason string
	// Of an applied change: the model, its digest and the rendering's fingerprint.
	DesiredModel, DesiredDigest, Fingerprint string
	// Observed is nil when this update observed nothing (the last observation stands).
	Observed *Observation
	// SourceErr is why the source could not be read by this run ("" when it could);
	// nil-like for updates that did not read the source (KeepSource).
	SourceErr  string
	KeepSource bool
}

// Next is the status transition of one environment. It is pure.
func Next(prev EnvStatus, o Outcome, now time.Time) EnvStatus {
	next := prev
	next.UpdatedAt = now
	if !o.KeepSource {
		next.SourceError = o.SourceErr
	}
	decide(&next, o)
	if o.Observed != nil {
		observe(&next, *o.Observed)
	}
	if next.Sync == "" || next.Sync == Synced || next.Sync == OutOfSync || (o.Decision == DecisionNone && next.Sync == Failed && modelFailure(prev)) {
		next.Sync, next.SyncReason = syncFromObservation(next, o.Observed)
	}
	if next.Health == "" {
		next.Health, next.HealthReason = Missing, "not observed yet"
	}
	if next.Sync != prev.Sync || next.Health != prev.Health || next.DesiredModel != prev.DesiredModel ||
		next.ObservedModel != prev.ObservedModel || next.LastApplied != prev.LastApplied || prev.Since.IsZero() {
		next.Since = now
	}
	return next
}

// decide applies a run's decision to the revisions and the sync status.
func decide(next *EnvStatus, o Outcome) {
	if o.Decision == DecisionNone {
		return
	}
	next.LastAttempted = o.Revision
	switch o.Decision {
	case DecisionApplied:
		next.LastApplied = o.Revision
		next.DesiredModel, next.DesiredDigest, next.Fingerprint = o.DesiredModel, o.DesiredDigest, o.Fingerprint
		next.Sync, next.SyncReason = "", "" // from observation
	case DecisionRefused:
		next.Sync, next.SyncReason = Refused, o.Reason
	case DecisionHeld:
		next.Sync, next.SyncReason = Pending, o.Reason
	case DecisionFailed:
		next.Sync, next.SyncReason = Failed, o.Reason
	}
}

// modelFailurePrefix starts the sync reason of a model that failed to load, so that a
// later observation of the model served clears it.
const modelFailurePrefix = "model "

func modelFailure(prev EnvStatus) bool {
	return strings.HasPrefix(prev.SyncReason, modelFailurePrefix) && strings.Contains(prev.SyncReason, "failed to load")
}

// observe records an observation and derives health from it.
func observe(next *EnvStatus, ob Observation) {
	next.ObservedAt = ob.At
	if ob.EngineErr != "" {
		next.HealthReason = "cannot observe the Engine: " + ob.EngineErr
		return // health as last seen
	}
	if ob.Asked {
		next.ObservedModel = ob.Served
		next.ObservedDigest = ob.ServedDigest
		if ob.Served == modelFile(next.DesiredModel) && ob.ServedDigest == "" {
			next.ObservedDigest = next.DesiredDigest
		}
	} else if ob.Container == "" {
		next.ObservedModel, next.ObservedDigest = "", ""
	}
	next.Health, next.HealthReason = health(*next, ob)
}

// health compares what was observed with what was last applied.
func health(st EnvStatus, ob Observation) (Health, string) {
	switch {
	case ob.Container == "":
		return Missing, "no container"
	case ob.Container != "running":
		return Degraded, strings.TrimSpace("container " + ob.Container + " " + ob.Detail)
	case ob.Detail != "":
		return Degraded, "container " + ob.Detail
	case ob.Loading:
		return Progressing, "loading " + orNone(st.DesiredModel)
	case !ob.Asked:
		return Progressing, "the Rasa server does not answer GET /status yet"
	case ob.Served == modelFile(st.DesiredModel):
		return Healthy, ""
	case ob.ModelErr != "":
		return Degraded, fmt.Sprintf("serves %s, not %s: %s", orNone(ob.Served), orNone(st.DesiredModel), ob.ModelErr)
	default:
		return Degraded, fmt.Sprintf("serves %s, not %s", orNone(ob.Served), orNone(st.DesiredModel))
	}
}

// syncFromObservation says whether an applied change is in effect on the host.
func syncFromObservation(st EnvStatus, ob *Observation) (Sync, string) {
	if st.LastApplied == "" {
		return OutOfSync, "not applied yet"
	}
	if ob == nil {
		if st.Sync == "" {
			return OutOfSync, "not observed yet"
		}
		return st.Sync, st.SyncReason
	}
	switch {
	case ob.EngineErr != "":
		return st.Sync, st.SyncReason
	case ob.Container == "":
		return OutOfSync, "no container"
	case ob.Container != "running":
		return OutOfSync, "container " + ob.Container
	case ob.Asked && ob.Served == modelFile(st.DesiredModel):
		return Synced, ""
	case ob.ModelErr != "" && !ob.Loading:
		return Failed, fmt.Sprintf("%s%s failed to load: %s; still serving %s", modelFailurePrefix, orNone(st.DesiredModel), ob.ModelErr, orNone(strings.TrimSuffix(ob.Served, ".tar.gz")))
	case ob.Loading:
		return OutOfSync, "loading " + orNone(st.DesiredModel)
	default:
		return OutOfSync, fmt.Sprintf("serves %s, not %s", orNone(ob.Served), orNone(st.DesiredModel))
	}
}

// Failing names the failing condition of a status ("" when there is none), so that a
// condition is audited once when it starts and once when it ends.
func (st EnvStatus) Failing() string {
	var parts []string
	if st.Sync == Refused || st.Sync == Failed {
		parts = append(parts, string(st.Sync)+": "+st.SyncReason)
	}
	if st.Health == Degraded || st.Health == Missing {
		parts = append(parts, string(st.Health)+": "+st.HealthReason)
	}
	if st.SourceError != "" {
		parts = append(parts, "Source: "+st.SourceError)
	}
	return strings.Join(parts, "; ")
}

// modelFile is the file name a Rasa server reports for a model ("" for none).
func modelFile(model string) string {
	if model == "" {
		return ""
	}
	return model + ".tar.gz"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

const statusColumns = `name, project, last_attempted_revision, last_applied_revision, sync, last_error, health, health_reason, desired_model, desired_digest, observed_model, observed_digest, fingerprint, since, observed_at, updated_at, source_error`

// Statuses returns every recorded environment, by name.
func (s *Store) Statuses(ctx context.Context) ([]EnvStatus, error) {
	return s.statuses(ctx, "")
}

func (s *Store) statuses(ctx context.Context, name string) ([]EnvStatus, error) {
	q := `SELECT ` + statusColumns + ` FROM environments`
	var args []any
	if name != "" {
		q += ` WHERE name = ?`
		args = append(args, name)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	defer rows.Close()
	var out []EnvStatus
	for rows.Next() {
		var st EnvStatus
		var since, observed, updated string
		if err := rows.Scan(&st.Name, &st.Project, &st.LastAttempted, &st.LastApplied, &st.Sync, &st.SyncReason, &st.Health, &st.HealthReason,
			&st.DesiredModel, &st.DesiredDigest, &st.ObservedModel, &st.ObservedDigest, &st.Fingerprint, &since, &observed, &updated, &st.SourceError); err != nil {
			return nil, fmt.Errorf("read status: %w", err)
		}
		st.Since, _ = time.Parse(time.RFC3339Nano, since)
		st.ObservedAt, _ = time.Parse(time.RFC3339Nano, observed)
		st.UpdatedAt, _ = time.Parse(time.RFC3339Nano, updated)
		out = append(out, st)
	}
	return out, rows.Err()
}

// Status returns one environment's record (zero when there is none).
func (s *Store) Status(ctx context.Context, name string) (EnvStatus, error) {
	all, err := s.statuses(ctx, name)
	if err != nil || len(all) == 0 {
		return EnvStatus{Name: name}, err
	}
	return all[0], nil
}

// Commit writes statuses and audit entries in one transaction, so a status never
// changes without its audit row.
func (s *Store) Commit(ctx context.Context, statuses []EnvStatus, entries []Entry) error {
	if err := s.Checked(ctx); err != nil {
		return err
	}
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
	if err := s.Checked(ctx); err != nil {
		return err
	}
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
	_, err := tx.ExecContext(ctx, `INSERT INTO environments (`+statusColumns+`)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(name) DO UPDATE SET project=excluded.project, last_attempted_revision=excluded.last_attempted_revision, last_applied_revision=excluded.last_applied_revision,
		sync=excluded.sync, last_error=excluded.last_error, health=excluded.health, health_reason=excluded.health_reason, desired_model=excluded.desired_model, desired_digest=excluded.desired_digest, observed_model=excluded.observed_model,
		observed_digest=excluded.observed_digest, fingerprint=excluded.fingerprint, since=excluded.since, observed_at=excluded.observed_at, updated_at=excluded.updated_at, source_error=excluded.source_error`,
		st.Name, st.Project, st.LastAttempted, st.LastApplied, string(st.Sync), m.Apply(st.SyncReason), string(st.Health), m.Apply(st.HealthReason), st.DesiredModel, st.DesiredDigest, st.ObservedModel, st.ObservedDigest,
		st.Fingerprint, st.Since.UTC().Format(time.RFC3339Nano), timeOrEmpty(st.ObservedAt), st.UpdatedAt.UTC().Format(time.RFC3339Nano), m.Apply(st.SourceError))
	if err != nil {
		return fmt.Errorf("write status of %s: %w", st.Name, err)
	}
	return nil
}

func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
