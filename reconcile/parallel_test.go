package reconcile

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"

	"github.com/rasa-gitops/rasa-gitops/internal/memengine"
)

// gatedEngine holds the starts of the gated containers until all of them are in
// flight at once (or a bound passes, which the test reports): a sequential Apply can
// never have them all in flight. It records the order in which starts return.
type gatedEngine struct {
	*memengine.Engine
	mu      sync.Mutex
	gated   map[string]bool // container name suffixes held at the gate
	waiting int
	open    chan struct{}
	timeout bool
	started []string
	onStart func(name string) // called as each start returns
}

func (g *gatedEngine) ContainerStart(ctx context.Context, id string, opts container.StartOptions) error {
	info, err := g.Engine.ContainerInspect(ctx, id)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(info.Name, "/")
	if g.isGated(name) {
		g.mu.Lock()
		g.waiting++
		if g.waiting == len(g.gated) {
			close(g.open)
		}
		g.mu.Unlock()
		select {
		case <-g.open:
		case <-time.After(10 * time.Second):
			g.mu.Lock()
			g.timeout = true
			g.mu.Unlock()
		}
	}
	err = g.Engine.ContainerStart(ctx, id, opts)
	g.mu.Lock()
	g.started = append(g.started, name)
	g.mu.Unlock()
	if g.onStart != nil {
		g.onStart(name)
	}
	return err
}

func (g *gatedEngine) isGated(name string) bool {
	for s := range g.gated {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// TestApplyRunsIndependentServicesTogether: three services without depends_on are
// started at the same time (all three starts are in flight at once), and a service
// that depends on one of them starts only after it.
func TestApplyRunsIndependentServicesTogether(t *testing.T) {
	m := newMemProject(t, "services:\n"+
		"  a: {image: rasa-gitops/rasa-stub:dev}\n"+
		"  b: {image: rasa-gitops/rasa-stub:dev}\n"+
		"  c: {image: rasa-gitops/rasa-stub:dev}\n"+
		"  d: {image: rasa-gitops/rasa-stub:dev, depends_on: [a]}\n")
	g := &gatedEngine{Engine: m.e, gated: map[string]bool{"-a-1": true, "-b-1": true, "-c-1": true}, open: make(chan struct{})}
	run, err := Converge(context.Background(), g, m.render(), "main@sha1:test", RunOptions{Options: Options{Prune: true},
		ApplyOptions: ApplyOptions{HealthTimeout: 20 * time.Second, StableFor: time.Millisecond, Parallel: 4}})
	if err != nil || run.Result.Err() != nil {
		t.Fatalf("converge: %v %v", err, run.Result.Err())
	}
	if g.timeout {
		t.Fatal("the three independent services were not started together")
	}
	pos := map[string]int{}
	for i, name := range g.started {
		pos[name[strings.LastIndex(name[:len(name)-2], "-")+1:len(name)-2]] = i
	}
	if pos["d"] < pos["a"] {
		t.Errorf("d (depends on a) started before a: %v", g.started)
	}
	// The result stays in plan order whatever order the actions ended in.
	for i, r := range run.Result.Actions {
		if r.Action.Target != run.Plan.Actions[i].Target {
			t.Fatalf("result %d is %s, plan says %s", i, r.Action.Target, run.Plan.Actions[i].Target)
		}
	}
}

// TestPrerequisites: network and volume actions are barriers; a service waits for its
// own earlier action and its dependencies'.
func TestPrerequisites(t *testing.T) {
	plan := Plan{Actions: []Action{
		{Target: "network:n"},               // 0
		{Target: "service:a", Service: "a"}, // 1
		{Target: "service:b", Service: "b"}, // 2
		{Target: "service:d", Service: "d"}, // 3 depends on a
		{Target: "service:a", Service: "a"}, // 4 (a second action of a)
		{Target: "volume:v"},                // 5
		{Target: "service:c", Service: "c"}, // 6
	}}
	desired := Desired{Services: map[string]DesiredService{"d": {}}}
	svc := desired.Services["d"]
	svc.Config.DependsOn = types.DependsOnConfig{"a": {}}
	desired.Services["d"] = svc
	got := prerequisites(plan, desired)
	want := [][]int{{}, {0}, {0}, {0, 1}, {0, 1}, {1, 2, 3, 4, 0}, {5}}
	for i := range want {
		if !sameInts(got[i], want[i]) {
			t.Errorf("action %d (%s) waits for %v, want %v", i, plan.Actions[i].Target, got[i], want[i])
		}
	}
}

func sameInts(a, b []int) bool {
	m := map[int]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

// TestParallelOneRunsInOrder: with one slot no two actions overlap, health waits
// included: each service's start comes after the previous service's action ended.
func TestParallelOneRunsInOrder(t *testing.T) {
	m := newMemProject(t, "services:\n  a: {image: rasa-gitops/rasa-stub:dev}\n  b: {image: rasa-gitops/rasa-stub:dev}\n  c: {image: rasa-gitops/rasa-stub:dev}\n")
	g := &gatedEngine{Engine: m.e, open: make(chan struct{})} // nothing gated: it only records starts
	var mu sync.Mutex
	var events []string
	g.onStart = func(name string) { mu.Lock(); events = append(events, "start "+name); mu.Unlock() }
	progress := func(r ActionResult) { mu.Lock(); events = append(events, "done "+r.Action.Target); mu.Unlock() }
	run, err := Converge(context.Background(), g, m.render(), "main@sha1:test", RunOptions{Options: Options{Prune: true},
		ApplyOptions: ApplyOptions{HealthTimeout: 20 * time.Second, StableFor: 50 * time.Millisecond, Parallel: 1, Progress: progress}})
	if err != nil || run.Result.Err() != nil {
		t.Fatalf("converge: %v %v", err, run.Result.Err())
	}
	open := 0 // actions started and not done
	for _, e := range events {
		if strings.HasPrefix(e, "start ") {
			if open++; open > 1 {
				t.Fatalf("two actions overlapped with --parallel 1: %v", events)
			}
		} else if open > 0 {
			open--
		}
	}
}
