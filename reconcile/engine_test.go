package reconcile

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

// recording wraps the real Engine and records every mutating call, to prove that a
// converged project costs no mutation. It is not a fake: every call reaches the Engine.
type recording struct {
	Engine
	mu    sync.Mutex
	calls []string
}

func (r *recording) record(call string) {
	r.mu.Lock()
	r.calls = append(r.calls, call)
	r.mu.Unlock()
}

func (r *recording) mutations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recording) ContainerCreate(ctx context.Context, c *container.Config, h *container.HostConfig, n *network.NetworkingConfig, p *ocispec.Platform, name string) (container.CreateResponse, error) {
	r.record("create " + name)
	return r.Engine.ContainerCreate(ctx, c, h, n, p, name)
}
func (r *recording) ContainerStart(ctx context.Context, id string, o container.StartOptions) error {
	r.record("start " + id)
	return r.Engine.ContainerStart(ctx, id, o)
}
func (r *recording) ContainerStop(ctx context.Context, id string, o container.StopOptions) error {
	r.record("stop " + id)
	return r.Engine.ContainerStop(ctx, id, o)
}
func (r *recording) ContainerRemove(ctx context.Context, id string, o container.RemoveOptions) error {
	r.record("remove " + id)
	return r.Engine.ContainerRemove(ctx, id, o)
}
func (r *recording) ContainerRename(ctx context.Context, id, name string) error {
	r.record("rename " + id)
	return r.Engine.ContainerRename(ctx, id, name)
}
func (r *recording) NetworkCreate(ctx context.Context, name string, o network.CreateOptions) (network.CreateResponse, error) {
	r.record("network-create " + name)
	return r.Engine.NetworkCreate(ctx, name, o)
}
func (r *recording) NetworkConnect(ctx context.Context, id, ctr string, ep *network.EndpointSettings) error {
	r.record("network-connect " + id + " " + ctr)
	return r.Engine.NetworkConnect(ctx, id, ctr, ep)
}
func (r *recording) NetworkDisconnect(ctx context.Context, id, ctr string, force bool) error {
	r.record("network-disconnect " + id + " " + ctr)
	return r.Engine.NetworkDisconnect(ctx, id, ctr, force)
}
func (r *recording) NetworkRemove(ctx context.Context, id string) error {
	r.record("network-remove " + id)
	return r.Engine.NetworkRemove(ctx, id)
}
func (r *recording) VolumeRemove(ctx context.Context, id string, force bool) error {
	r.record("volume-remove " + id)
	return r.Engine.VolumeRemove(ctx, id, force)
}
func (r *recording) VolumeCreate(ctx context.Context, o volume.CreateOptions) (volume.Volume, error) {
	r.record("volume-create " + o.Name)
	return r.Engine.VolumeCreate(ctx, o)
}

// stack is one test's declaration repository on the real Engine.
type stack struct {
	t       testing.TB
	cli     *client.Client
	engine  *recording
	project string
	dir     string
	gen     string
	files   map[string]string
}

func newStack(t testing.TB, envs map[string]string) *stack {
	t.Helper()
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	s := &stack{t: t, cli: cli, engine: &recording{Engine: cli}, project: project, dir: t.TempDir(), gen: t.TempDir(), files: map[string]string{
		// The model server is unreachable on purpose: the stub keeps serving without a model.
		"rasa-gitops.yaml": fmt.Sprintf("version: 1\nproject: %s\nrasa:\n  image: %s\n  pullInterval: 60s\nmodelServer:\n  url: http://127.0.0.1:1\n", project, testengine.StubImage),
	}}
	for name, content := range envs {
		s.files["environments/"+name+".yaml"] = content
	}
	return s
}

