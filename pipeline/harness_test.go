package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/memengine"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/policy"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

const stubImage = "rasa-gitops/rasa-stub:unit"

// fakeRasa is a Rasa server's HTTP API: GET /status, PUT /model (loads the model the
// tag table names, unless the model is broken), DELETE /model.
type fakeRasa struct {
	env  string
	h    *harness
	srv  *httptest.Server
	mu   sync.Mutex
	file string // the loaded model file
	puts int
	gets int // GET /status requests
	// gate, while set, holds each GET /status until it closes (or the request ends).
	gate chan struct{}
	// onPut, when set, runs at the next PUT /model.
	onPut func()
}

// counts are the requests the server has had: PUT /model and GET /status.
func (f *fakeRasa) counts() (puts, gets int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts, f.gets
}

func (f *fakeRasa) served() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.file
}

func (f *fakeRasa) handler(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/status":
		f.mu.Lock()
		f.gets++
		gate := f.gate
		f.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		f.mu.Lock()
		file := f.file
		f.mu.Unlock()
		if file == "" {
			w.WriteHeader(http.StatusConflict)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"model_file": "/app/models/" + file})
	case r.Method == http.MethodPut && r.URL.Path == "/model":
		if hold := f.h.holdLoads(); hold != nil {
			<-hold
		}
		tag, _ := f.h.tags.Get(f.env)
		f.mu.Lock()
		f.puts++
		if f.onPut != nil {
			f.onPut()
			f.onPut = nil
		}
		f.mu.Unlock()
		if f.h.isBroken(tag.Model) {
			http.Error(w, `{"reason":"LoadingError","message":"cannot load `+tag.Model+`"}`, http.StatusInternalServerError)
			return
		}
		f.mu.Lock()
		f.file = tag.Model + ".tar.gz"
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodDelete && r.URL.Path == "/model":
		f.mu.Lock()
		f.file = ""
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// dirInputSource is a directory whose revision the test names.
type dirInputSource struct {
	mu      sync.Mutex
	in      Input
	changed bool
	err     error
	fetches int
}

func (s *dirInputSource) Next(_ context.Context, fetch bool) (Input, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fetch {
		s.fetches++
	}
	changed := s.changed && fetch
	if fetch {
		s.changed = false
	}
	return s.in, changed, s.err
}

func (s *dirInputSource) set(in Input) {
	s.mu.Lock()
	s.in, s.changed = in, true
	s.mu.Unlock()
}

// harness is a pipeline on the in-memory Engine, with real declarations, a real
// SQLite state, a real model store and fake Rasa servers.
type harness struct {
	t       *testing.T
	project string
	files   map[string]string
	engine  *memengine.Engine
	st      *state.Store
	store   *modelserver.Store
	tags    *modelserver.Tags
	src     *dirInputSource
	p       *Pipeline
	pol     *policy.Policy
	dir     string // the state directory
	revs    int
	clock   time.Time

	mu     sync.Mutex
	hold   chan struct{} // while set, PUT /model waits for it to close
	rasa   map[string]*fakeRasa
	broken map[string]bool
	loads  chan reconcile.LoadResult
}

func newHarness(t *testing.T, envs map[string]string, pol *policy.Policy) *harness {
	t.Helper()
	h := &harness{t: t, project: "unit", files: testengine.QuickstartModels(t), engine: memengine.New(), src: &dirInputSource{},
		rasa: map[string]*fakeRasa{}, broken: map[string]bool{}, loads: make(chan reconcile.LoadResult, 100),
		clock: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	h.engine.AddImageWithHealthcheck(stubImage, "CMD", "true")
	h.files["rasa-gitops.yaml"] = "version: 1\nproject: unit\nrasa:\n  image: " + stubImage + "\n  pullInterval: 1s\nmodelServer:\n  url: http://host.docker.internal:8080\n"
	for env, body := range envs {
		h.files["environments/"+env+".yaml"] = body
	}
	stateDir := t.TempDir()
	h.dir, h.pol = stateDir, pol
	var err error
	if h.st, err = state.Open(context.Background(), stateDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.st.Close(); err != nil {
			t.Errorf("close the state: %v", err)
		}
	})
	if h.store, err = modelserver.NewStore(stateDir); err != nil {
		t.Fatal(err)
	}
	if h.tags, err = modelserver.OpenTags(stateDir); err != nil {
		t.Fatal(err)
	}
	h.p = New(h.config(pol, stateDir))
	t.Cleanup(h.p.Close)
	h.commit()
	return h
}

