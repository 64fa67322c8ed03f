package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// record is the record stage: one status per environment from what the run decided
// and observed, and the audit rows of its actions, decisions and failing conditions,
// in one transaction; then the journal's intent is closed.
func (p *Pipeline) record(ctx context.Context, tgt *target, run reconcile.Run, convergeErr error, ph modelPhase, rep Report) error {
	ref := rep.Refusal
	p.recordMu.Lock()
	defer p.recordMu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := p.cfg.Now()
	r := tgt.r.Rendered
	obs := p.observe(ctx, r, run.Observed, ph, now)
	entries := actionEntries(tgt, run, ph)
	var statuses []state.EnvStatus
	failed := convergeErr != nil || run.Result.Err() != nil
	known, err := p.statusByName(ctx) // one query, not one per environment
	if err != nil {
		return err
	}
	for _, env := range r.Environments {
		prev, ok := known[env.Name]
		if !ok {
			prev = state.EnvStatus{Name: env.Name}
		}
		prev.Project = r.Project.Name
		ob := obs[env.Name]
		o := state.Outcome{Revision: tgt.in.Revision, Observed: &ob, SourceErr: errText(rep.SourceErr)}
		p.decision(&o, tgt, env, prev, convergeErr, ph, ref)
		failed = failed || o.Decision == state.DecisionFailed
		next := state.Next(prev, o, now)
		entries = append(entries, conditionEntries(prev, next, o.Revision)...)
		entries = append(entries, loadEntries(prev, next, o.Revision)...)
		statuses = append(statuses, next)
	}
	statuses = append(statuses, p.removalRefusals(ctx, tgt, now)...)
	entries = stamp(entries, tgt, now)
	entries = append(entries, p.refusalEntry(ref, now)...)
	if err := p.cfg.State.Commit(ctx, statuses, entries); err != nil {
		return fmt.Errorf("record the run: %w", err)
	}
	p.retry = failed || len(tgt.frozen) > 0
	return p.closeRun(ctx, tgt, run, convergeErr, failed)
}

// statusByName reads every environment's status at once.
func (p *Pipeline) statusByName(ctx context.Context) (map[string]state.EnvStatus, error) {
	all, err := p.cfg.State.Statuses(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]state.EnvStatus, len(all))
	for _, st := range all {
		out[st.Name] = st
	}
	return out, nil
}

// loadEntries audits a model the Rasa server was first seen serving, whichever
// records it first: the run (a load that ended before the run was recorded) or the
// model load itself (one that ended after).
func loadEntries(prev, next state.EnvStatus, revision string) []state.Entry {
	if next.Sync != state.Synced || next.ObservedModel == "" || next.ObservedModel == prev.ObservedModel {
		return nil
	}
	return []state.Entry{{Revision: revision, Environment: next.Name, Action: "load model", Before: orNone(prev.ObservedModel), After: next.ObservedModel, Outcome: "model-synced"}}
}

// closeRun forgets environments no longer declared, closes the journal's intent and
// remembers the project's applied fingerprint.
func (p *Pipeline) closeRun(ctx context.Context, tgt *target, run reconcile.Run, convergeErr error, failed bool) error {
	r := tgt.r.Rendered
	keep := map[string]bool{}
	for _, env := range r.Environments {
		keep[env.Name] = true
	}
	for env := range tgt.frozen {
		keep[env] = true
	}
	if err := p.cfg.State.Forget(ctx, r.Project.Name, keep); err != nil {
		return err
	}
	if p.intent != 0 {
		outcome := "done"
		if convergeErr != nil || run.Result.Err() != nil {
			outcome = "failed"
		}
		if err := p.cfg.State.Finish(ctx, p.intent, outcome); err != nil {
			return err
		}
	}
	if tgt.fresh && !failed && !tgt.projectFrozen {
		return p.cfg.State.SetMeta(ctx, projectMetaKey(r.Project.Name), tgt.projectFP)
	}
	return nil
}

