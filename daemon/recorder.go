package daemon

import (
	"context"
	"fmt"
	"os/user"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// LocalAuthor names who ran a directory apply, for the audit log (Git commits carry
// their own author in the daemon).
func LocalAuthor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "local:" + u.Username
	}
	return "local"
}

// OpenState opens the state database for writing and closes any apply a killed
// process left unfinished, reporting it.
func OpenState(ctx context.Context, dir string, report func(string)) (*state.Store, error) {
	st, err := state.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	open, err := st.Unfinished(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	for _, in := range open {
		report(fmt.Sprintf("the apply of %s started %s was interrupted; converging from the observed state", in.Revision, in.StartedAt.Format(time.RFC3339)))
		if err := st.Interrupted(ctx, in); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// Recorder journals one run and records its outcome: intent before the first Engine
// call, then audit rows and status transitions in one transaction.
type Recorder struct {
	st       *state.Store
	r        *compose.Rendered
	revision string
	author   string
	signer   string
	intent   int64
	// Refused and Held are environments whose change was not applied, with why.
	Refused map[string]string
	Held    map[string]time.Time
	// Fingerprints are the environments' renderings in this revision.
	Fingerprints map[string]string
	// Decisions are extra audit rows (refusals, holds, forced windows).
	Decisions []state.Entry
}

// NewRecorder prepares the record of one run; every secret of the declaration and
// the daemon's tokens are masked in what it writes.
func NewRecorder(st *state.Store, d *compose.Declaration, r *compose.Rendered, opts compose.RenderOptions, revision, author, signer string) *Recorder {
	st.Masker().Add(opts.ModelToken, opts.DefaultToken)
	st.Masker().Add(d.SecretValues()...)
	if author == "" {
		author = LocalAuthor()
	}
	fps := map[string]string{}
	for _, env := range r.Environments {
		fps[env.Name] = Fingerprint(r, env)
	}
	return &Recorder{st: st, r: r, revision: revision, author: author, signer: signer, Fingerprints: fps}
}

// Begin writes the intent of a non-empty plan; an error means the apply must not start.
func (rec *Recorder) Begin(ctx context.Context, plan reconcile.Plan) error {
	if plan.Empty() {
		return nil
	}
	id, err := rec.st.Begin(ctx, rec.r.Project.Name, rec.revision, plan.String())
	rec.intent = id
	return err
}

// Finish records what the run did for every environment.
func (rec *Recorder) Finish(ctx context.Context, engine reconcile.Engine, run reconcile.Run, models []reconcile.ModelStatus, runErr error) error {
	now := time.Now()
	var entries []state.Entry
	entry := func(env, action, before, after, outcome string, err error) {
		e := state.Entry{Time: now, Revision: rec.revision, Author: rec.author, Signer: rec.signer, Environment: env, Action: action, Before: before, After: after, Outcome: outcome}
		if err != nil {
			e.Error = err.Error()
		}
		entries = append(entries, e)
	}
	envOf := map[string]string{}
	for _, env := range rec.r.Environments {
		envOf[env.Service] = env.Name
	}
	if !run.Plan.Empty() {
		entry("", "plan", "", fmt.Sprintf("%d actions", len(run.Plan.Actions)), "decided", nil)
	}
	failed := map[string]error{}
	for _, a := range run.Result.Actions {
		entry(envOf[a.Action.Service], string(a.Action.Kind)+" "+a.Action.Target, a.Action.Before, a.Action.After, string(a.Outcome), a.Err)
		if a.Outcome != reconcile.OutcomeDone && a.Action.Service != "" {
			failed[a.Action.Service] = a.Err
		}
	}
	modelOf := map[string]reconcile.ModelStatus{}
	for _, m := range models {
		modelOf[m.Environment] = m
		if m.Retagged && (m.Previous != m.Model || m.Err != nil || !m.Synced) {
			outcome := "model-synced"
			if !m.Synced {
				outcome = "not model-synced"
			}
			entry(m.Environment, "retag model", orNone(m.Previous), orNone(m.Model), outcome, m.Err)
		}
	}
	if runErr != nil {
		entry("", "apply", "", "", "failed", runErr)
	}
	for _, d := range rec.Decisions {
		d.Time, d.Revision, d.Author, d.Signer = now, rec.revision, rec.author, rec.signer
		entries = append(entries, d)
	}
	observed, observeErr := reconcile.Observe(ctx, engine, rec.r.Project.Name)
	var statuses []state.EnvStatus
	for _, env := range rec.r.Environments {
		prev, err := rec.st.Status(ctx, env.Name)
		if err != nil {
			return err
		}
		prev.Project = rec.r.Project.Name
		o := state.Outcome{Revision: rec.revision, DesiredModel: env.Model, DesiredDigest: env.SHA256, Fingerprint: rec.Fingerprints[env.Name]}
		if why, ok := rec.Refused[env.Name]; ok {
			o.Refused, o.Err = true, why
		} else if until, ok := rec.Held[env.Name]; ok {
			o.Held, o.Err = true, heldMessage(until)
		}
		for _, c := range observed.Containers[env.Service] {
			if c.Name == reconcile.ContainerName(rec.r.Project.Name, env.Service) && c.State == "running" {
				o.Running = true
			}
		}
		if observeErr != nil {
			// The Engine did not answer: say so rather than call everything Missing.
			o.Running = prev.Health != state.Missing && prev.Health != ""
			if o.Err == "" {
				o.Err = "cannot observe the Engine: " + observeErr.Error()
			}
		}
		if err, ok := failed[env.Service]; ok && !o.Refused && !o.Held {
			o.Failed = true
			if err != nil {
				o.Err = err.Error()
			}
		}
		if runErr != nil && !o.Failed && !o.Refused && !o.Held {
			o.Failed, o.Err = true, runErr.Error()
		}
		if m, ok := modelOf[env.Name]; ok {
			o.ModelSynced, o.ObservedModel = m.Synced, m.Served
			if m.Err != nil && o.Err == "" && !o.Refused && !o.Held {
				o.Err = m.Err.Error()
			}
		} else if models == nil && !o.Failed && !o.Refused && !o.Held && (prev.DesiredDigest != env.SHA256 || prev.LastApplied == "") {
			// The model phase did not run (another service's change failed): the new
			// model is not applied yet, so the revision is not either — the next run
			// checks its policy again before it retags.
			o.Failed, o.Err = true, "model "+orNone(env.Model)+" not applied: the run stopped before the model phase"
			o.ObservedModel = prev.ObservedModel
		}
		statuses = append(statuses, state.Next(prev, o, now))
	}
	if err := rec.st.Commit(ctx, statuses, entries); err != nil {
		return err
	}
	if rec.intent != 0 {
		outcome := "done"
		if runErr != nil || run.Result.Err() != nil {
			outcome = "failed"
		}
		return rec.st.Finish(ctx, rec.intent, outcome)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// heldMessage says until when a change window holds a change.
func heldMessage(until time.Time) string {
	if until.IsZero() {
		return "held by a change window (no allowed time within a year: see the policy)"
	}
	return "held by a change window until " + until.UTC().Format(time.RFC3339)
}
