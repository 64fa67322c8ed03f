package memengine_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/memengine"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
)

// These tests run the real reconcile code (Prepare, Observe, MakePlan, Apply, Converge)
// against the in-memory Engine.

const project = "demo"

// rendered is a one-service project, as compose.Render would give it.
func rendered(image string, mods ...func(*types.ServiceConfig)) *compose.Rendered {
	web := types.ServiceConfig{Name: "web"}
	web.Image = image
	web.Labels = types.Labels{"tier": "front"}
	web.Networks = map[string]*types.ServiceNetworkConfig{"default": nil}
	for _, m := range mods {
		m(&web)
	}
	p := &types.Project{Name: project, Services: types.Services{"web": web},
		Networks: types.Networks{"default": {Name: project + "_default"}}}
	return &compose.Rendered{Project: p}
}

var applyOpts = reconcile.ApplyOptions{StableFor: time.Millisecond, HealthTimeout: 5 * time.Second}

// plan observes the Engine and plans what desired needs.
func plan(t *testing.T, e *memengine.Engine, desired reconcile.Desired) reconcile.Plan {
	t.Helper()
	observed, err := reconcile.Observe(ctx, e, project)
	must(t, err)
	return reconcile.MakePlan(desired, observed, reconcile.Options{Prune: true})
}

// apply plans and applies, and fails the test on any failed action.
func apply(t *testing.T, e *memengine.Engine, desired reconcile.Desired) reconcile.Plan {
	t.Helper()
	p := plan(t, e, desired)
	res := reconcile.Apply(ctx, e, desired, p, applyOpts)
	if err := res.Err(); err != nil {
		t.Fatalf("apply of\n%s: %v", p, err)
	}
	return p
}

// converged asserts that there is nothing left to do, at the cost of no mutating call.
func converged(t *testing.T, e *memengine.Engine, desired reconcile.Desired) {
	t.Helper()
	e.ResetCalls()
	if p := plan(t, e, desired); !p.Empty() {
		t.Fatalf("not converged:\n%s", p)
	}
	if m := e.Mutations(); len(m) != 0 {
		t.Fatalf("observing cost mutations %v", m)
	}
	// The three lists are made at once: their order is not fixed.
	if c := slices.Sorted(slices.Values(e.Calls())); strings.Join(c, " ") != "ContainerList NetworkList VolumeList" {
		t.Errorf("observing cost %v", c)
	}
}

func running(t *testing.T, e *memengine.Engine) container.InspectResponse {
	t.Helper()
	info := inspect(t, e, reconcile.ContainerName(project, "web"))
	if !info.State.Running || info.State.Paused {
		t.Fatalf("demo-web-1 is %s", info.State.Status)
	}
	return info
}

