package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/memengine"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// growthSizes are the project sizes of BenchmarkGrowth: the in-memory Engine holds
// 1,000 environments where this machine's Engine cannot.
var growthSizes = []int{1, 10, 100, 1000}

// growthStack is a pipeline converged on the in-memory Engine for n environments,
// each with its own service fields, no model (no Rasa server to ask).
type growthStack struct {
	p      *Pipeline
	engine *memengine.Engine
	render RenderFunc
	dir    string
}

func newGrowthStack(b *testing.B, n int) *growthStack {
	b.Helper()
	files := map[string]string{
		"rasa-gitops.yaml": "version: 1\nproject: growth\nrasa:\n  image: " + stubImage + "\nmodelServer:\n  url: http://host.docker.internal:8080\ncompose:\n  files: [compose.yml]\n",
		// A /16 holds 1,000 containers (an Engine's default pool gives /16 or /20 too).
		"compose.yml": "networks:\n  default:\n    ipam:\n      config: [{subnet: 10.200.0.0/16}]\n",
	}
	for i := 0; i < n; i++ {
		files[fmt.Sprintf("environments/env-%04d.yaml", i)] = fmt.Sprintf("service:\n  environment: {INDEX: \"%d\"}\n", i)
	}
	dir := b.TempDir()
	for name, body := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	stateDir := b.TempDir()
	st, err := state.Open(context.Background(), stateDir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	store, err := modelserver.NewStore(stateDir)
	if err != nil {
		b.Fatal(err)
	}
	tags, err := modelserver.OpenTags(stateDir)
	if err != nil {
		b.Fatal(err)
	}
	engine := memengine.New()
	engine.AddImageWithHealthcheck(stubImage, "CMD", "true")
	render := func(ctx context.Context, dir string) (Rendering, error) {
		d, err := compose.Load(dir, compose.LoadOptions{Env: map[string]string{}})
		if err != nil {
			return Rendering{}, err
		}
		opts := compose.RenderOptions{ModelToken: "model-token", DefaultToken: "rasa-token", GeneratedDir: filepath.Join(stateDir, "generated", d.Project)}
		r, err := compose.Render(ctx, d, opts)
		return Rendering{Decl: d, Opts: opts, Rendered: r}, err
	}
	// One stand-in Rasa server for all: it serves no model (GET /status 409), as an
	// environment without one answers. The in-memory Engine's addresses lead nowhere.
	rasa := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusConflict) }))
	b.Cleanup(rasa.Close)
	src := &dirInputSource{}
	src.set(Input{Revision: "main@sha1:" + fmt.Sprintf("%040d", 1), ID: fmt.Sprintf("%040d", 1), Tree: "t", Short: "main@sha1:000000000001", Dir: dir})
	p := New(Config{Source: src, State: st, Engine: engine, Store: store, Tags: tags, Render: render, Resync: time.Hour,
		Run:    reconcile.RunOptions{Options: reconcile.Options{Prune: true}, ApplyOptions: reconcile.ApplyOptions{HealthTimeout: 5 * time.Second, StableFor: time.Millisecond, Parallel: 8}},
		Loader: reconcile.LoaderOptions{Timeout: 2 * time.Second, Address: func(context.Context, string, compose.RenderedEnvironment) (string, error) { return rasa.URL, nil }}})
	b.Cleanup(p.Close)
	rep := p.Run(context.Background(), Request{Fetch: true, Reasons: []string{"bench"}})
	if rep.Outcome != OutcomeApplied {
		b.Fatalf("first converge of %d environments: %s %v %v", n, rep.Outcome, rep.Err, rep.Result.Err())
	}
	return &growthStack{p: p, engine: engine, render: render, dir: dir}
}

// BenchmarkGrowth is the cost growth of the three things every revision or poll does,
// at 1, 10, 100 and 1,000 environments, on the in-memory Engine:
//
//   - render: compose.Load + compose.Render of the declaration;
//   - plan: the no-op reconcile's own work, MakePlan of the converged project;
//   - observe: Observe's list calls against the in-memory Engine (the fake's own cost
//     dominates: it deep-copies every container it lists, as a real Engine encodes it);
//   - poll: a no-change poll through the whole pipeline (source, observe, plan,
//     ask each Rasa server what it serves, record; no render, as with --resync).
//
// bench/growth.sh runs it and plots the figures (bench/growth.svg).
func BenchmarkGrowth(b *testing.B) {
	for _, n := range growthSizes {
		s := newGrowthStack(b, n)
		b.Run(fmt.Sprintf("render/envs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.render(context.Background(), s.dir); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("plan/envs=%d", n), func(b *testing.B) {
			desired := *s.p.current.desired
			observed, err := reconcile.Observe(context.Background(), s.engine, "growth")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if plan := reconcile.MakePlan(desired, observed, reconcile.Options{Prune: true}); !plan.Empty() {
					b.Fatalf("not converged:\n%s", plan)
				}
			}
		})
		b.Run(fmt.Sprintf("observe/envs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := reconcile.Observe(context.Background(), s.engine, "growth"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("poll/envs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if rep := s.p.Run(context.Background(), Request{Fetch: true, Reasons: []string{"poll"}}); rep.Outcome != OutcomeUnchanged {
					b.Fatalf("a no-change poll: %s %v", rep.Outcome, rep.Err)
				}
			}
		})
	}
}
