// Package daemon is the run loop of `rasa-gitops daemon`: triggers (poll, webhooks,
// Docker events, API) merge into a one-slot queue and one reconcile runs at a time:
// fetch → check out → render → signer policy and change windows → converge the
// containers → converge the models → record. It also records the runs of `apply` and
// `serve` (Recorder).
package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/api"
	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/gitsource"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/policy"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// RenderFunc renders the declaration directory of the checked-out revision.
type RenderFunc func(ctx context.Context, dir string) (*compose.Declaration, *compose.Rendered, compose.RenderOptions, error)

// Config is everything the loop uses.
type Config struct {
	Source    *gitsource.Source
	Policy    *policy.Policy
	State     *state.Store
	Engine    reconcile.Engine
	Store     *modelserver.Store
	Tags      *modelserver.Tags
	Observed  *modelserver.Observed
	Render    RenderFunc
	Run       reconcile.RunOptions
	Models    reconcile.ModelOptions
	Retention int
	Metrics   *api.Metrics
	Log       *zap.Logger
}

// Daemon is the loop.
type Daemon struct {
	cfg    Config
	signal chan struct{}

	mu      sync.Mutex
	pending *trigger
	ready   bool
	reason  string
	current *gitsource.Revision
	retry   bool // the last run must be retried on the next poll (failure, held change)
	refused string
	// lastGood is the last revision that rendered, kept for self-heal while a newer
	// revision is refused; tree is its --path subtree.
	lastGood *goodRender
	tree     string
	// decided remembers policy decisions already audited (environment → revision and
	// outcome), so a held or refused change is audited once, not on every poll.
	decided map[string]string

	forceWindow atomic.Bool
}

type goodRender struct {
	rev      gitsource.Revision
	decl     *compose.Declaration
	rendered *compose.Rendered
	opts     compose.RenderOptions
}

type trigger struct {
	reasons  []string
	fetch    bool
	selfHeal bool
}

// New makes a daemon; Run starts it.
func New(cfg Config) *Daemon {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Daemon{cfg: cfg, signal: make(chan struct{}, 1), reason: "no revision applied yet", decided: map[string]string{}}
}

// Trigger asks for a run. Triggers merge: a run that has not started yet takes every
// reason asked for meanwhile (one slot), and fetches if any of them wanted a fetch.
func (d *Daemon) Trigger(reason string, fetch bool) {
	d.mu.Lock()
	if d.pending == nil {
		d.pending = &trigger{}
	}
	d.pending.reasons = append(d.pending.reasons, reason)
	d.pending.fetch = d.pending.fetch || fetch
	d.pending.selfHeal = d.pending.selfHeal || !fetch
	d.mu.Unlock()
	select {
	case d.signal <- struct{}{}:
	default:
	}
}

// Sync is the API's trigger; forceWindow lets held changes through once (audited).
func (d *Daemon) Sync(reason string, forceWindow bool) {
	if forceWindow {
		d.forceWindow.Store(true)
	}
	d.Trigger(reason, true)
}

// Ready says whether the last fetch and the last reconcile succeeded, and if not why.
func (d *Daemon) Ready() (bool, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ready, d.reason
}

// Project is the Compose project of the last revision that rendered ("" before).
func (d *Daemon) Project() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lastGood == nil {
		return ""
	}
	return d.lastGood.rendered.Project.Name
}

// Branch is the followed branch.
func (d *Daemon) Branch() string { return d.cfg.Source.Branch() }

// Statuses reads the environments' status.
func (d *Daemon) Statuses() ([]state.EnvStatus, error) {
	return d.cfg.State.Statuses(context.Background())
}

// History reads the audit log.
func (d *Daemon) History(f state.Filter) ([]state.Row, error) {
	return d.cfg.State.History(context.Background(), f)
}

func (d *Daemon) setReady(ok bool, reason string) {
	d.mu.Lock()
	d.ready, d.reason = ok, reason
	d.mu.Unlock()
}

// Run runs until ctx ends; the run in progress finishes its current step first.
func (d *Daemon) Run(ctx context.Context) error {
	d.Trigger("start", true)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.signal:
		}
		d.mu.Lock()
		t := d.pending
		d.pending = nil
		d.mu.Unlock()
		if t == nil {
			continue
		}
		d.runOnce(ctx, *t)
	}
}

