package pipeline

import (
	"context"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
)

// containers is the converge-containers stage: observe, plan and apply, on a fresh
// preparation when the run rendered, else on the last one (healing drift). Old
// containers of side-by-side replaces are withdrawn in the background (retire).
func (p *Pipeline) containers(ctx context.Context, req Request, tgt *target, retire *reconcile.Retirements, observed func(reconcile.Observed)) (reconcile.Run, error) {
	opts := p.cfg.Run
	opts.Retire, opts.Observed = retire, observed
	opts.Frozen = frozenServices(tgt)
	if tgt.projectFrozen {
		opts.Prune = false
	}
	opts.Stop, opts.DryRun = req.Stop, req.DryRun
	p.intent = 0
	opts.BeforeApply = func(plan reconcile.Plan) error {
		p.own.expect(plan, time.Now())
		id, err := p.cfg.State.Begin(ctx, tgt.r.Rendered.Project.Name, tgt.in.Revision, plan.String())
		p.intent = id
		return err
	}
	if tgt.desired != nil && !tgt.fresh {
		return reconcile.ConvergeDesired(ctx, p.cfg.Engine, *tgt.desired, opts)
	}
	run, err := reconcile.Converge(ctx, p.cfg.Engine, tgt.r.Rendered, tgt.in.Revision, opts)
	if err == nil && !req.DryRun {
		d := run.Desired
		tgt.desired = &d
		if p.current != nil && p.current.in.ID == tgt.in.ID {
			p.current.desired = &d
		}
	}
	return run, err
}

// frozenServices are the services whose containers keep what they run: frozen
// environments' and, when the project's own services are frozen, theirs.
func frozenServices(tgt *target) map[string]bool {
	out := map[string]bool{}
	for env := range tgt.frozen {
		out[compose.ServiceName(env)] = true
	}
	if tgt.projectFrozen {
		for _, name := range projectServices(tgt.r.Rendered) {
			out[name] = true
		}
	}
	return out
}

// modelPhase is the converge-models stage's output.
type modelPhase struct {
	statuses []reconcile.ModelStatus
	// ran says the stage ran; failed lists environments whose container change failed
	// (their tag was kept).
	ran    bool
	failed map[string]error
	err    error
}

// models is the converge-models stage: fetch, retag, then one load per environment
// that needs one, in the background unless the request waits (apply).
func (p *Pipeline) models(ctx context.Context, req Request, tgt *target, run reconcile.Run, convergeErr error, asked *reconcile.Asking) modelPhase {
	ph := modelPhase{failed: failedEnvironments(tgt.r.Rendered, run.Result)}
	if convergeErr != nil || (req.Stop != nil && req.Stop.Err() != nil) {
		return ph
	}
	keep := map[string]bool{}
	for env := range tgt.frozen {
		keep[env] = true
	}
	for env := range ph.failed {
		keep[env] = true
	}
	// SyncModels writes kept environments' previous models into its input: give it a
	// copy, so the rendering stays what the revision declares.
	r := *tgt.r.Rendered
	r.Environments = slices.Clone(r.Environments)
	opts := reconcile.ModelOptions{Keep: keep, Touched: reconcile.Touched(&r, run.Result), Progress: p.cfg.ModelProgress, Waiting: p.cfg.ModelWaiting, WaitEvery: p.cfg.ModelWaitEvery, Asked: asked}
	ph.statuses, ph.err = reconcile.SyncModels(ctx, p.loader, p.cfg.Store, p.cfg.Tags, &r, opts, req.WaitModels)
	ph.ran = ph.err == nil
	if ph.ran {
		if _, err := p.cfg.Store.GC(reconcile.InUse(&r), p.cfg.Retention); err != nil {
			p.log.Warn("model store gc", zap.Error(err))
		}
	}
	return ph
}

// failedEnvironments are the environments whose container action failed, with why.
func failedEnvironments(r *compose.Rendered, res reconcile.Result) map[string]error {
	envOf := map[string]string{}
	for _, env := range r.Environments {
		envOf[env.Service] = env.Name
	}
	out := map[string]error{}
	for _, a := range res.Actions {
		if env, ok := envOf[a.Action.Service]; ok && a.Outcome != reconcile.OutcomeDone {
			out[env] = a.Err
		}
	}
	return out
}
