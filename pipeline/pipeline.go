package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/policy"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// Rendering is the render stage's output: the declaration, how it was rendered and
// the rendered project.
type Rendering struct {
	Decl     *compose.Declaration
	Opts     compose.RenderOptions
	Rendered *compose.Rendered
}

// RenderFunc renders the declaration directory of a revision with the host's tokens.
type RenderFunc func(ctx context.Context, dir string) (Rendering, error)

// Metrics receives what runs measure (api.Metrics implements it).
type Metrics interface {
	ObserveRun(outcome string, d time.Duration)
	ObserveFetch(d time.Duration, err error)
	SetStatuses(rows []state.EnvStatus)
	// SetAuditHead publishes the audit chain's anchor; err is a failed AnchorSink.
	SetAuditHead(a state.Anchor, err error)
}

// Config is everything a pipeline uses. Policy, Metrics and the progress hooks are
// optional.
type Config struct {
	Source Source
	Render RenderFunc
	Policy *policy.Policy
	State  *state.Store
	Engine reconcile.Engine
	Store  *modelserver.Store
	Tags   *modelserver.Tags
	// Run tunes container convergence; Loader model loads (its Done is set here).
	Run    reconcile.RunOptions
	Loader reconcile.LoaderOptions
	// Retention is how many unused models the store keeps for rollback.
	Retention int
	// Resync is the longest time between two full runs (render + plan) when Git did
	// not change; zero renders on every fetching trigger.
	Resync time.Duration
	// ModelProgress, when set, is called as each environment's model is settled.
	ModelProgress func(reconcile.ModelStatus)
	// ModelWaiting, when set, is called every few seconds while a run waits for a
	// model load (apply): see reconcile.ModelOptions.Waiting.
	ModelWaiting func(env, model string, waited time.Duration)
	// ModelWaitEvery is how often ModelWaiting is called (default 5s).
	ModelWaitEvery time.Duration
	// ModelsSettled, when set, is called once per run (not a dry run) as soon as its
	// model stage is over, before the run records itself and while the old containers
	// of its replaces stop; it must not block. A one-shot apply stops its model server
	// and closes its connections to the Rasa servers then, instead of after them.
	ModelsSettled func()
	Metrics       Metrics
	// LoadRecorded, when set, is called once a background model load's outcome is in
	// the state (or will be written by the run that started it, which is still going).
	LoadRecorded func(reconcile.LoadResult)
	// AnchorSink, when set, receives the audit chain's anchor after each run that
	// moved it (the daemon pushes it to a Git ref); a failure is logged, counted and
	// tried again after the next run.
	AnchorSink func(ctx context.Context, a state.Anchor) error
	// StatusHook, when set, gets every environment's status after each run and each
	// model load it records (the commit-status notifier); it must not block.
	StatusHook func(rows []state.EnvStatus)
	Log        *zap.Logger
	// Now is the clock (tests set it); default time.Now.
	Now func() time.Time
}

// Request is one trigger of a run.
type Request struct {
	// Reasons say what asked for the run (poll, webhook:github, docker:die:…).
	Reasons []string
	// Fetch asks the source for its newest revision; a run without it heals drift
	// against the last rendering (rendering again only when a resync is due).
	Fetch bool
	// ForceWindow lets changes held by change windows through once (audited).
	ForceWindow bool
	// WaitModels waits for this run's model loads (apply); otherwise they go on in the
	// background and are recorded when they end.
	WaitModels bool
	// Asked holds answers of the Rasa servers asked before the run, at the addresses
	// the last apply recorded (apply's no-op check): an answer the run's observation
	// confirms, for a container the run leaves alone, is not asked again.
	Asked *reconcile.Recorded
	// DryRun plans and changes nothing.
	DryRun bool
	// Stop, when done (SIGTERM), lets the step in progress finish and starts no other.
	Stop context.Context
}

// Pipeline runs reconciles one at a time and remembers, between runs, the last
// revision it rendered and the last one that rendered well.
type Pipeline struct {
	cfg    Config
	log    *zap.Logger
	loader *reconcile.Loader

	runMu    sync.Mutex // one run at a time
	recordMu sync.Mutex // status read-modify-writes (runs and model loads)

	current    *target // what runs enforce now: the last good rendering
	attempted  string  // ID of the last revision rendered (good or refused)
	lastResync time.Time
	refused    *refusal
	anchored   state.Anchor // the audit head last exported (exportAnchor)
	own        ownEvents    // containers this pipeline stops or removes
	retry      bool         // the last run failed or held something: render again on the next fetch
	intent     int64        // the journal row of the run in progress
	decided    map[string]string
	ready      readiness
	project    atomic.Value // string: the project of current
}