// runOnce is one reconcile. The Engine calls use a context that outlives a SIGTERM by
// a few seconds so the step in progress finishes; no new step starts after it.
func (d *Daemon) runOnce(stop context.Context, t trigger) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(stop), d.cfg.Run.Timeout)
	defer cancel()
	go func() {
		select {
		case <-stop.Done():
			time.AfterFunc(8*time.Second, cancel)
		case <-ctx.Done():
		}
	}()
	log := d.cfg.Log.With(zap.Strings("triggers", t.reasons))
	outcome := d.reconcile(ctx, stop, t, log)
	if d.cfg.Metrics != nil {
		d.cfg.Metrics.Runs.WithLabelValues(outcome).Inc()
		if outcome != "unchanged" {
			d.cfg.Metrics.Reconcile.Observe(time.Since(start).Seconds())
		}
		if rows, err := d.cfg.State.Statuses(ctx); err == nil {
			d.cfg.Metrics.SetStatuses(rows)
		}
	}
	if outcome != "unchanged" {
		log.Info("reconciled", zap.String("outcome", outcome), zap.Duration("duration", time.Since(start)))
	}
}

func (d *Daemon) reconcile(ctx, stop context.Context, t trigger, log *zap.Logger) string {
	d.mu.Lock()
	current, retry := d.current, d.retry
	d.mu.Unlock()
	rev := gitsource.Revision{}
	if current != nil {
		rev = *current
	}
	changed := false
	if t.fetch || current == nil {
		fetchStart := time.Now()
		fetched, err := d.cfg.Source.Fetch(ctx)
		if d.cfg.Metrics != nil {
			d.cfg.Metrics.Fetch.Observe(time.Since(fetchStart).Seconds())
		}
		if err != nil && !errors.Is(err, gitsource.ErrUnchanged) {
			if d.cfg.Metrics != nil {
				d.cfg.Metrics.FetchErrors.Inc()
			}
			log.Warn("git fetch failed; the last applied revision keeps running", zap.Error(err))
			d.setReady(false, "git fetch failed: "+err.Error())
			if current == nil || !t.selfHeal {
				return "fetch-failed"
			}
		} else if current == nil || fetched.Hash != current.Hash {
			rev, changed = fetched, true
		}
	}
	force := d.forceWindow.Swap(false)
	if !changed && !t.selfHeal && !retry && !force {
		d.mu.Lock()
		refused := d.refused != "" && current != nil && d.refused == current.Hash
		d.mu.Unlock()
		if !refused {
			d.setReady(true, "")
		}
		return "unchanged" // a no-change poll: one request to the Git server, nothing else
	}
	if changed {
		if err := d.cfg.Source.Checkout(rev); err != nil {
			log.Error("checkout failed", zap.Error(err))
			d.setReady(false, err.Error())
			d.setRetry(true)
			return "failed"
		}
		d.mu.Lock()
		d.current = &rev
		d.mu.Unlock()
		// A revision whose --path subtree is the last one's declares the same thing.
		if tree, err := d.cfg.Source.PathTree(rev); err == nil {
			if tree == d.tree && !t.selfHeal && !retry && !force {
				d.setReady(true, "")
				return "unchanged"
			}
			d.tree = tree
		}
	}
	log = log.With(zap.String("revision", rev.String()))

	decl, rendered, ropts, err := d.cfg.Render(ctx, d.cfg.Source.Dir())
	if err != nil {
		var problems compose.Problems
		if errors.As(err, &problems) {
			d.mu.Lock()
			first := d.refused != rev.Hash
			d.refused = rev.Hash
			d.mu.Unlock()
			if first {
				_ = d.cfg.State.Record(ctx, state.Entry{Revision: rev.String(), Author: rev.Author, Action: "validate", Outcome: "refused", Error: problems.Error()})
			}
		} else {
			d.setRetry(true) // not the declaration's fault: try again
		}
		log.Error("revision refused; the last applied revision keeps running", zap.Error(err))
		d.setReady(false, "revision "+rev.Short()+" refused: "+firstLine(err.Error()))
		if !t.selfHeal || d.lastGood == nil {
			return "refused"
		}
		// Self-heal keeps running what was last applied.
		rev, decl, rendered, ropts = d.lastGood.rev, d.lastGood.decl, d.lastGood.rendered, d.lastGood.opts
	} else {
		d.mu.Lock()
		if d.refused == rev.Hash {
			d.refused = ""
		}
		d.mu.Unlock()
		d.mu.Lock()
		d.lastGood = &goodRender{rev: rev, decl: decl, rendered: rendered, opts: ropts}
		d.mu.Unlock()
	}

	rec := NewRecorder(d.cfg.State, decl, rendered, ropts, rev.String(), rev.Author, d.signer(rev))
	frozen := d.applyPolicy(ctx, rev, rendered, rec, force, log)

	opts := d.cfg.Run
	opts.Frozen = map[string]bool{}
	for env := range frozen {
		opts.Frozen[compose.ServiceName(env)] = true
	}
	projectFP, projectFrozen := d.projectPolicy(ctx, rev, rendered, rec, log)
	if projectFrozen {
		// The project's own services keep what they run: nothing created, recreated or pruned.
		opts.Prune = false
		envServices := map[string]bool{}
		for _, env := range rendered.Environments {
			envServices[env.Service] = true
		}
		for name := range rendered.Project.Services {
			if !envServices[name] {
				opts.Frozen[name] = true
			}
		}
	}
	opts.Stop = stop
	opts.BeforeApply = func(p reconcile.Plan) error { return rec.Begin(ctx, p) }
	run, err := reconcile.Converge(ctx, d.cfg.Engine, rendered, rev.String(), opts)
	if err != nil {
		log.Error("reconcile failed", zap.Error(err))
		_ = rec.Finish(ctx, d.cfg.Engine, run, nil, err)
		d.setRetry(true)
		d.setReady(false, "reconcile failed: "+firstLine(err.Error()))
		return "failed"
	}
	LogActions(log, run.Result)
	var statuses []reconcile.ModelStatus
	var modelErr error
	if run.Result.Err() == nil && stop.Err() == nil {
		mopts := d.cfg.Models
		mopts.Keep = frozen
		mopts.Observed = d.cfg.Observed
		mopts.Touched = reconcile.Touched(rendered, run.Result)
		statuses, modelErr = reconcile.ConvergeModels(ctx, d.cfg.Engine, d.cfg.Store, d.cfg.Tags, rendered, mopts)
		if modelErr == nil {
			modelErr = reconcile.ModelsErr(statuses)
			if _, err := d.cfg.Store.GC(reconcile.InUse(rendered), d.cfg.Retention); err != nil {
				log.Warn("model store gc", zap.Error(err))
			}
		}
		LogModels(log, statuses)
	}
	var needsPerson *reconcile.NeedsPersonError
	var runErr error
	if errors.As(modelErr, &needsPerson) {
		runErr = modelErr
	}
	recordCtx, cancelRecord := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelRecord()
	if err := rec.Finish(recordCtx, d.cfg.Engine, run, statuses, runErr); err != nil {
		log.Error("cannot record the run", zap.Error(err))
	}
	keep := map[string]bool{}
	for _, env := range rendered.Environments {
		keep[env.Name] = true
	}
	for env := range frozen {
		keep[env] = true
	}
	_ = d.cfg.State.Forget(recordCtx, rendered.Project.Name, keep)
	d.gcCheckouts(recordCtx, rev)
	failed := run.Result.Err() != nil || modelErr != nil
	if !failed && !projectFrozen {
		_ = d.cfg.State.SetMeta(recordCtx, "project-fingerprint:"+rendered.Project.Name, projectFP)
	}
	d.setRetry(failed || len(frozen) > 0)
	switch {
	case failed:
		reason := "the last reconcile failed"
		if err := errors.Join(run.Result.Err(), modelErr); err != nil {
			reason += ": " + firstLine(err.Error())
		}
		d.setReady(false, reason)
		return "failed"
	default:
		d.setReady(true, "")
		if len(frozen) > 0 {
			return "partial"
		}
		return "applied"
	}
}

