package reconcile

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/rasa-gitops/rasa-gitops/internal/memengine"
)

// heldStop holds every container stop until release is closed, and can fail it.
type heldStop struct {
	*memengine.Engine
	release chan struct{}
	fail    error
}

func (h *heldStop) ContainerStop(ctx context.Context, id string, opts container.StopOptions) error {
	<-h.release
	if h.fail != nil {
		return h.fail
	}
	return h.Engine.ContainerStop(ctx, id, opts)
}

// replaceWithRetire converges a one-service project, changes the service, and
// converges again through h with ApplyOptions.Retire set.
func replaceWithRetire(t *testing.T, h *heldStop, m *memProject) (Run, *Retirements) {
	t.Helper()
	m.mustConverge()
	m.withCompose("services:\n  web: {image: rasa-gitops/rasa-stub:dev, environment: {V: \"2\"}}\n")
	retire := &Retirements{}
	run, err := Converge(context.Background(), h, m.render(), "main@sha1:test", RunOptions{Options: Options{Prune: true},
		ApplyOptions: ApplyOptions{HealthTimeout: 5 * time.Second, StableFor: time.Millisecond, Retire: retire}})
	if err != nil || run.Result.Err() != nil {
		t.Fatalf("converge: %v %v", err, run.Result.Err())
	}
	return run, retire
}

// TestReplaceRetiresTheOldContainerInTheBackground: with ApplyOptions.Retire, a
// side-by-side replace is done (the new container has the service's name) while the
// old container's stop is still held, and Retire.Wait returns once it is removed.
func TestReplaceRetiresTheOldContainerInTheBackground(t *testing.T) {
	m := newMemProject(t, "services:\n  web: {image: rasa-gitops/rasa-stub:dev}\n")
	h := &heldStop{Engine: m.e, release: make(chan struct{})}
	close(h.release) // the first converge stops nothing
	m.mustConverge()
	h.release = make(chan struct{})
	before := m.inspect(ContainerName(memName, "web")).ID

	run, retire := replaceWithRetire(t, h, m)
	if len(run.Result.Actions) != 1 || run.Result.Actions[0].Outcome != OutcomeDone {
		t.Fatalf("result %+v", run.Result.Actions)
	}
	if now := m.inspect(ContainerName(memName, "web")).ID; now == before {
		t.Fatal("the service's name is still the old container's when Apply returned")
	}
	if old := m.inspect(oldName(memName, "web")); old.State == nil || !old.State.Running {
		t.Fatalf("the old container is not running under its -old name while its stop is held: %+v", old.State)
	}
	close(h.release)
	if err := retire.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.e.ContainerInspect(context.Background(), before); err == nil {
		t.Fatal("the old container is still there after Retire.Wait")
	}
}

// TestRetireFailureLeavesTheOldContainerToTheNextRun: a retirement that fails is
// reported by Retire.Wait, and the next converge removes the old container.
func TestRetireFailureLeavesTheOldContainerToTheNextRun(t *testing.T) {
	m := newMemProject(t, "services:\n  web: {image: rasa-gitops/rasa-stub:dev}\n")
	h := &heldStop{Engine: m.e, release: make(chan struct{}), fail: errors.New("engine said no")}
	close(h.release)
	_, retire := replaceWithRetire(t, h, m)
	err := retire.Wait()
	if err == nil || !strings.Contains(err.Error(), "engine said no") || !strings.Contains(err.Error(), "the next run removes the old one") {
		t.Fatalf("Retire.Wait = %v", err)
	}
	plan := m.mustConverge()
	if !strings.Contains(plan.String(), "remove") {
		t.Fatalf("the next run does not remove the old container:\n%s", plan)
	}
	if _, err := m.e.ContainerInspect(context.Background(), oldName(memName, "web")); err == nil {
		t.Fatal("the old container is still there after the next run")
	}
}

// slowStartEngine is an Engine whose container starts take delay (the Engine's own
// slowness, simulated) and which records when each start ended and each stop was done.
type slowStartEngine struct {
	*memengine.Engine
	delay time.Duration
	mu    sync.Mutex
	start map[string]time.Time
	stop  map[string]time.Time
}

func (e *slowStartEngine) ContainerStart(ctx context.Context, id string, opts container.StartOptions) error {
	time.Sleep(e.delay) // the simulated Engine latency, not synchronisation
	err := e.Engine.ContainerStart(ctx, id, opts)
	e.mu.Lock()
	e.start[id] = time.Now()
	e.mu.Unlock()
	return err
}

func (e *slowStartEngine) ContainerStop(ctx context.Context, id string, opts container.StopOptions) error {
	err := e.Engine.ContainerStop(ctx, id, opts)
	e.mu.Lock()
	e.stop[id] = time.Now()
	e.mu.Unlock()
	return err
}

// TestSlowStartKeepsTheOldContainerServing: when the new container's start is slow,
// the Engine's DNS named it long before it answered, and clients that resolved it then
// fall back to the old container after their connection timeout; so the old one is
// stopped no sooner than StableFor after the new one's start ended, even though it
// has itself run longer than StableFor.
func TestSlowStartKeepsTheOldContainerServing(t *testing.T) {
	m := newMemProject(t, "services:\n  web: {image: rasa-gitops/rasa-stub:dev}\n")
	m.e.SetClock(func() time.Time { return time.Now().Add(-time.Hour) }) // the old container has served an hour
	m.mustConverge()
	m.e.SetClock(time.Now)
	old := m.inspect(ContainerName(memName, "web")).ID
	e := &slowStartEngine{Engine: m.e, delay: slowStart, start: map[string]time.Time{}, stop: map[string]time.Time{}}
	m.withCompose("services:\n  web: {image: rasa-gitops/rasa-stub:dev, environment: {V: \"2\"}}\n")
	stableFor := slowStart + time.Second
	run, err := Converge(context.Background(), e, m.render(), "main@sha1:test", RunOptions{Options: Options{Prune: true},
		ApplyOptions: ApplyOptions{HealthTimeout: 5 * time.Second, StableFor: stableFor}})
	if err != nil || run.Result.Err() != nil {
		t.Fatalf("converge: %v %v", err, run.Result.Err())
	}
	now := m.inspect(ContainerName(memName, "web")).ID
	e.mu.Lock()
	defer e.mu.Unlock()
	started, stopped := e.start[now], e.stop[old]
	if started.IsZero() || stopped.IsZero() {
		t.Fatalf("new container's start %v, old container's stop %v", started, stopped)
	}
	if held := stopped.Sub(started); held < stableFor {
		t.Errorf("the old container stopped %s after the slow start of the new one; want at least %s", held, stableFor)
	}
}