// decision is what the run decided for one environment: nothing (a run that only
// healed), the refusal of a newer revision, a policy verdict, a failure, or applied.
func (p *Pipeline) decision(o *state.Outcome, tgt *target, env compose.RenderedEnvironment, prev state.EnvStatus, convergeErr error, ph modelPhase, ref *refusal) {
	ms := modelStatusOf(ph, env.Name)
	switch {
	case ref != nil && ref.affects(env.Name):
		o.Decision, o.Revision, o.Reason = state.DecisionRefused, ref.in.Revision, "revision "+ref.in.Short+" refused: "+ref.err.Error()
	case !tgt.fresh:
		o.Decision = state.DecisionNone
	case tgt.refused[env.Name] != "":
		o.Decision, o.Reason = state.DecisionRefused, tgt.refused[env.Name]
	case !tgt.held[env.Name].IsZero() || tgt.frozen[env.Name]:
		o.Decision, o.Reason = state.DecisionHeld, HeldMessage(tgt.held[env.Name])
	case convergeErr != nil:
		o.Decision, o.Reason = state.DecisionFailed, convergeErr.Error()
	case ph.failed[env.Name] != nil:
		o.Decision, o.Reason = state.DecisionFailed, ph.failed[env.Name].Error()
	case ms != nil && ms.FetchFailed:
		o.Decision, o.Reason = state.DecisionFailed, ms.Err.Error()
	case !ph.ran && (prev.DesiredDigest != env.SHA256 || prev.LastApplied == ""):
		// The new model is not applied yet, so the revision is not either: the next
		// run checks its policy again before it retags.
		o.Decision, o.Reason = state.DecisionFailed, "model "+orNone(env.Model)+" not applied: the run stopped before the model phase"
	default:
		o.Decision = state.DecisionApplied
		o.DesiredModel, o.DesiredDigest, o.Fingerprint = env.Model, env.SHA256, tgt.fingerprints[env.Name]
	}
}

func modelStatusOf(ph modelPhase, env string) *reconcile.ModelStatus {
	for i := range ph.statuses {
		if ph.statuses[i].Environment == env {
			return &ph.statuses[i]
		}
	}
	return nil
}

// observe looks at the Engine and the Rasa servers after the run: the containers,
// and what each server serves (from the model stage, or asked now).
func (p *Pipeline) observe(ctx context.Context, r *compose.Rendered, seen *reconcile.Observed, ph modelPhase, now time.Time) map[string]state.Observation {
	out := map[string]state.Observation{}
	observed, err := reconcile.Observed{}, error(nil)
	if seen != nil {
		observed = *seen // nothing ran since: no need to list again
	} else {
		observed, err = reconcile.Observe(ctx, p.cfg.Engine, r.Project.Name)
	}
	for _, env := range r.Environments {
		ob := state.Observation{At: now}
		if err != nil {
			ob.EngineErr = err.Error()
		} else {
			ob.Container, ob.Detail = containerState(observed, r.Project.Name, env.Service)
		}
		out[env.Name] = ob
	}
	var unasked []compose.RenderedEnvironment
	for _, env := range r.Environments {
		ob := out[env.Name]
		if ms := modelStatusOf(ph, env.Name); ms != nil {
			p.modelObservation(&ob, *ms)
		} else if ob.Container == "running" {
			unasked = append(unasked, env)
		}
		out[env.Name] = ob
	}
	if len(unasked) > 0 {
		served, _ := p.loader.ServedModels(ctx, r.Project.Name, unasked)
		for env, file := range served {
			ob := out[env]
			ob.Asked, ob.Served = true, file
			out[env] = ob
		}
	}
	return out
}

// modelObservation fills what the model stage saw; a load that ended since is read
// from the loader.
func (p *Pipeline) modelObservation(ob *state.Observation, ms reconcile.ModelStatus) {
	ob.Asked, ob.Served, ob.Loading = ms.Asked, ms.Served, ms.Loading
	if ms.Loading && !p.loader.Loading(ms.Environment) {
		if res, ok := p.loader.Result(ms.Environment); ok {
			ob.Loading = false
			ob.Asked, ob.Served = ob.Asked || res.Asked, res.Served
			if !res.Synced && res.Err != nil {
				ob.ModelErr = res.Err.Error()
			}
		}
	}
	if !ms.Synced && !ms.Loading && !ms.FetchFailed && ms.Err != nil {
		ob.ModelErr = ms.Err.Error()
	}
}

// containerState is the observed state of a service's container ("" when none).
func containerState(observed reconcile.Observed, project, service string) (string, string) {
	for _, c := range observed.Containers[service] {
		if c.Name != reconcile.ContainerName(project, service) {
			continue
		}
		switch {
		case c.State == "exited":
			return c.State, fmt.Sprintf("(exit code %d)", c.ExitCode)
		case c.State == "running" && c.Unhealthy:
			return c.State, "is unhealthy"
		default:
			return c.State, ""
		}
	}
	return "", ""
}

// removalRefusals keep the statuses of environments whose removal was refused.
func (p *Pipeline) removalRefusals(ctx context.Context, tgt *target, now time.Time) []state.EnvStatus {
	if !tgt.fresh {
		return nil
	}
	var out []state.EnvStatus
	for env, why := range tgt.refused {
		if _, declared := tgt.fingerprints[env]; declared {
			continue
		}
		prev, err := p.cfg.State.Status(ctx, env)
		if err != nil || prev.Project == "" {
			continue
		}
		out = append(out, state.Next(prev, state.Outcome{Revision: tgt.in.Revision, Decision: state.DecisionRefused, Reason: why, KeepSource: true}, now))
	}
	return out
}