func (d *Daemon) setRetry(v bool) {
	d.mu.Lock()
	d.retry = v
	d.mu.Unlock()
}

// signer is the key that signed the revision, among every key of the policy.
func (d *Daemon) signer(rev gitsource.Revision) string {
	if d.cfg.Policy == nil || !rev.Signed {
		return ""
	}
	if id, err := d.cfg.Source.Verify(rev, d.cfg.Policy.AllKeys()); err == nil {
		return id
	}
	return ""
}

// applyPolicy decides, per environment, whether the revision's change to it may be
// applied: a change to an environment with signer keys must be signed by one of them
// (else Refused), and a change must fall in its change windows (else Pending, unless
// forced). It returns the environments that keep what they run.
func (d *Daemon) applyPolicy(ctx context.Context, rev gitsource.Revision, r *compose.Rendered, rec *Recorder, force bool, log *zap.Logger) map[string]bool {
	frozen := map[string]bool{}
	rec.Refused = map[string]string{}
	rec.Held = map[string]time.Time{}
	now := time.Now()
	for _, env := range r.Environments {
		fp := rec.Fingerprints[env.Name]
		p := d.cfg.Policy.For(env.Name)
		if p == nil {
			continue
		}
		prev, err := d.cfg.State.Status(ctx, env.Name)
		if err != nil {
			// Fail closed: without the last applied fingerprint nothing is allowed.
			rec.Refused[env.Name] = "cannot read the environment's state: " + err.Error()
			frozen[env.Name] = true
			continue
		}
		if prev.Fingerprint == fp {
			continue // unchanged: nothing to allow or refuse
		}
		if p.KeyRing != "" {
			if _, err := d.cfg.Source.Verify(rev, p.KeyRing); err != nil {
				why := fmt.Sprintf("revision %s changes %s but is not signed by a key its policy allows: %v", rev.Short(), env.Name, err)
				rec.Refused[env.Name] = why
				d.decide(rec, state.Entry{Environment: env.Name, Action: "policy: signature", Before: prev.LastApplied, After: rev.String(), Outcome: "refused", Error: why})
				frozen[env.Name] = true
				log.Warn("change refused by the signer policy", zap.String("environment", env.Name), zap.String("reason", why))
				continue
			}
		}
		if !p.Allowed(now) {
			if force {
				d.decide(rec, state.Entry{Environment: env.Name, Action: "policy: change window", Before: prev.LastApplied, After: rev.String(), Outcome: "forced", Error: "applied outside its change window by sync --force-window"})
				continue
			}
			next := p.NextAllowed(now)
			rec.Held[env.Name] = next
			d.decide(rec, state.Entry{Environment: env.Name, Action: "policy: change window", Before: prev.LastApplied, After: rev.String(), Outcome: "held", Error: heldMessage(next)})
			frozen[env.Name] = true
			log.Info("change held by a change window", zap.String("environment", env.Name), zap.Time("until", next))
		}
	}
	// Removing an environment is a change to it too: an unsigned revision that drops a
	// protected environment's file must not prune its container.
	rendered := map[string]bool{}
	for _, env := range r.Environments {
		rendered[env.Name] = true
	}
	if all, err := d.cfg.State.Statuses(ctx); err == nil {
		for _, prev := range all {
			if rendered[prev.Name] || prev.Project != r.Project.Name || prev.LastApplied == "" {
				continue
			}
			p := d.cfg.Policy.For(prev.Name)
			if p == nil || p.KeyRing == "" {
				continue
			}
			if _, err := d.cfg.Source.Verify(rev, p.KeyRing); err != nil {
				why := fmt.Sprintf("revision %s removes %s but is not signed by a key its policy allows: %v", rev.Short(), prev.Name, err)
				d.decide(rec, state.Entry{Environment: prev.Name, Action: "policy: signature", Before: prev.LastApplied, After: rev.String(), Outcome: "refused", Error: why})
				frozen[prev.Name] = true
				log.Warn("removal refused by the signer policy", zap.String("environment", prev.Name))
			}
		}
	}
	return frozen
}