func (s *stack) write() {
	s.t.Helper()
	if err := os.RemoveAll(filepath.Join(s.dir, "environments")); err != nil {
		s.t.Fatal(err)
	}
	for name, content := range s.files {
		p := filepath.Join(s.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *stack) render() *compose.Rendered {
	s.t.Helper()
	s.write()
	d, err := compose.Load(s.dir, compose.LoadOptions{})
	if err != nil {
		s.t.Fatalf("load:\n%v", err)
	}
	r, err := compose.Render(context.Background(), d, compose.RenderOptions{ModelToken: "model-token", DefaultToken: "rasa-token", GeneratedDir: s.gen})
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// converge applies the current files and returns the plan and result.
func (s *stack) converge() (Plan, Result) {
	s.t.Helper()
	run, err := Converge(context.Background(), s.engine, s.render(), "main@sha1:test", RunOptions{
		Options:      Options{Prune: true},
		ApplyOptions: ApplyOptions{HealthTimeout: 20 * time.Second, StableFor: time.Second},
		Timeout:      2 * time.Minute,
	})
	if err != nil {
		s.t.Fatalf("converge: %v", err)
	}
	return run.Plan, run.Result
}

func (s *stack) mustConverge() Plan {
	s.t.Helper()
	plan, res := s.converge()
	if err := res.Err(); err != nil {
		s.t.Fatalf("apply failed:\n%v\nplan:\n%s", err, plan)
	}
	return plan
}

// containers maps service → container ID and state, from the Engine itself.
func (s *stack) containers() map[string]container.Summary {
	s.t.Helper()
	list, err := s.cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", compose.LabelProject+"="+s.project))})
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]container.Summary{}
	for _, c := range list {
		out[strings.TrimPrefix(c.Names[0], "/")] = c
	}
	return out
}

func (s *stack) name(service string) string { return ContainerName(s.project, service) }

// get asks a Rasa stand-in for GET / through its container address.
func (s *stack) get(id string) (string, error) {
	info, err := s.cli.ContainerInspect(context.Background(), id)
	if err != nil {
		return "", err
	}
	for _, ep := range info.NetworkSettings.Networks {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + ep.IPAddress + ":5005/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}
	return "", fmt.Errorf("container %s has no network", id)
}

func TestEngineConvergence(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"production": "", "worker": "", "experimental": ""})

	// A fresh apply creates the network and every service.
	plan := s.mustConverge()
	if got := plan.String(); !strings.Contains(got, "network:"+s.project+"_default") || strings.Count(got, "create    missing") != 4 {
		t.Fatalf("fresh plan:\n%s", got)
	}
	first := s.containers()
	for _, env := range []string{"production", "worker", "experimental"} {
		c, ok := first[s.name("rasa-"+env)]
		if !ok || c.State != "running" {
			t.Fatalf("rasa-%s not running: %+v", env, c)
		}
		if c.Labels[compose.LabelEnvironment] != env || c.Labels[compose.LabelRevision] != "main@sha1:test" || c.Labels[compose.LabelConfigHash] == "" {
			t.Errorf("rasa-%s labels: %v", env, c.Labels)
		}
		if body, err := s.get(c.ID); err != nil || !strings.HasPrefix(body, "Hello from Rasa") {
			t.Errorf("rasa-%s does not answer: %q %v", env, body, err)
		}
	}

	// A second apply makes no mutating Engine call.
	before := len(s.engine.mutations())
	if plan := s.mustConverge(); !plan.Empty() {
		t.Fatalf("second plan is not empty:\n%s", plan)
	}
	if calls := s.engine.mutations()[before:]; len(calls) != 0 {
		t.Fatalf("a converged project cost mutating calls: %v", calls)
	}

	// Changing one environment recreates only its container.
	s.files["environments/worker.yaml"] = "service:\n  environment:\n    WORKER_FLAG: \"1\"\n"
	plan = s.mustConverge()
	if got := plan.String(); strings.TrimSpace(got) != "service:rasa-worker  recreate  config hash changed" {
		t.Fatalf("plan after editing worker:\n%s", got)
	}
	second := s.containers()
	for _, env := range []string{"production", "experimental"} {
		if second[s.name("rasa-"+env)].ID != first[s.name("rasa-"+env)].ID {
			t.Errorf("rasa-%s was recreated although it did not change", env)
		}
	}
	if second[s.name("rasa-worker")].ID == first[s.name("rasa-worker")].ID {
		t.Error("rasa-worker was not recreated")
	}
	if _, leftover := second[s.name("rasa-worker")+"-next"]; leftover {
		t.Error("the temporary replacement name is left over")
	}

	// Removing an environment file prunes its container.
	delete(s.files, "environments/experimental.yaml")
	plan = s.mustConverge()
	if got := strings.TrimSpace(plan.String()); got != "service:rasa-experimental  remove    not declared any more (prune)" {
		t.Fatalf("prune plan:\n%s", got)
	}
	if _, ok := s.containers()[s.name("rasa-experimental")]; ok {
		t.Error("rasa-experimental is still there after prune")
	}

	// docker stop and docker rm by hand are healed on the next run.
	ctx := context.Background()
	cs := s.containers()
	if err := s.cli.ContainerStop(ctx, cs[s.name("rasa-production")].ID, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.cli.ContainerRemove(ctx, cs[s.name("rasa-worker")].ID, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	plan = s.mustConverge()
	want := "service:rasa-production  start     container exited (self-heal)\nservice:rasa-worker      create    missing\n"
	if plan.String() != want {
		t.Fatalf("self-heal plan:\n%s\nwant:\n%s", plan, want)
	}
	healed := s.containers()
	if healed[s.name("rasa-production")].State != "running" || healed[s.name("rasa-worker")].State != "running" {
		t.Errorf("not healed: %+v", healed)
	}
	if healed[s.name("rasa-production")].ID != cs[s.name("rasa-production")].ID {
		t.Error("a stopped container was recreated instead of started")
	}

	// docker compose v2 sees our containers as its own (without one: fails in CI,
	// skipped elsewhere).
	t.Run("docker compose ps", func(t *testing.T) {
		bin := testengine.ComposeV2(t)
		out, err := exec.Command(bin, "-p", s.project, "ps", "--format", "{{.Service}}").CombinedOutput()
		if err != nil {
			t.Fatalf("docker compose ps: %v\n%s", err, out)
		}
		if got := strings.Fields(string(out)); strings.Join(got, ",") != "rasa-production,rasa-worker" {
			t.Errorf("docker compose ps lists %q", out)
		}
	})
}

func TestEngineEndpointsChangeRecreates(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"production": "", "worker": ""})
	s.files["endpoints.yml"] = "models:\n  url: ${RASA_MODEL_SERVER}\n  token: ${RASA_MODEL_TOKEN}\n  wait_time_between_pulls: 60\n"
	s.mustConverge()
	s.files["endpoints.yml"] += "action_endpoint:\n  url: http://app:5055/webhook\n"
	plan := s.mustConverge()
	want := "service:rasa-production  recreate  config hash changed\nservice:rasa-worker      recreate  config hash changed\n"
	if plan.String() != want {
		t.Fatalf("plan after editing endpoints.yml:\n%s\nwant:\n%s", plan, want)
	}
}

func TestEngineUnhealthyReplacementKeepsOldServing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, publish string }{{"no-host-ports", ""}, {"host-ports", "publish: \"127.0.0.1:0\"\n"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, map[string]string{"production": tc.publish})
			if tc.publish != "" {
				port := freePort(t)
				s.files["environments/production.yaml"] = fmt.Sprintf("publish: \"127.0.0.1:%d\"\n", port)
			}
			s.mustConverge()
			old := s.containers()[s.name("rasa-production")]

			// The new definition exits at once: the stand-in refuses an unknown flag.
			s.files["environments/production.yaml"] += "service:\n  command: [run, --no-such-flag]\n"
			plan, res := s.converge()
			if !strings.Contains(plan.String(), "recreate") {
				t.Fatalf("plan:\n%s", plan)
			}
			if len(res.Actions) != 1 || res.Actions[0].Outcome != OutcomeFailed || !res.Actions[0].RolledBack {
				t.Fatalf("want one failed, rolled-back action; got %+v", res.Actions)
			}
			if !strings.Contains(res.Actions[0].Err.Error(), "exited") {
				t.Errorf("error does not say why: %v", res.Actions[0].Err)
			}
			after := s.containers()
			c, ok := after[s.name("rasa-production")]
			if !ok || c.ID != old.ID || c.State != "running" {
				t.Fatalf("the previous container is not serving: %+v", after)
			}
			if len(after) != 1 {
				t.Errorf("the failed replacement was left behind: %v", after)
			}
			if body, err := s.get(c.ID); err != nil || !strings.HasPrefix(body, "Hello") {
				t.Errorf("old container does not answer: %q %v", body, err)
			}
		})
	}
}

func TestEngineMissingImageChangesNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"production": ""})
	s.mustConverge()
	before := s.containers()
	calls := len(s.engine.mutations())
	s.files["environments/production.yaml"] = "image: rasa-gitops/no-such-image:never\n"
	_, err := Converge(context.Background(), s.engine, s.render(), "r2", RunOptions{Options: Options{Prune: true}, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "rasa-gitops/no-such-image:never") || !strings.Contains(err.Error(), "rasa-production") {
		t.Fatalf("want an error naming the image and the service, got %v", err)
	}
	if _, ok := err.(*NeedsPersonError); !ok {
		t.Errorf("want a NeedsPersonError, got %T", err)
	}
	if got := s.engine.mutations()[calls:]; len(got) != 0 {
		t.Errorf("a missing image still caused %v", got)
	}
	if after := s.containers(); after[s.name("rasa-production")].ID != before[s.name("rasa-production")].ID {
		t.Error("the running container changed")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := (&netListen{}).listen()
	if err != nil {
		t.Fatal(err)
	}
	return l
}
