// Package daemon schedules the runs of `rasa-gitops daemon` (and of `serve`): triggers
// (the poll schedule, webhooks and the API through Sync, Docker events on managed
// containers) merge into a one-slot queue, and one pipeline run happens at a time; on
// SIGTERM the run in progress finishes its step within a grace period. It owns no
// convergence logic: every run is pipeline.Run, the whole flow gitsource → compose →
// reconcile → (Engine, modelserver) → state (see docs/ARCHITECTURE.md).
package daemon

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/pipeline"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// Pipeline is the run the daemon schedules (pipeline.Pipeline).
type Pipeline interface {
	Run(ctx context.Context, req pipeline.Request) pipeline.Report
	Ready() (bool, string)
	Project() string
	// OwnEvent says a container's event was caused by the pipeline's own actions
	// (a replaced container dying): no heal run for it.
	OwnEvent(containerID, action string) bool
}

// Events is the Docker events stream (the Engine client, or an in-memory Engine).
type Events interface {
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
}

// Config is what the daemon schedules and reads.
type Config struct {
	Pipeline Pipeline
	State    *state.Store
	// Branch is the followed branch, for the webhooks' branch filter.
	Branch string
	// Poll is the fetch schedule (a cron expression or @every); empty: no polling.
	// Schedule, when set, is used instead (a parsed or custom schedule).
	Poll     string
	Schedule cron.Schedule
	// Events, when set, turns Docker events on the project's containers into runs
	// that heal without fetching.
	Events Events
	// RunTimeout bounds one run (default 10 minutes); Grace is how long a run may go
	// on after SIGTERM to finish its step (default 8s).
	RunTimeout, Grace time.Duration
	// Reconnect is the pause before a cut event stream is opened again (default 1s).
	Reconnect time.Duration
	Log       *zap.Logger
}

// Daemon is the scheduler.
type Daemon struct {
	cfg    Config
	signal chan struct{}

	mu      sync.Mutex
	pending *trigger
	runs    int

	// events counts Docker events by what became of them: "heal" (a run was asked
	// for) or "own" (caused by the pipeline's own actions, dropped).
	events struct{ heal, own atomic.Int64 }
}

// EventCounts says how many Docker events of the project asked for a heal run and how
// many were the pipeline's own (a replace) and asked for none: the metrics export them.
func (d *Daemon) EventCounts() (heal, own int64) {
	return d.events.heal.Load(), d.events.own.Load()
}

type trigger struct {
	reasons     []string
	fetch       bool
	forceWindow bool
}

// New makes a daemon; Run starts it.
func New(cfg Config) *Daemon {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.RunTimeout == 0 {
		cfg.RunTimeout = 10 * time.Minute
	}
	if cfg.Grace == 0 {
		cfg.Grace = 8 * time.Second
	}
	if cfg.Reconnect == 0 {
		cfg.Reconnect = time.Second
	}
	return &Daemon{cfg: cfg, signal: make(chan struct{}, 1)}
}

// Trigger asks for a run. Triggers merge: a run that has not started yet takes every
// reason asked for meanwhile (one slot), and fetches if any of them wanted a fetch.
func (d *Daemon) Trigger(reason string, fetch bool) { d.trigger(reason, fetch, false) }

func (d *Daemon) trigger(reason string, fetch, force bool) {
	d.mu.Lock()
	if d.pending == nil {
		d.pending = &trigger{}
	}
	d.pending.reasons = append(d.pending.reasons, reason)
	d.pending.fetch = d.pending.fetch || fetch
	d.pending.forceWindow = d.pending.forceWindow || force
	d.mu.Unlock()
	select {
	case d.signal <- struct{}{}:
	default:
	}
}

// Sync is the API's trigger (fetch first); forceWindow lets held changes through
// once (audited).
func (d *Daemon) Sync(reason string, forceWindow bool) { d.trigger(reason, true, forceWindow) }

// Ready says whether the last run fetched, rendered and applied, and if not why.
func (d *Daemon) Ready() (bool, string) { return d.cfg.Pipeline.Ready() }