func (h *harness) config(pol *policy.Policy, stateDir string) Config {
	return Config{
		Source: h.src, Policy: pol, State: h.st, Engine: h.engine, Store: h.store, Tags: h.tags,
		Render: func(ctx context.Context, dir string) (Rendering, error) {
			d, err := compose.Load(dir, compose.LoadOptions{Env: map[string]string{}})
			if err != nil {
				return Rendering{}, err
			}
			opts := compose.RenderOptions{ModelToken: "model-token-unit", DefaultToken: "rasa-token-unit", GeneratedDir: filepath.Join(stateDir, "generated", d.Project)}
			r, err := compose.Render(ctx, d, opts)
			return Rendering{Decl: d, Opts: opts, Rendered: r}, err
		},
		Run: reconcile.RunOptions{Options: reconcile.Options{Prune: true}, ApplyOptions: reconcile.ApplyOptions{HealthTimeout: 5 * time.Second, StableFor: time.Millisecond}},
		Loader: reconcile.LoaderOptions{Nudge: true, Timeout: 2 * time.Second, Backoff: time.Hour,
			Address: func(_ context.Context, _ string, env compose.RenderedEnvironment) (string, error) {
				return h.rasaURL(env.Name)
			}},
		Now:          func() time.Time { return h.clock },
		LoadRecorded: func(res reconcile.LoadResult) { h.loads <- res },
	}
}

// rasaURL is the fake Rasa server of env, made when its container first runs.
func (h *harness) rasaURL(env string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	info, err := h.engine.ContainerInspect(context.Background(), reconcile.ContainerName(h.project, compose.ServiceName(env)))
	if err != nil || info.State == nil || !info.State.Running {
		return "", fmt.Errorf("the Rasa server of %s is not running", env)
	}
	f, ok := h.rasa[env]
	if !ok {
		f = &fakeRasa{env: env, h: h}
		f.srv = httptest.NewServer(http.HandlerFunc(f.handler))
		h.t.Cleanup(f.srv.Close)
		h.rasa[env] = f
	}
	return f.srv.URL, nil
}

func (h *harness) holdLoads() chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hold
}

func (h *harness) isBroken(model string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.broken[model]
}

func (h *harness) breakModel(model string) {
	h.mu.Lock()
	h.broken[model] = true
	h.mu.Unlock()
}

// commit writes the files into a new revision directory and makes it the source's.
func (h *harness) commit() Input {
	h.t.Helper()
	h.revs++
	dir := filepath.Join(h.t.TempDir(), "rev")
	for name, body := range h.files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			h.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			h.t.Fatal(err)
		}
	}
	id := fmt.Sprintf("%040d", h.revs)
	in := Input{Revision: "main@sha1:" + id, ID: id, Tree: id, Short: "main@sha1:" + id[:12], Author: "dev <dev@example.com>", Dir: dir}
	h.src.set(in)
	return in
}

func (h *harness) run(req Request) Report {
	h.t.Helper()
	if req.Reasons == nil {
		req.Reasons = []string{"test"}
	}
	return h.p.Run(context.Background(), req)
}

func (h *harness) poll() Report { h.t.Helper(); return h.run(Request{Fetch: true}) }

func (h *harness) status(env string) state.EnvStatus {
	h.t.Helper()
	st, err := h.st.Status(context.Background(), env)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// containerID is the ID of env's container, "" when there is none.
func (h *harness) containerID(env string) string {
	h.t.Helper()
	info, err := h.engine.ContainerInspect(context.Background(), reconcile.ContainerName(h.project, compose.ServiceName(env)))
	if cerrdefs.IsNotFound(err) {
		return ""
	}
	if err != nil {
		h.t.Fatalf("inspect %s's container: %v", env, err)
	}
	return info.ID
}

// removeContainer removes env's container as `docker rm -f` by hand does.
func (h *harness) removeContainer(env string) {
	h.t.Helper()
	id := h.containerID(env)
	if id == "" {
		h.t.Fatalf("%s has no container to remove", env)
	}
	if err := h.engine.RemoveForce(id); err != nil {
		h.t.Fatalf("remove %s's container: %v", env, err)
	}
}

// waitLoaded waits until a background model load of env has ended and is recorded.
// waitLoaded waits for the end of env's load of the model it declares now; the
// outcome of an earlier load (its hook may run just after the run that waited for it
// returned) is passed over.
func (h *harness) waitLoaded(env string) reconcile.LoadResult {
	h.t.Helper()
	declared := ""
	for _, line := range strings.Split(h.files["environments/"+env+".yaml"], "\n") {
		if m, ok := strings.CutPrefix(line, "model: "); ok {
			declared = strings.TrimSpace(m)
		}
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case res := <-h.loads:
			if res.Environment == env && (declared == "" || res.Model == declared) {
				return res
			}
		case <-timeout:
			h.t.Fatalf("no model load of %s ended", env)
		}
	}
}

func (h *harness) audit(action string) []state.Row {
	h.t.Helper()
	rows, err := h.st.History(context.Background(), state.Filter{})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []state.Row
	for _, r := range rows {
		if strings.HasPrefix(r.Action, action) {
			out = append(out, r)
		}
	}
	return out
}

// conditions counts the audited starts and ends of env's failing conditions.
func (h *harness) conditions(env string) (started, ended int) {
	h.t.Helper()
	for _, r := range h.audit("condition") {
		switch {
		case r.Environment == env && r.Outcome == "started":
			started++
		case r.Environment == env && r.Outcome == "ended":
			ended++
		}
	}
	return started, ended
}
