package pipeline

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/gitsource"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// BenchmarkNoChangePoll is the cost of a poll when Git did not change, on the real
// Engine, with the quickstart converged (three Rasa stand-ins serving their models
// from an in-process model server) and Git served by `git http-backend` on loopback:
//
//   - fetch-only: the Git fetch alone (what a no-change poll cost before it observed);
//   - observe: fetch, observe the Engine, plan, ask every Rasa server what it serves,
//     record (--resync longer than the poll);
//   - full-resync: the same plus render and prepare (the default: --resync 0).
//
// It reports wall time, the process's CPU time and Git requests per poll.
func BenchmarkNoChangePoll(b *testing.B) {
	f := newRealStack(b)
	b.Run("fetch-only", func(b *testing.B) {
		f.measure(b, func() {
			if _, err := f.git.Fetch(context.Background()); err != nil && err != gitsource.ErrUnchanged {
				b.Fatal(err)
			}
		})
	})
	for _, tc := range []struct {
		name   string
		resync time.Duration
	}{{"observe", time.Hour}, {"full-resync", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			f.p.cfg.Resync = tc.resync
			f.measure(b, func() {
				rep := f.p.Run(context.Background(), Request{Reasons: []string{"poll"}, Fetch: true})
				if rep.Outcome != OutcomeUnchanged || !rep.Plan.Empty() {
					b.Fatalf("a no-change poll did %s:\n%s", rep.Outcome, rep.Plan)
				}
			})
		})
	}
}

type realStack struct {
	git      *gitsource.Source
	p        *Pipeline
	requests interface{ Load() int64 }
}

// newRealStack converges the quickstart on the real Engine through a pipeline.
func newRealStack(b *testing.B) *realStack {
	cli := testengine.Connect(b)
	testengine.EnsureStubImage(b, cli)
	project := testengine.ProjectName(b)
	testengine.CleanupProject(b, cli, project)
	stateDir := b.TempDir()
	store, err := modelserver.NewStore(stateDir)
	if err != nil {
		b.Fatal(err)
	}
	tags, err := modelserver.OpenTags(stateDir)
	if err != nil {
		b.Fatal(err)
	}
	st, err := state.Open(context.Background(), stateDir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ln, err := net.Listen("tcp", testengine.HostAddress(b, cli)+":0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: &modelserver.Handler{Tags: tags, Store: store, Token: "model-token"}}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	files := testengine.QuickstartModels(b)
	files["rasa-gitops.yaml"] = fmt.Sprintf("version: 1\nproject: %s\nrasa:\n  image: %s\n  pullInterval: 10s\nmodelServer:\n  url: http://host.docker.internal:%d\n", project, testengine.StubImage, ln.Addr().(*net.TCPAddr).Port)
	files["environments/production.yaml"] = "model: moodbot-v1\n"
	files["environments/experimental.yaml"] = "model: moodbot-v2\n"
	files["environments/worker.yaml"] = ""
	remote := testgit.New(b)
	remote.Commit(files, testgit.CommitOptions{})
	url, requests := remote.ServeHTTPCounting("")
	git, err := gitsource.Open(gitsource.Options{URL: url, Branch: "main", Path: ".", StateDir: stateDir})
	if err != nil {
		b.Fatal(err)
	}
	p := New(Config{Source: &GitSource{Git: git}, State: st, Engine: cli, Store: store, Tags: tags,
		Render: func(ctx context.Context, dir string) (Rendering, error) {
			d, err := compose.Load(dir, compose.LoadOptions{})
			if err != nil {
				return Rendering{}, err
			}
			opts := compose.RenderOptions{ModelToken: "model-token", DefaultToken: "rasa-token", GeneratedDir: filepath.Join(stateDir, "generated", d.Project)}
			r, err := compose.Render(ctx, d, opts)
			return Rendering{Decl: d, Opts: opts, Rendered: r}, err
		},
		Run:    reconcile.RunOptions{Options: reconcile.Options{Prune: true}},
		Loader: reconcile.LoaderOptions{Nudge: true, Timeout: 30 * time.Second},
	})
	b.Cleanup(p.Close)
	rep := p.Run(context.Background(), Request{Reasons: []string{"start"}, Fetch: true, WaitModels: true})
	if rep.Outcome != OutcomeApplied {
		b.Fatalf("converge: %s %v %v", rep.Outcome, rep.Err, rep.ModelsErr())
	}
	return &realStack{git: git, p: p, requests: requests}
}

// measure runs poll b.N times and reports CPU time and Git requests per poll.
func (f *realStack) measure(b *testing.B, poll func()) {
	poll() // warm
	before := f.requests.Load()
	cpu := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		poll()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(f.requests.Load()-before)/float64(b.N), "git-requests/op")
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // cannot fail for RUSAGE_SELF
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
