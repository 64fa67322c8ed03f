package pipeline

import (
	"context"
	"errors"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// target is what a run enforces: a rendering with the policy's verdicts.
type target struct {
	in Input
	r  Rendering
	// desired is the prepared state of the last full run (reused by runs that only heal).
	desired *reconcile.Desired
	// fresh says this run rendered it: its verdicts are decisions to record.
	fresh        bool
	signer       string
	fingerprints map[string]string
	verdicts
}

// verdicts are the policy stage's output.
type verdicts struct {
	// frozen environments keep what they run; refused and held say why.
	frozen  map[string]bool
	refused map[string]string
	held    map[string]time.Time
	// projectFrozen keeps the project's own services (compose.files) as they run.
	projectFrozen bool
	projectFP     string
	decisions     []state.Entry
}

// refusal is a revision that did not render, and the environments it affects (nil:
// every environment).
type refusal struct {
	in   Input
	err  error
	envs map[string]bool
}

// affects says whether the refusal is about env.
func (r *refusal) affects(env string) bool { return r.envs == nil || r.envs[env] }

// source is the source stage: the revision to run.
func (p *Pipeline) source(ctx context.Context, req Request, log *zap.Logger) (Input, bool, error) {
	start := p.cfg.Now()
	in, changed, err := p.cfg.Source.Next(ctx, req.Fetch)
	if req.Fetch && p.cfg.Metrics != nil {
		p.cfg.Metrics.ObserveFetch(time.Since(start), err)
	}
	if err != nil {
		log.Warn("cannot read the revision; the last applied revision keeps running", zap.Error(err))
	}
	return in, changed, err
}

// target is the render and policy stages: it renders the revision when it is new or a
// resync is due, else it reuses the last rendering. A revision that does not render is
// refused and the last good rendering is enforced instead.
func (p *Pipeline) target(ctx context.Context, req Request, in Input, changed bool, srcErr error, log *zap.Logger) (*target, Report) {
	rep := Report{Revision: in.Revision, InputID: in.ID, SourceErr: srcErr}
	if in.ID == "" {
		rep.Outcome = OutcomeFetchFailed
		return nil, rep
	}
	if !p.resyncDue(req, in, changed) {
		tgt := *p.current
		tgt.fresh = false
		return &tgt, rep
	}
	p.attempted, p.lastResync = in.ID, p.cfg.Now()
	r, err := p.cfg.Render(ctx, in.Dir)
	if err != nil {
		ref := &refusal{in: in, err: err, envs: affected(err)}
		rep.Refusal = ref
		log.Error("revision refused; the last applied revision keeps running", zap.String("revision", in.Revision), zap.Error(err))
		p.refused = ref
		if p.current == nil {
			rep.Outcome = OutcomeRefused
			rep.RecordErr = p.recordRefusal(ctx, ref, "")
			return nil, rep
		}
		tgt := *p.current
		tgt.fresh = false
		return &tgt, rep
	}
	p.refused = nil
	rep.NewRevision = p.current == nil || p.current.in.ID != in.ID
	// Every secret of the declaration and the host's tokens are masked in what the
	// state writes from now on.
	p.cfg.State.Masker().Add(r.Opts.ModelToken, r.Opts.DefaultToken)
	p.cfg.State.Masker().Add(r.Decl.SecretValues()...)
	tgt := &target{in: in, r: r, fresh: true, fingerprints: fingerprints(r.Rendered)}
	tgt.signer = p.signer(in)
	tgt.verdicts = p.policy(ctx, req, tgt, log)
	p.current = tgt
	p.project.Store(r.Rendered.Project.Name)
	return tgt, rep
}

// resyncDue says whether this run must render: a new revision, nothing rendered yet,
// a held or failed change to try again, a forced window, or the resync interval over.
func (p *Pipeline) resyncDue(req Request, in Input, changed bool) bool {
	if p.current == nil || changed || req.ForceWindow || in.ID != p.current.in.ID && in.ID != p.attempted {
		return true
	}
	if !req.Fetch {
		return false // a Docker event: heal against the last rendering
	}
	if p.refused != nil || len(p.current.held) > 0 || p.retry {
		return true
	}
	return p.cfg.Now().Sub(p.lastResync) >= p.cfg.Resync
}

// affected names the environments a refused revision is about: those whose own file
// holds every problem; any other problem (models, settings, compose files) affects
// them all.
func affected(err error) map[string]bool {
	var problems compose.Problems
	if !errors.As(err, &problems) || len(problems) == 0 {
		return nil
	}
	envs := map[string]bool{}
	for _, pr := range problems {
		dir, file := path.Split(pr.File)
		name := strings.TrimSuffix(strings.TrimSuffix(file, ".yaml"), ".yml")
		if path.Base(strings.TrimSuffix(dir, "/")) != compose.EnvironmentsDir || name == file {
			return nil
		}
		envs[name] = true
	}
	return envs
}

// fingerprints identify each environment's rendering in a revision.
func fingerprints(r *compose.Rendered) map[string]string {
	out := map[string]string{}
	for _, env := range r.Environments {
		out[env.Name] = Fingerprint(r, env)
	}
	return out
}

// signer is the key that signed the revision, among every key of the policy.
func (p *Pipeline) signer(in Input) string {
	if p.cfg.Policy == nil || !in.Signed || in.Verify == nil {
		return ""
	}
	if id, err := in.Verify(p.cfg.Policy.AllKeys()); err == nil {
		return id
	}
	return ""
}