// gcCheckouts removes revision checkouts nothing uses any more: kept are the current
// and the last good revision, and every checkout a managed container bind-mounts from
// (an environment that keeps an older revision reads its files).
func (d *Daemon) gcCheckouts(ctx context.Context, rev gitsource.Revision) {
	keep := map[string]bool{rev.Hash: true}
	if d.lastGood != nil {
		keep[d.lastGood.rev.Hash] = true
	}
	list, err := d.cfg.Engine.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", compose.LabelManaged+"=true"))})
	if err != nil {
		return // when in doubt, keep everything
	}
	root := d.cfg.Source.CheckoutsDir() + string(filepath.Separator)
	for _, c := range list {
		for _, m := range c.Mounts {
			if rest, ok := strings.CutPrefix(m.Source, root); ok {
				hash, _, _ := strings.Cut(rest, string(filepath.Separator))
				keep[hash] = true
			}
		}
	}
	d.cfg.Source.GC(keep)
}

// projectPolicy checks the services outside the environments (compose.files): a
// revision that changes them must be signed by one of the project's keys. It returns
// their fingerprint and whether they must keep what they run.
func (d *Daemon) projectPolicy(ctx context.Context, rev gitsource.Revision, r *compose.Rendered, rec *Recorder, log *zap.Logger) (string, bool) {
	envServices := map[string]bool{}
	for _, env := range r.Environments {
		envServices[env.Service] = true
	}
	var names []string
	for name := range r.Project.Services {
		if !envServices[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		svc := r.Project.Services[name]
		digests, _ := r.MountDigests(name)
		hash, _ := compose.ConfigHash(svc, compose.HashInputs{MountDigests: digests, RepoRoot: r.Dir})
		fmt.Fprintf(h, "%s=%s\n", name, hash)
	}
	fp := hex.EncodeToString(h.Sum(nil))
	p := d.cfg.Policy.Project()
	if p == nil || p.KeyRing == "" {
		return fp, false
	}
	prev, err := d.cfg.State.Meta(ctx, "project-fingerprint:"+r.Project.Name)
	if err == nil && prev == fp {
		return fp, false
	}
	if _, verr := d.cfg.Source.Verify(rev, p.KeyRing); verr != nil || err != nil {
		if err != nil {
			verr = err
		}
		why := fmt.Sprintf("revision %s changes the project's services (%s) but is not signed by a key the project policy allows: %v", rev.Short(), strings.Join(names, ", "), verr)
		d.decide(rec, state.Entry{Environment: "", Action: "policy: project signature", After: rev.String(), Outcome: "refused", Error: why})
		log.Warn("project change refused by the signer policy", zap.String("reason", why))
		return fp, true
	}
	return fp, false
}

// LogActions writes one log line per action of a run: target, kind, reason, outcome.
func LogActions(log *zap.Logger, res reconcile.Result) {
	for _, a := range res.Actions {
		fields := []zap.Field{zap.String("target", a.Action.Target), zap.String("action", string(a.Action.Kind)), zap.String("reason", a.Action.Reason), zap.String("outcome", string(a.Outcome)), zap.Duration("duration", a.Duration)}
		if a.Err != nil {
			log.Warn("action failed", append(fields, zap.Error(a.Err))...)
		} else {
			log.Info("action", fields...)
		}
	}
}

// LogModels writes one log line per environment: declared model, served model, sync.
func LogModels(log *zap.Logger, statuses []reconcile.ModelStatus) {
	for _, ms := range statuses {
		log.Info("environment", zap.String("environment", ms.Environment), zap.String("model", ms.Model), zap.String("serves", ms.Served), zap.Bool("model_synced", ms.Synced), zap.Bool("retagged", ms.Retagged))
	}
}

// decide audits a policy decision once per environment, revision and outcome.
func (d *Daemon) decide(rec *Recorder, e state.Entry) {
	key := e.After + "|" + e.Action + "|" + e.Outcome
	if d.decided[e.Environment] == key {
		return
	}
	d.decided[e.Environment] = key
	rec.Decisions = append(rec.Decisions, e)
}

// Fingerprint identifies an environment's rendering: its service (with the content of
// its repository mounts) and its model. A revision that changes it changes the
// environment.
func Fingerprint(r *compose.Rendered, env compose.RenderedEnvironment) string {
	svc := r.Project.Services[env.Service]
	digests, _ := r.MountDigests(env.Service)
	hash, _ := compose.ConfigHash(svc, compose.HashInputs{MountDigests: digests, RepoRoot: r.Dir})
	sum := sha256.Sum256([]byte(hash + "\x00" + env.Model + "\x00" + env.SHA256))
	return hex.EncodeToString(sum[:])
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