// actionEntries are the audit rows of a run's plan, actions, retags and decisions.
func actionEntries(tgt *target, run reconcile.Run, ph modelPhase) []state.Entry {
	var entries []state.Entry
	envOf := map[string]string{}
	for _, env := range tgt.r.Rendered.Environments {
		envOf[env.Service] = env.Name
	}
	if !run.Plan.Empty() {
		entries = append(entries, state.Entry{Action: "plan", After: fmt.Sprintf("%d actions", len(run.Plan.Actions)), Outcome: "decided"})
	}
	for _, a := range run.Result.Actions {
		e := state.Entry{Environment: envOf[a.Action.Service], Action: string(a.Action.Kind) + " " + a.Action.Target, Before: a.Action.Before, After: a.Action.After, Outcome: string(a.Outcome)}
		if a.Err != nil {
			e.Error = a.Err.Error()
		}
		entries = append(entries, e)
	}
	for _, m := range ph.statuses {
		if m.Retagged && m.Previous != m.Model && !m.FetchFailed {
			entries = append(entries, state.Entry{Environment: m.Environment, Action: "retag model", Before: orNone(m.Previous), After: orNone(m.Model), Outcome: "retagged"})
		}
	}
	return append(entries, tgt.decisions...)
}

// stamp gives every row the run's time, revision, author and signer.
func stamp(entries []state.Entry, tgt *target, now time.Time) []state.Entry {
	author := tgt.in.Author
	if author == "" {
		author = LocalAuthor()
	}
	for i := range entries {
		entries[i].Time, entries[i].Author, entries[i].Signer = now, author, tgt.signer
		if entries[i].Revision == "" {
			entries[i].Revision = tgt.in.Revision
		}
	}
	return entries
}

// conditionEntries audit a failing condition once when it starts and once when it
// ends, not on every run while it lasts.
func conditionEntries(prev, next state.EnvStatus, revision string) []state.Entry {
	was, is := prev.Failing(), next.Failing()
	if was == is {
		return nil
	}
	var out []state.Entry
	if was != "" {
		out = append(out, state.Entry{Revision: revision, Environment: next.Name, Action: "condition", Before: firstLine(was), Outcome: "ended"})
	}
	if is != "" {
		out = append(out, state.Entry{Revision: revision, Environment: next.Name, Action: "condition", After: firstLine(is), Outcome: "started", Error: is})
	}
	return out
}

// recordRefusal records a refused revision when no good rendering exists to enforce:
// on every recorded environment it affects (of project, or of any when unknown), and
// once in the audit log.
func (p *Pipeline) recordRefusal(ctx context.Context, ref *refusal, project string) error {
	p.recordMu.Lock()
	defer p.recordMu.Unlock()
	now := p.cfg.Now()
	all, err := p.cfg.State.Statuses(ctx)
	if err != nil {
		return fmt.Errorf("record refusal: %w", err)
	}
	var statuses []state.EnvStatus
	var entries []state.Entry
	for _, prev := range all {
		if (project != "" && prev.Project != project) || !ref.affects(prev.Name) {
			continue
		}
		next := state.Next(prev, state.Outcome{Revision: ref.in.Revision, Decision: state.DecisionRefused, Reason: "revision " + ref.in.Short + " refused: " + ref.err.Error(), KeepSource: true}, now)
		entries = append(entries, conditionEntries(prev, next, ref.in.Revision)...)
		statuses = append(statuses, next)
	}
	for i := range entries {
		entries[i].Time, entries[i].Author = now, orLocal(ref.in.Author)
	}
	entries = append(entries, p.refusalEntry(ref, now)...)
	if err := p.cfg.State.Commit(ctx, statuses, entries); err != nil {
		return fmt.Errorf("record refusal: %w", err)
	}
	return nil
}

// refusalEntry audits a refused revision once, not on every run that renders it.
func (p *Pipeline) refusalEntry(ref *refusal, now time.Time) []state.Entry {
	if ref == nil || p.decided[""] == ref.in.ID+"|validate" {
		return nil
	}
	p.decided[""] = ref.in.ID + "|validate"
	return []state.Entry{{Time: now, Revision: ref.in.Revision, Author: orLocal(ref.in.Author), Action: "validate", Outcome: "refused", Error: ref.err.Error()}}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func orLocal(author string) string {
	if author == "" {
		return LocalAuthor()
	}
	return author
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
