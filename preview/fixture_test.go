package preview

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/memengine"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/pipeline"
	"github.com/rasa-gitops/rasa-gitops/policy"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

const stubImage = "rasa-gitops/rasa-stub:unit"

// fixture is a host converged by a real pipeline on the in-memory Engine, with a real
// SQLite state, model store and tag table, and Rasa servers that load what the tag
// table names.
type fixture struct {
	t        testing.TB
	stateDir string
	engine   *memengine.Engine
	st       *state.Store
	store    *modelserver.Store
	tags     *modelserver.Tags
	pol      *policy.Policy
	p        *pipeline.Pipeline
	src      *fixedSource
	clock    time.Time
	files    map[string]string
	revs     int

	mu     sync.Mutex
	served map[string]string
}

type fixedSource struct {
	mu sync.Mutex
	in pipeline.Input
}

func (s *fixedSource) Next(context.Context, bool) (pipeline.Input, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in, true, nil
}

func newFixture(t testing.TB, envs map[string]string, pol *policy.Policy) *fixture {
	t.Helper()
	f := &fixture{t: t, stateDir: t.TempDir(), engine: memengine.New(), pol: pol, src: &fixedSource{}, files: testengine.QuickstartModels(t),
		clock: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), served: map[string]string{}} // a Saturday
	f.engine.AddImageWithHealthcheck(stubImage, "CMD", "true")
	f.files["rasa-gitops.yaml"] = "version: 1\nproject: unit\nrasa:\n  image: " + stubImage + "\nmodelServer:\n  url: http://host.docker.internal:8080\n"
	for env, body := range envs {
		f.files["environments/"+env+".yaml"] = body
	}
	var err error
	if f.st, err = state.Open(context.Background(), f.stateDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	if f.store, err = modelserver.NewStore(f.stateDir); err != nil {
		t.Fatal(err)
	}
	if f.tags, err = modelserver.OpenTags(f.stateDir); err != nil {
		t.Fatal(err)
	}
	rasa := httptest.NewServer(http.HandlerFunc(f.rasa))
	t.Cleanup(rasa.Close)
	f.p = pipeline.New(pipeline.Config{
		Source: f.src, Policy: pol, State: f.st, Engine: f.engine, Store: f.store, Tags: f.tags, Render: f.render,
		Run: reconcile.RunOptions{Options: reconcile.Options{Prune: true}, ApplyOptions: reconcile.ApplyOptions{HealthTimeout: 5 * time.Second, StableFor: time.Millisecond}},
		Loader: reconcile.LoaderOptions{Nudge: true, Timeout: 5 * time.Second, Backoff: time.Hour,
			Address: func(_ context.Context, _ string, env compose.RenderedEnvironment) (string, error) {
				return rasa.URL + "/" + env.Name, nil
			}},
		Now: func() time.Time { return f.clock },
	})
	t.Cleanup(f.p.Close)
	return f
}

// rasa is every environment's Rasa server (/<env>/status, /<env>/model).
func (f *fixture) rasa(w http.ResponseWriter, r *http.Request) {
	env, path, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && path == "status" && f.served[env] != "":
		json.NewEncoder(w).Encode(map[string]string{"model_file": "/app/models/" + f.served[env]})
	case r.Method == http.MethodPut && path == "model":
		tag, _ := f.tags.Get(env)
		f.served[env] = tag.Model + ".tar.gz"
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodDelete && path == "model":
		f.served[env] = ""
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusConflict)
	}
}

func (f *fixture) render(ctx context.Context, dir string) (pipeline.Rendering, error) {
	d, err := compose.Load(dir, compose.LoadOptions{Env: map[string]string{}})
	if err != nil {
		return pipeline.Rendering{}, err
	}
	opts := compose.RenderOptions{ModelToken: "model-token-unit", DefaultToken: "rasa-token-unit", GeneratedDir: filepath.Join(f.stateDir, "generated", d.Project)}
	r, err := compose.Render(ctx, d, opts)
	return pipeline.Rendering{Decl: d, Opts: opts, Rendered: r}, err
}

// commit writes the files as a new revision (unsigned: it comes from a directory).
func (f *fixture) commit() pipeline.Input {
	f.t.Helper()
	f.revs++
	dir := filepath.Join(f.t.TempDir(), "rev")
	testengine.WriteFiles(f.t, dir, f.files)
	id := strings.Repeat(string(rune('0'+f.revs)), 40)
	return pipeline.Input{Revision: "main@sha1:" + id, ID: id, Tree: id, Short: "main@sha1:" + id[:12], Author: "Dev <dev@example.com>", Dir: dir}
}

// apply runs a revision through the pipeline and waits for its model loads.
func (f *fixture) apply(in pipeline.Input) pipeline.Report {
	f.t.Helper()
	f.src.mu.Lock()
	f.src.in = in
	f.src.mu.Unlock()
	return f.p.Run(context.Background(), pipeline.Request{Reasons: []string{"test"}, Fetch: true, WaitModels: true})
}

func (f *fixture) host() Host {
	return Host{Render: f.render, Engine: f.engine, Store: f.store, Tags: f.tags, State: f.st, Policy: f.pol,
		Options: reconcile.Options{Prune: true}, Now: func() time.Time { return f.clock }}
}

// mustPolicy loads a policy file; files are the key rings it names.
func mustPolicy(t testing.TB, body string, files map[string]string) *policy.Policy {
	t.Helper()
	dir := t.TempDir()
	testengine.WriteFiles(t, dir, map[string]string{"policy.yaml": body})
	testengine.WriteFiles(t, dir, files)
	p, err := policy.Load(filepath.Join(dir, "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// golden compares got with testdata/<name>, rewriting it under -update.
func golden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