type readiness struct {
	mu     sync.Mutex
	ok     bool
	reason string
	// lostLoad says why a model load's record failed; it keeps the pipeline unready
	// until a later load is recorded, whatever a run reports meanwhile.
	lostLoad string
}

// New makes a pipeline.
func New(cfg Config) *Pipeline {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Pipeline{cfg: cfg, log: cfg.Log, decided: map[string]string{}}
	p.ready.reason = "no revision applied yet"
	lopts := cfg.Loader
	lopts.Done = p.loadDone
	p.loader = reconcile.NewLoader(cfg.Engine, lopts)
	return p
}

// Close cancels the model loads in progress and waits for them.
func (p *Pipeline) Close() { p.loader.Close() }

// Ready says whether the last run fetched, rendered and applied without failure,
// and if not why.
func (p *Pipeline) Ready() (bool, string) {
	p.ready.mu.Lock()
	defer p.ready.mu.Unlock()
	return p.ready.ok, p.ready.reason
}

func (p *Pipeline) setReady(ok bool, reason string) {
	p.ready.mu.Lock()
	defer p.ready.mu.Unlock()
	if ok && p.ready.lostLoad != "" {
		ok, reason = false, p.ready.lostLoad
	}
	p.ready.ok, p.ready.reason = ok, reason
}

// loadRecorded notes whether a model load was recorded: a failure (non-empty reason)
// makes the pipeline unready until a later load is recorded.
func (p *Pipeline) loadRecorded(failure string) {
	p.ready.mu.Lock()
	p.ready.lostLoad = failure
	p.ready.mu.Unlock()
	if failure != "" {
		p.setReady(false, failure)
	}
}

// Project is the Compose project runs enforce ("" before the first good rendering).
func (p *Pipeline) Project() string {
	name, _ := p.project.Load().(string)
	return name
}

// Loading says whether env's model load is in progress (tests, status).
func (p *Pipeline) Loading(env string) bool { return p.loader.Loading(env) }

// Run is one reconcile: source → render → policy → converge containers → converge
// models → record → report. It never panics on bad input and always returns a
// Report saying what happened.
func (p *Pipeline) Run(ctx context.Context, req Request) Report {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	start := p.cfg.Now()
	log := p.log.With(zap.Strings("triggers", req.Reasons))
	in, changed, srcErr := p.source(ctx, req, log)
	tgt, rep := p.target(ctx, req, in, changed, srcErr, log)
	if tgt == nil {
		return p.report(ctx, rep, start, log)
	}
	// Old containers of side-by-side replaces are withdrawn while the models converge
	// and the run is recorded.
	retire := &reconcile.Retirements{}
	var asked *reconcile.Asking
	var observed func(reconcile.Observed)
	if !req.DryRun {
		// The servers whose containers this run leaves alone are asked what they serve
		// while the others converge, at the addresses the observation gives.
		r := tgt.r.Rendered
		observed = func(o reconcile.Observed) {
			asked = p.loader.AskEarly(ctx, r.Project.Name, r.Environments, o.RunningAddresses(), req.Asked)
		}
	}
	run, err := p.containers(ctx, req, tgt, retire, observed)
	rep.Plan, rep.Result, rep.Err = run.Plan, run.Result, err
	rep.Desired, rep.Rendered = tgt.desired, tgt.r.Rendered
	if req.DryRun {
		return p.report(ctx, rep, start, log)
	}
	// The state file's integrity check (begun when it was opened) has passed before
	// anything changes: the containers' apply waited for it to write its intent, and
	// the models wait here. A damaged file stops the run with nothing unrecorded.
	if cerr := p.cfg.State.Checked(ctx); cerr != nil {
		rep.RecordErr = cerr
		return p.report(ctx, rep, start, log)
	}
	models := p.models(ctx, req, tgt, run, err, asked)
	if p.cfg.ModelsSettled != nil {
		p.cfg.ModelsSettled()
	}
	rep.Models = models.statuses
	if err := p.record(ctx, tgt, run, err, models, rep); err != nil {
		rep.RecordErr = err
	}
	// The record looks at each service's container under its own name: a renamed
	// old one still stopping does not count, so it is waited for only now.
	if err := retire.Wait(); err != nil {
		log.Warn("old container not withdrawn", zap.Error(err))
	}
	if rep.NewRevision || !run.Plan.Empty() {
		p.collect(ctx, tgt)
	}
	rep.Statuses = p.statuses(ctx)
	return p.report(ctx, rep, start, log)
}