func TestReconcileSelfHeals(t *testing.T) {
	e := memengine.New()
	e.AllowPull("nginx:1.27")
	desired, err := reconcile.Prepare(ctx, e, rendered("nginx:1.27"), "main@sha1:1111")
	must(t, err)
	if c := e.Calls(); strings.Join(c, " ") != "ImageInspect ImagePull ImageInspect" {
		t.Errorf("prepare of a missing image: %v", c)
	}

	// First run: the network and the container.
	p := apply(t, e, desired)
	if got := p.String(); !strings.Contains(got, "network:demo_default") || !strings.Contains(got, "service:web") || len(p.Actions) != 2 {
		t.Fatalf("first plan:\n%s", got)
	}
	converged(t, e, desired)
	info := running(t, e)
	if info.Config.Labels[compose.LabelOwnHash] != desired.Services["web"].Hash || info.Config.Labels[compose.LabelConfigHash] != desired.Services["web"].ComposeHash || info.Config.Labels["tier"] != "front" ||
		info.Config.Labels[compose.LabelRevision] != "main@sha1:1111" {
		t.Errorf("labels %v", info.Config.Labels)
	}
	if ep := info.NetworkSettings.Networks["demo_default"]; ep == nil || !strings.HasPrefix(ep.IPAddress, "10.77.") || !contains(ep.Aliases, "web") {
		t.Errorf("endpoint %+v", ep)
	}

	// Paused by hand: replaced.
	must(t, e.Pause(info.ID))
	p = apply(t, e, desired)
	if len(p.Actions) != 1 || p.Actions[0].Kind != reconcile.KindRecreate || p.Actions[0].Reason != "container paused (self-heal)" {
		t.Fatalf("plan for a paused container:\n%s", p)
	}
	converged(t, e, desired)
	healed := running(t, e)
	if healed.ID == info.ID {
		t.Errorf("the paused container was kept")
	}
	if _, err := e.ContainerInspect(ctx, info.ID); !cerrdefs.IsNotFound(err) {
		t.Errorf("the paused container is left: %v", err)
	}

	// Died (no restart policy): started again, the same container.
	must(t, e.Kill(healed.ID, 2))
	p = apply(t, e, desired)
	if len(p.Actions) != 1 || p.Actions[0].Kind != reconcile.KindStart || p.Actions[0].Reason != "container exited (self-heal)" {
		t.Fatalf("plan for a dead container:\n%s", p)
	}
	converged(t, e, desired)
	if again := running(t, e); again.ID != healed.ID {
		t.Errorf("a start replaced the container")
	}

	// Stopped by hand: started again.
	must(t, e.ContainerStop(ctx, healed.ID, container.StopOptions{}))
	p = apply(t, e, desired)
	if len(p.Actions) != 1 || p.Actions[0].Kind != reconcile.KindStart {
		t.Fatalf("plan for a stopped container:\n%s", p)
	}
	converged(t, e, desired)

	// Removed by hand: created again.
	must(t, e.RemoveForce(healed.ID))
	p = apply(t, e, desired)
	if len(p.Actions) != 1 || p.Actions[0].Kind != reconcile.KindCreate || p.Actions[0].Reason != reconcile.ReasonMissing {
		t.Fatalf("plan for a removed container:\n%s", p)
	}
	converged(t, e, desired)

	// Down removes everything, network last.
	observed, err := reconcile.Observe(ctx, e, project)
	must(t, err)
	down := reconcile.DownPlan(project, observed, true)
	if err := reconcile.Apply(ctx, e, desired, down, applyOpts).Err(); err != nil {
		t.Fatalf("down: %v", err)
	}
	if got := list(t, e, true); len(got) != 0 {
		t.Errorf("left after down: %v", names(got))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func withLabel(v string) func(*types.ServiceConfig) {
	return func(s *types.ServiceConfig) { s.Labels["tier"] = v }
}

func withPorts(s *types.ServiceConfig) {
	s.Ports = []types.ServicePortConfig{{Target: 80, Published: "8080", Protocol: "tcp"}}
}

func TestReconcileConvergeAndReplace(t *testing.T) {
	e := memengine.New()
	e.AddImageWithHealthcheck("rasa/rasa:3.6", "CMD", "true") // healthy at once: no StableFor wait
	opts := reconcile.RunOptions{Options: reconcile.Options{Prune: true}, ApplyOptions: applyOpts}
	converge := func(r *compose.Rendered, rev string) reconcile.Run {
		t.Helper()
		run, err := reconcile.Converge(ctx, e, r, rev, opts)
		must(t, err)
		if err := run.Result.Err(); err != nil {
			t.Fatalf("converge:\n%s: %v", run.Plan, err)
		}
		return run
	}
	run := converge(rendered("rasa/rasa:3.6"), "main@sha1:1")
	if len(run.Plan.Actions) != 2 {
		t.Fatalf("first plan:\n%s", run.Plan)
	}
	e.ResetCalls()
	if run = converge(rendered("rasa/rasa:3.6"), "main@sha1:2"); !run.Plan.Empty() {
		t.Fatalf("second run (a new revision, same content) planned:\n%s", run.Plan)
	}
	if m := e.Mutations(); len(m) != 0 {
		t.Errorf("a converged run cost mutations %v", m)
	}
	old := running(t, e)

	// A changed service whose start fails: rolled back, the old container serves on.
	e.FailNext("ContainerStart", errors.New("boom"))
	run, err := reconcile.Converge(ctx, e, rendered("rasa/rasa:3.6", withLabel("back")), "main@sha1:3", opts)
	must(t, err)
	if a := run.Result.Actions; len(a) != 1 || a[0].Outcome != reconcile.OutcomeFailed || !a[0].RolledBack || !strings.Contains(a[0].Err.Error(), "boom") {
		t.Fatalf("failed replace: %+v", run.Result.Actions)
	}
	if now := running(t, e); now.ID != old.ID {
		t.Errorf("the rollback did not keep the old container")
	}
	if got := list(t, e, true); len(got) != 1 {
		t.Errorf("left after the rollback: %v", names(got))
	}

	// The same change without the fault: replaced side by side.
	run = converge(rendered("rasa/rasa:3.6", withLabel("back")), "main@sha1:3")
	if len(run.Plan.Actions) != 1 || run.Plan.Actions[0].Kind != reconcile.KindRecreate {
		t.Fatalf("replace plan:\n%s", run.Plan)
	}
	replaced := running(t, e)
	if replaced.ID == old.ID || replaced.Config.Labels["tier"] != "back" || replaced.Name != "/demo-web-1" {
		t.Errorf("replacement %s %s %v", replaced.ID, replaced.Name, replaced.Config.Labels)
	}

	// With a host port the old container stops before the new one starts (side by
	// side, the new one could not bind the port: the Engine would refuse the start);
	// the new one is created first, while the old one serves.
	converge(rendered("rasa/rasa:3.6", withPorts), "main@sha1:4")
	run = converge(rendered("rasa/rasa:3.6", withPorts, withLabel("ported")), "main@sha1:5")
	if len(run.Plan.Actions) != 1 || len(run.Plan.Actions[0].Steps) < 3 || run.Plan.Actions[0].Steps[0].Op != reconcile.OpCreate ||
		run.Plan.Actions[0].Steps[1].Op != reconcile.OpStop || run.Plan.Actions[0].Steps[2].Op != reconcile.OpStart {
		t.Fatalf("host-port replace plan:\n%s", run.Plan)
	}
	if p := running(t, e).NetworkSettings.Ports; len(p) != 1 {
		t.Errorf("ports %v", p)
	}
	if run = converge(rendered("rasa/rasa:3.6", withPorts, withLabel("ported")), "main@sha1:5"); !run.Plan.Empty() {
		t.Errorf("not converged:\n%s", run.Plan)
	}

	// An unhealthy replacement is refused, and the old container started again.
	before := running(t, e)
	must(t, e.SetImageHealth("rasa/rasa:3.6", container.Unhealthy))
	run, err = reconcile.Converge(ctx, e, rendered("rasa/rasa:3.6", withPorts, withLabel("broken")), "main@sha1:6", opts)
	must(t, err)
	if a := run.Result.Actions; len(a) != 1 || a[0].Outcome != reconcile.OutcomeFailed || !a[0].RolledBack || !strings.Contains(a[0].Err.Error(), "unhealthy") {
		t.Fatalf("unhealthy replace: %+v", run.Result.Actions)
	}
	if now := running(t, e); now.ID != before.ID || now.State.Health.Status != container.Healthy {
		t.Errorf("after the rollback %s serves, %s", now.ID, now.State.Health.Status)
	}
	must(t, e.SetImageHealth("rasa/rasa:3.6", ""))
	converge(rendered("rasa/rasa:3.6", withPorts, withLabel("broken")), "main@sha1:6")

	// An image that cannot be had needs a person, and changes nothing.
	e.ResetCalls()
	_, err = reconcile.Converge(ctx, e, rendered("private/rasa:9"), "main@sha1:7", opts)
	var np *reconcile.NeedsPersonError
	if !errors.As(err, &np) || !strings.Contains(err.Error(), "pull access denied") {
		t.Fatalf("unpullable image: %v", err)
	}
	if m := e.Mutations(); strings.Join(m, " ") != "ImagePull" {
		t.Errorf("mutations of a failed prepare: %v", m)
	}
}

// TestSideBySideKeepsAYoungContainerServing: a replace that comes right after the last
// one stops the old container only once it has run StableFor. The Engine names a new
// container in its DNS a moment before its address answers, so a client that resolved
// it then connects on its retry, a second or so later: the container must still be
// there, even when the next change has already come.
func TestSideBySideKeepsAYoungContainerServing(t *testing.T) {
	e := memengine.New()
	e.AddImageWithHealthcheck("rasa/rasa:3.6", "CMD", "true") // healthy at once
	opts := reconcile.RunOptions{Options: reconcile.Options{Prune: true}, ApplyOptions: applyOpts}
	opts.StableFor = 300 * time.Millisecond
	converge := func(r *compose.Rendered, rev string) {
		t.Helper()
		run, err := reconcile.Converge(ctx, e, r, rev, opts)
		must(t, err)
		if err := run.Result.Err(); err != nil {
			t.Fatalf("converge:\n%s: %v", run.Plan, err)
		}
	}
	// A container that has served an hour is replaced at once.
	e.SetClock(func() time.Time { return time.Now().Add(-time.Hour) })
	converge(rendered("rasa/rasa:3.6"), "main@sha1:1")
	e.SetClock(time.Now)
	begin := time.Now()
	converge(rendered("rasa/rasa:3.6", withLabel("next")), "main@sha1:2")
	if took := time.Since(begin); took >= opts.StableFor {
		t.Errorf("replacing a container that has served an hour took %s", took)
	}
	// Its replacement, replaced at once, serves StableFor first.
	young := running(t, e)
	started, err := time.Parse(time.RFC3339Nano, young.State.StartedAt)
	must(t, err)
	converge(rendered("rasa/rasa:3.6", withLabel("again")), "main@sha1:3")
	if served := time.Since(started); served < opts.StableFor {
		t.Errorf("the old container was withdrawn after serving %s, less than StableFor %s", served, opts.StableFor)
	}
	if now := running(t, e); now.ID == young.ID || now.Config.Labels["tier"] != "again" {
		t.Errorf("not replaced: %s %v", now.ID, now.Config.Labels)
	}
}

// TestSideBySideRollbackAfterRenames: a replace that fails before the new container
// has the service's name (its start) leaves the old container serving under its name;
// once the new one has the name the change is done, so a failure to withdraw the old
// one (its stop) rolls nothing back: the action says so, and the next run removes it.
func TestSideBySideRollbackAfterRenames(t *testing.T) {
	e := memengine.New()
	e.AddImageWithHealthcheck("rasa/rasa:3.6", "CMD", "true") // healthy at once
	opts := reconcile.RunOptions{Options: reconcile.Options{Prune: true}, ApplyOptions: applyOpts}
	run, err := reconcile.Converge(ctx, e, rendered("rasa/rasa:3.6"), "main@sha1:1", opts)
	must(t, err)
	must(t, run.Result.Err())
	old := running(t, e)

	e.FailNext("ContainerStart", errors.New("boom"))
	run, err = reconcile.Converge(ctx, e, rendered("rasa/rasa:3.6", withLabel("back")), "main@sha1:2", opts)
	must(t, err)
	if a := run.Result.Actions; len(a) != 1 || a[0].Outcome != reconcile.OutcomeFailed || !a[0].RolledBack || !strings.Contains(a[0].Err.Error(), "boom") {
		t.Fatalf("start failing: %+v", run.Result.Actions)
	}
	if now := running(t, e); now.ID != old.ID || now.Name != "/demo-web-1" {
		t.Errorf("start failing: %s %s serves", now.ID, now.Name)
	}
	if got := list(t, e, true); len(got) != 1 {
		t.Errorf("start failing left %v", names(got))
	}

	e.FailNext("ContainerStop", errors.New("boom"))
	run, err = reconcile.Converge(ctx, e, rendered("rasa/rasa:3.6", withLabel("back")), "main@sha1:2", opts)
	must(t, err)
	if a := run.Result.Actions; len(a) != 1 || a[0].Outcome != reconcile.OutcomeFailed || a[0].RolledBack ||
		!strings.Contains(a[0].Err.Error(), "boom") || !strings.Contains(a[0].Err.Error(), "the next run removes the old one") {
		t.Fatalf("stop failing: %+v", run.Result.Actions)
	}
	serving, err := e.ContainerInspect(ctx, "demo-web-1")
	must(t, err)
	if serving.ID == old.ID || serving.Config.Labels["tier"] != "back" {
		t.Errorf("stop failing: the service's name is not the new container's: %s %v", serving.ID, serving.Config.Labels)
	}
	run, err = reconcile.Converge(ctx, e, rendered("rasa/rasa:3.6", withLabel("back")), "main@sha1:2", opts)
	must(t, err)
	must(t, run.Result.Err())
	if got := list(t, e, true); len(got) != 1 || got[0].ID != serving.ID {
		t.Errorf("the next run left %v", names(got))
	}
}
