package daemon

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/memengine"
	"github.com/rasa-gitops/rasa-gitops/pipeline"
)

// fakePipeline records every run and the context of the last; a run blocks while
// hold is set.
type fakePipeline struct {
	mu      sync.Mutex
	runs    chan pipeline.Request
	hold    chan struct{}
	ctx     context.Context
	project string
}

func newFake() *fakePipeline {
	return &fakePipeline{runs: make(chan pipeline.Request, 100), project: "demo"}
}

func (f *fakePipeline) Run(ctx context.Context, req pipeline.Request) pipeline.Report {
	f.mu.Lock()
	hold := f.hold
	f.ctx = ctx
	f.mu.Unlock()
	f.runs <- req
	if hold != nil {
		<-hold
	}
	return pipeline.Report{}
}
func (f *fakePipeline) Ready() (bool, string)        { return true, "" }
func (f *fakePipeline) Project() string              { return f.project }
func (f *fakePipeline) OwnEvent(string, string) bool { return false }

func (f *fakePipeline) next(t *testing.T) pipeline.Request {
	t.Helper()
	select {
	case r := <-f.runs:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no run")
		return pipeline.Request{}
	}
}

// nothingLeftOver asserts that no run or reason is left over from earlier triggers:
// a marker triggered now is the next run, alone (a left-over run would come before
// it, a left-over reason would merge into it).
func (f *fakePipeline) nothingLeftOver(t *testing.T, d *Daemon) {
	t.Helper()
	d.Trigger("marker", false)
	if r := f.next(t); strings.Join(r.Reasons, ",") != "marker" || r.Fetch {
		t.Errorf("the run after the marker's trigger: %+v, want the marker alone", r)
	}
}

// runContext is the context the last run was given.
func (f *fakePipeline) runContext() context.Context {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ctx
}

func start(t *testing.T, cfg Config) (*Daemon, context.CancelFunc, chan error) {
	t.Helper()
	d := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return d, cancel, done
}

func waitRuns(t *testing.T, d *Daemon, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for d.Runs() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d runs, want %d", d.Runs(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStartRunFetches(t *testing.T) {
	f := newFake()
	start(t, Config{Pipeline: f})
	if r := f.next(t); !r.Fetch || r.Reasons[0] != "start" || r.Stop == nil {
		t.Errorf("first run %+v", r)
	}
}

func TestTriggersMergeIntoOneRun(t *testing.T) {
	f := newFake()
	f.hold = make(chan struct{})
	d, _, _ := start(t, Config{Pipeline: f})
	f.next(t) // the start run, held
	d.Trigger("docker:die:x", false)
	d.Trigger("poll", true)
	d.Sync("api", false)
	f.mu.Lock()
	close(f.hold)
	f.hold = nil
	f.mu.Unlock()
	r := f.next(t)
	if strings.Join(r.Reasons, ",") != "docker:die:x,poll,api" || !r.Fetch || r.ForceWindow {
		t.Errorf("merged run %+v", r)
	}
	waitRuns(t, d, 2)
	f.nothingLeftOver(t, d)
	waitRuns(t, d, 3)
}

func TestEventOnlyRunDoesNotFetch(t *testing.T) {
	f := newFake()
	d, _, _ := start(t, Config{Pipeline: f})
	f.next(t)
	d.Trigger("docker:stop:x", false)
	if r := f.next(t); r.Fetch {
		t.Errorf("an event run fetched: %+v", r)
	}
}

func TestSyncForceWindowReachesThePipeline(t *testing.T) {
	f := newFake()
	d, _, _ := start(t, Config{Pipeline: f})
	f.next(t)
	d.Sync("api", true)
	if r := f.next(t); !r.ForceWindow || !r.Fetch {
		t.Errorf("sync --force-window: %+v", r)
	}
	d.Sync("api", false)
	if r := f.next(t); r.ForceWindow {
		t.Error("the forced window stuck to the next run")
	}
}

