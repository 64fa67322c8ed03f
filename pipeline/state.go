package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

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

// Down removes a project's managed containers and networks (volumes only when asked)
// and, when st is not nil, records every environment of the project as observed after
// it: Missing, with an audit row per action. It works on a declaration that no longer
// validates, since it needs only the project's name.
func Down(ctx context.Context, engine reconcile.Engine, st *state.Store, project string, volumes bool, progress func(reconcile.ActionResult)) (reconcile.Plan, error) {
	observed, err := reconcile.Observe(ctx, engine, project)
	if err != nil {
		return reconcile.Plan{}, err
	}
	plan := reconcile.DownPlan(project, observed, volumes)
	if plan.Empty() && st == nil {
		return plan, nil
	}
	if st != nil {
		if err := st.Checked(ctx); err != nil {
			return plan, err // nothing removed: it could not be recorded
		}
	}
	res := reconcile.Apply(ctx, engine, reconcile.Desired{}, plan, reconcile.ApplyOptions{Progress: progress})
	if st == nil {
		return plan, res.Err()
	}
	return plan, errors.Join(res.Err(), recordDown(context.WithoutCancel(ctx), engine, st, project, res))
}

// recordDown writes the statuses of a project's environments as observed after down.
func recordDown(ctx context.Context, engine reconcile.Engine, st *state.Store, project string, res reconcile.Result) error {
	all, err := st.Statuses(ctx)
	if err != nil {
		return err
	}
	observed, obsErr := reconcile.Observe(ctx, engine, project)
	now := time.Now()
	var statuses []state.EnvStatus
	var entries []state.Entry
	for _, a := range res.Actions {
		e := state.Entry{Time: now, Author: LocalAuthor(), Action: "down " + a.Action.Target, Before: a.Action.Before, After: a.Action.After, Outcome: string(a.Outcome)}
		if a.Err != nil {
			e.Error = a.Err.Error()
		}
		entries = append(entries, e)
	}
	for _, prev := range all {
		if prev.Project != project {
			continue
		}
		ob := state.Observation{At: now}
		if obsErr != nil {
			ob.EngineErr = obsErr.Error()
		} else {
			ob.Container, ob.Detail = containerState(observed, project, compose.ServiceName(prev.Name))
		}
		next := state.Next(prev, state.Outcome{Observed: &ob, KeepSource: true}, now)
		for _, e := range conditionEntries(prev, next, prev.LastApplied) {
			e.Time, e.Author = now, LocalAuthor()
			entries = append(entries, e)
		}
		statuses = append(statuses, next)
	}
	return st.Commit(ctx, statuses, entries)
}