// Branch is the followed branch.
func (d *Daemon) Branch() string { return d.cfg.Branch }

// Statuses reads the environments' status (the one status model).
func (d *Daemon) Statuses(ctx context.Context) ([]state.EnvStatus, error) {
	return d.cfg.State.Statuses(ctx)
}

// History reads the audit log.
func (d *Daemon) History(ctx context.Context, f state.Filter) ([]state.Row, error) {
	return d.cfg.State.History(ctx, f)
}

// Runs is how many runs have ended (tests wait on it).
func (d *Daemon) Runs() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.runs
}

// Run schedules runs until ctx ends; the run in progress finishes its current step.
func (d *Daemon) Run(ctx context.Context) error {
	schedule := d.cfg.Schedule
	if schedule == nil && d.cfg.Poll != "" {
		var err error
		if schedule, err = cron.ParseStandard(d.cfg.Poll); err != nil {
			return fmt.Errorf("poll schedule %q: %w", d.cfg.Poll, err)
		}
	}
	if schedule != nil {
		sched := cron.New(cron.WithChain(cron.Recover(cron.DiscardLogger), cron.SkipIfStillRunning(cron.DiscardLogger)))
		sched.Schedule(schedule, cron.FuncJob(func() { d.Trigger("poll", true) }))
		sched.Start()
		defer sched.Stop()
	}
	if d.cfg.Events != nil {
		go d.watchEvents(ctx)
	}
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
		if t != nil {
			d.runOnce(ctx, *t)
		}
	}
}

// runOnce is one pipeline run. Its Engine calls use a context that outlives a SIGTERM
// by Grace so the step in progress finishes; no new step starts after it.
func (d *Daemon) runOnce(stop context.Context, t trigger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(stop), d.cfg.RunTimeout)
	defer cancel()
	go func() {
		select {
		case <-stop.Done():
			time.AfterFunc(d.cfg.Grace, cancel)
		case <-ctx.Done():
		}
	}()
	d.cfg.Pipeline.Run(ctx, pipeline.Request{Reasons: t.reasons, Fetch: t.fetch, ForceWindow: t.forceWindow, Stop: stop})
	d.mu.Lock()
	d.runs++
	d.mu.Unlock()
}

// watchEvents turns Docker events on the project's managed containers into runs that
// heal without fetching. A cut stream is reconnected; what it missed meanwhile is
// healed by the next poll, which observes the Engine whatever Git says.
func (d *Daemon) watchEvents(ctx context.Context) {
	f := filters.NewArgs(filters.Arg("type", "container"), filters.Arg("label", compose.LabelManaged+"=true"),
		filters.Arg("event", "die"), filters.Arg("event", "destroy"), filters.Arg("event", "stop"),
		filters.Arg("event", "pause"))
	for ctx.Err() == nil {
		msgs, errs := d.cfg.Events.Events(ctx, events.ListOptions{Filters: f})
		d.forward(ctx, msgs, errs)
		select {
		case <-ctx.Done():
		case <-time.After(d.cfg.Reconnect):
		}
	}
}

// forward triggers a heal per event of this daemon's project until the stream ends.
func (d *Daemon) forward(ctx context.Context, msgs <-chan events.Message, errs <-chan error) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-msgs:
			// Only this daemon's project heals (other projects share the Engine).
			if p := d.cfg.Pipeline.Project(); p != "" && m.Actor.Attributes[compose.LabelProject] != p {
				continue
			}
			if d.cfg.Pipeline.OwnEvent(m.Actor.ID, string(m.Action)) {
				d.events.own.Add(1)
				continue
			}
			d.events.heal.Add(1)
			d.Trigger("docker:"+string(m.Action)+":"+m.Actor.Attributes["name"], false)
		case err := <-errs:
			if ctx.Err() == nil {
				d.cfg.Log.Warn("docker events interrupted; reconnecting", zap.Error(err))
			}
			return
		}
	}
}