func TestPollScheduleTriggersFetchingRuns(t *testing.T) {
	f := newFake()
	start(t, Config{Pipeline: f, Schedule: every(20 * time.Millisecond)})
	f.next(t)
	if r := f.next(t); r.Reasons[0] != "poll" || !r.Fetch {
		t.Errorf("poll run %+v", r)
	}
}

func TestBadPollScheduleIsAnError(t *testing.T) {
	d := New(Config{Pipeline: newFake(), Poll: "every now and then"})
	if err := d.Run(context.Background()); err == nil {
		t.Fatal("a bad schedule was accepted")
	}
}

func TestStopLetsTheRunInProgressFinish(t *testing.T) {
	f := newFake()
	f.hold = make(chan struct{})
	_, cancel, done := start(t, Config{Pipeline: f, Grace: 10 * time.Millisecond})
	r := f.next(t)
	cancel()
	select {
	case <-r.Stop.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the run was not told to stop")
	}
	// The daemon ends the run's context once the grace is over: it has acted on the
	// stop, so Run had every chance to return early by now.
	select {
	case <-f.runContext().Done():
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("Run returned (%v) while a run was in progress", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the run's context outlived the grace")
	}
	select {
	case err := <-done:
		done <- err // for the cleanup
		t.Fatal("Run returned while a run was in progress")
	default:
	}
	close(f.hold)
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	done <- nil // for the cleanup
}

// managed creates and starts a container with the project labels on the Engine.
func managed(t *testing.T, e *memengine.Engine, project, name string) string {
	t.Helper()
	e.AddImage("img:1")
	labels := map[string]string{compose.LabelManaged: "true", compose.LabelProject: project}
	resp, err := e.ContainerCreate(context.Background(), &container.Config{Image: "img:1", Labels: labels}, &container.HostConfig{}, &network.NetworkingConfig{}, nil, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ContainerStart(context.Background(), resp.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	return resp.ID
}

func waitSubscribed(t *testing.T, e *memengine.Engine) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.Subscribers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the daemon never subscribed to events")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDockerEventsOfItsProjectTriggerHeals(t *testing.T) {
	e := memengine.New()
	f := newFake()
	start(t, Config{Pipeline: f, Events: e})
	f.next(t)
	waitSubscribed(t, e)
	other := managed(t, e, "someone-else", "other-1")
	ours := managed(t, e, "demo", "demo-rasa-1")
	if err := e.ContainerStop(context.Background(), other, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.ContainerStop(context.Background(), ours, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	r := f.next(t)
	if r.Fetch || !strings.Contains(strings.Join(r.Reasons, ","), "demo-rasa-1") || strings.Contains(strings.Join(r.Reasons, ","), "other-1") {
		t.Errorf("event run %+v", r)
	}
}

func TestPausedContainerTriggersAHeal(t *testing.T) {
	e := memengine.New()
	f := newFake()
	start(t, Config{Pipeline: f, Events: e})
	f.next(t)
	waitSubscribed(t, e)
	id := managed(t, e, "demo", "demo-rasa-1")
	if err := e.Pause(id); err != nil {
		t.Fatal(err)
	}
	if r := f.next(t); !strings.Contains(r.Reasons[0], "pause") {
		t.Errorf("pause run %+v", r)
	}
}

func TestCutEventStreamReconnects(t *testing.T) {
	e := memengine.New()
	f := newFake()
	start(t, Config{Pipeline: f, Events: e, Reconnect: time.Millisecond})
	f.next(t)
	waitSubscribed(t, e)
	if n := e.CutEvents(); n != 1 {
		t.Fatalf("cut %d streams", n)
	}
	waitSubscribed(t, e)
	id := managed(t, e, "demo", "demo-rasa-1")
	if err := e.RemoveForce(id); err != nil {
		t.Fatal(err)
	}
	if r := f.next(t); !strings.HasPrefix(r.Reasons[0], "docker:") {
		t.Errorf("after reconnecting: %+v", r)
	}
}

// every is a schedule of a fixed period (cron's @every rounds up to a second).
type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }
