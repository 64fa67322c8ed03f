package reconcile

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
)

// modelStack is a stack whose Rasa stand-ins pull from an in-process model server
// listening on the Docker bridge gateway.
type modelStack struct {
	*stack
	side struct {
		store *modelserver.Store
		tags  *modelserver.Tags
		obs   *modelserver.Observed
	}
}

func newModelStack(t testing.TB, envs map[string]string) *modelStack {
	t.Helper()
	s := &modelStack{stack: newStack(t, envs)}
	state := t.TempDir()
	var err error
	if s.side.store, err = modelserver.NewStore(state); err != nil {
		t.Fatal(err)
	}
	if s.side.tags, err = modelserver.OpenTags(state); err != nil {
		t.Fatal(err)
	}
	s.side.obs = modelserver.NewObserved()
	ln, err := net.Listen("tcp", testengine.HostAddress(t, s.cli)+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: &modelserver.Handler{Tags: s.side.tags, Store: s.side.store, Token: "model-token", Observed: s.side.obs}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	s.files["rasa-gitops.yaml"] = fmt.Sprintf("version: 1\nproject: %s\nrasa:\n  image: %s\n  pullInterval: 1s\nmodelServer:\n  url: http://host.docker.internal:%d\n", s.project, testengine.StubImage, port)
	for name, content := range testengine.QuickstartModels(t) {
		s.files[name] = content
	}
	return s
}

func (s *modelStack) convergeModels(nudge bool) []ModelStatus {
	s.t.Helper()
	statuses, err := ConvergeModels(context.Background(), s.cli, s.side.store, s.side.tags, s.render(), ModelOptions{Nudge: nudge, SyncTimeout: 30 * time.Second})
	if err != nil {
		s.t.Fatal(err)
	}
	return statuses
}

func synced(statuses []ModelStatus) string {
	var lines []string
	for _, st := range statuses {
		lines = append(lines, st.String())
	}
	return strings.Join(lines, "\n")
}

func TestEngineModelPromotionWithoutRestart(t *testing.T) {
	t.Parallel()
	s := newModelStack(t, map[string]string{"production": "model: moodbot-v1\n", "experimental": "model: moodbot-v2\n", "worker": ""})
	s.mustConverge()
	first := s.convergeModels(true)
	want := "model:experimental  declared moodbot-v2, serves moodbot-v2.tar.gz: model-synced\n" +
		"model:production  declared moodbot-v1, serves moodbot-v1.tar.gz: model-synced\n" +
		"model:worker  declared (no model), serves (none): model-synced"
	if got := synced(first); got != want {
		t.Fatalf("first sync:\n%s\nwant:\n%s", got, want)
	}
	ids := map[string]string{}
	for name, c := range s.containers() {
		ids[name] = c.ID
	}

	// Promote moodbot-v2 to production: a one-line change.
	s.files["environments/production.yaml"] = "model: moodbot-v2\n"
	if plan := s.mustConverge(); !plan.Empty() {
		t.Fatalf("a retag planned container work:\n%s", plan)
	}
	start := time.Now()
	promoted := s.convergeModels(true)
	t.Logf("promote → model-synced with nudge: %s", time.Since(start))
	if got := synced(promoted); !strings.Contains(got, "model:production  declared moodbot-v2, serves moodbot-v2.tar.gz: model-synced") {
		t.Fatalf("after promotion:\n%s", got)
	}
	for _, st := range promoted {
		if st.Retagged != (st.Environment == "production") {
			t.Errorf("%s retagged = %v", st.Environment, st.Retagged)
		}
	}
	for name, c := range s.containers() {
		if ids[name] != c.ID {
			t.Errorf("%s was restarted by a retag", name)
		}
	}
	// The model server sees production send back the new model's ETag.
	v2 := s.render().Models["moodbot-v2"].SHA256
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if seen, ok := s.side.obs.Get("production"); ok && seen.Digest == v2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if seen, _ := s.side.obs.Get("production"); seen.Digest != v2 {
		t.Errorf("observed If-None-Match of production = %q, want %s", seen.Digest, v2)
	}
}

func TestEngineModelPulledWithinIntervalWithoutNudge(t *testing.T) {
	t.Parallel()
	s := newModelStack(t, map[string]string{"production": "model: moodbot-v1\n"})
	s.mustConverge()
	s.convergeModels(true)
	s.files["environments/production.yaml"] = "model: moodbot-v2\n"
	got := synced(s.convergeModels(false))
	if !strings.Contains(got, "serves moodbot-v2.tar.gz: model-synced") {
		t.Fatalf("without a nudge the stand-in did not pull within its 1s interval:\n%s", got)
	}
}

// inspectCounter is an Engine that counts container inspects and lists.
type inspectCounter struct {
	Engine
	inspects, lists atomic.Int32
}

func (e *inspectCounter) ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error) {
	e.inspects.Add(1)
	return e.Engine.ContainerInspect(ctx, id)
}

func (e *inspectCounter) ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error) {
	e.lists.Add(1)
	return e.Engine.ContainerList(ctx, options)
}

// TestEngineServedModelsListsOnce: asking every Rasa server what it serves finds
// them all with one container list, not an inspect each (100 inspects made a no-op
// apply of 100 environments wait on the Engine).
func TestEngineServedModelsListsOnce(t *testing.T) {
	t.Parallel()
	s := newModelStack(t, map[string]string{"production": "model: moodbot-v1\n", "worker": "model: moodbot-v2\n"})
	s.mustConverge()
	s.convergeModels(true)
	engine := &inspectCounter{Engine: s.cli}
	loader := NewLoader(engine, LoaderOptions{})
	defer loader.Close()
	r := s.render()
	served, errs := loader.ServedModels(context.Background(), r.Project.Name, r.Environments)
	if len(errs) > 0 || served["production"] != "moodbot-v1.tar.gz" || served["worker"] != "moodbot-v2.tar.gz" {
		t.Fatalf("served %v, errors %v", served, errs)
	}
	if n, l := engine.inspects.Load(), engine.lists.Load(); n != 0 || l != 1 {
		t.Fatalf("%d container inspects and %d lists to ask 2 servers; want 0 and 1", n, l)
	}
}

// TestEngineStillConverged: the snapshot check of a no-op apply answers true while
// every Rasa server serves its model, false once one serves another, and finds the
// servers in the observation's container list (it inspected each container, one
// after another).
func TestEngineStillConverged(t *testing.T) {
	t.Parallel()
	s := newModelStack(t, map[string]string{"production": "model: moodbot-v1\n", "worker": "model: moodbot-v2\n"})
	s.mustConverge()
	statuses := s.convergeModels(true)
	r := s.render()
	run, err := Converge(context.Background(), s.cli, r, "main@sha1:test", RunOptions{Options: Options{Prune: true}})
	if err != nil || !run.Plan.Empty() {
		t.Fatalf("converge again: %v\n%s", err, run.Plan)
	}
	snap := Snapshot(run.Desired, r, "fingerprint", s.side.tags.FileDigest(), statuses)
	urls := map[string]string{}
	for _, env := range snap.Environments {
		if !strings.HasPrefix(env.URL, "http://") {
			t.Fatalf("%s: no address recorded (%q)", env.Name, env.URL)
		}
		urls[env.Name] = env.URL
	}
	engine := &inspectCounter{Engine: s.cli}
	client := &http.Client{Timeout: 5 * time.Second}
	if !StillConverged(context.Background(), engine, snap, Options{Prune: true}, s.side.tags.FileDigest(), nil, client) {
		t.Fatal("a converged host is not StillConverged")
	}
	if n, l := engine.inspects.Load(), engine.lists.Load(); n != 0 || l != 1 {
		t.Fatalf("%d container inspects and %d lists to check 2 Rasa servers; want 0 and the observation's 1", n, l)
	}
	// Recorded addresses that the observation does not confirm are not believed: with
	// production's and worker's swapped (each then answers with the other's model),
	// the servers are asked again where the containers are.
	for i := range snap.Environments {
		snap.Environments[i].URL = urls[map[string]string{"production": "worker", "worker": "production"}[snap.Environments[i].Name]]
	}
	if !StillConverged(context.Background(), engine, snap, Options{Prune: true}, s.side.tags.FileDigest(), nil, client) {
		t.Fatal("answers from addresses the observation does not confirm were believed")
	}
	for i := range snap.Environments {
		snap.Environments[i].URL = urls[snap.Environments[i].Name]
		if snap.Environments[i].Name == "worker" {
			snap.Environments[i].ModelFile = "moodbot-v1.tar.gz"
		}
	}
	if StillConverged(context.Background(), engine, snap, Options{Prune: true}, s.side.tags.FileDigest(), nil, client) {
		t.Fatal("StillConverged although worker serves another model than the snapshot's")
	}
}
