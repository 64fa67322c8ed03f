package memengine_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/rasa-gitops/rasa-gitops/internal/memengine"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
)

// The in-memory Engine must keep satisfying what the real client offers.
var _ reconcile.Engine = (*memengine.Engine)(nil)

// beyondEngine are the client methods memengine offers besides reconcile.Engine, with
// the client's own signatures.
type beyondEngine interface {
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
	NetworkDisconnect(ctx context.Context, networkID, containerID string, force bool) error
	NetworkInspect(ctx context.Context, networkID string, options network.InspectOptions) (network.Inspect, error)
}

var (
	_ beyondEngine = (*client.Client)(nil)
	_ beyondEngine = (*memengine.Engine)(nil)
)

var ctx = context.Background()

// clock is a settable clock, so status strings need no waiting.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock(e *memengine.Engine) *clock {
	c := &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	e.SetClock(c.now)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// create makes a container of image nginx:1.27 with labels on network (empty: bridge).
func create(t *testing.T, e *memengine.Engine, name, net string, labels map[string]string) string {
	t.Helper()
	host := &container.HostConfig{NetworkMode: container.NetworkMode(net)}
	var nc *network.NetworkingConfig
	if net != "" {
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{net: {Aliases: []string{"web"}}}}
	}
	resp, err := e.ContainerCreate(ctx, &container.Config{Image: "nginx:1.27", Labels: labels}, host, nc, nil, name)
	must(t, err)
	return resp.ID
}

func inspect(t *testing.T, e *memengine.Engine, id string) container.InspectResponse {
	t.Helper()
	info, err := e.ContainerInspect(ctx, id)
	must(t, err)
	return info
}

func list(t *testing.T, e *memengine.Engine, all bool, args ...filters.KeyValuePair) []container.Summary {
	t.Helper()
	out, err := e.ContainerList(ctx, container.ListOptions{All: all, Filters: filters.NewArgs(args...)})
	must(t, err)
	return out
}

func names(cs []container.Summary) []string {
	var out []string
	for _, c := range cs {
		out = append(out, strings.Join(c.Names, ","))
	}
	return out
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestContainerLifecycle(t *testing.T) {
	e := memengine.New()
	clk := newClock(e)
	e.AddImage("nginx:1.27")
	id := create(t, e, "web", "", map[string]string{"app": "web"})
	if !hex64.MatchString(id) {
		t.Fatalf("ID %q is not 64 hex characters", id)
	}
	if id2 := create(t, memengine.New().WithImage("nginx:1.27"), "web", "", nil); id2 != id {
		t.Errorf("IDs are not deterministic: %s and %s", id, id2)
	}

	// The name is unique.
	_, err := e.ContainerCreate(ctx, &container.Config{Image: "nginx:1.27"}, nil, nil, nil, "web")
	if !cerrdefs.IsConflict(err) {
		t.Fatalf("second create under the same name: %v, want a conflict", err)
	}
	// The image must be there.
	_, err = e.ContainerCreate(ctx, &container.Config{Image: "redis:7"}, nil, nil, nil, "db")
	if !cerrdefs.IsNotFound(err) {
		t.Fatalf("create with a missing image: %v, want not found", err)
	}

	// Inspect by ID, prefix, name and /name.
	for _, ref := range []string{id, id[:10], "web", "/web"} {
		if got := inspect(t, e, ref); got.ID != id {
			t.Errorf("inspect %q gave %s", ref, got.ID)
		}
	}
	info := inspect(t, e, id)
	if info.State.Status != container.StateCreated || info.State.Running || info.Name != "/web" || info.Config.Labels["app"] != "web" {
		t.Fatalf("created container: %+v %s %v", info.State, info.Name, info.Config.Labels)
	}
	if info.State.Health != nil {
		t.Errorf("a container without a health check reports health %+v", info.State.Health)
	}
	if _, err := e.ContainerInspect(ctx, "nope"); !cerrdefs.IsNotFound(err) {
		t.Errorf("inspect of a missing container: %v, want not found", err)
	}
	if got := list(t, e, true)[0].Status; got != "Created" {
		t.Errorf("status of a created container %q", got)
	}
	if got := list(t, e, false); len(got) != 0 {
		t.Errorf("a created container is listed without All: %v", names(got))
	}

	// Start: running, with an address on the bridge network.
	must(t, e.ContainerStart(ctx, id, container.StartOptions{}))
	must(t, e.ContainerStart(ctx, id, container.StartOptions{})) // already running: nothing to do
	info = inspect(t, e, id)
	if info.State.Status != container.StateRunning || !info.State.Running || info.State.Pid == 0 {
		t.Fatalf("started container: %+v", info.State)
	}
	if started, err := time.Parse(time.RFC3339Nano, info.State.StartedAt); err != nil || !started.Equal(clk.t) {
		t.Errorf("StartedAt %q (%v), want %s", info.State.StartedAt, err, clk.t)
	}
	if ep := info.NetworkSettings.Networks["bridge"]; ep == nil || !strings.HasPrefix(ep.IPAddress, "10.77.0.") {
		t.Fatalf("bridge endpoint %+v", ep)
	}
	clk.advance(2 * time.Second)
	if got := list(t, e, false); len(got) != 1 || got[0].Status != "Up 2 seconds" || got[0].State != container.StateRunning {
		t.Errorf("list of a running container: %+v", got)
	}

	// Remove without force refuses a running container.
	err = e.ContainerRemove(ctx, id, container.RemoveOptions{})
	if !cerrdefs.IsConflict(err) || !strings.Contains(err.Error(), "stop the container before removing or force remove") {
		t.Fatalf("remove of a running container: %v", err)
	}

	// Stop: exited (0), the address released, the network kept.
	must(t, e.ContainerStop(ctx, "web", container.StopOptions{}))
	must(t, e.ContainerStop(ctx, "web", container.StopOptions{})) // already stopped: nothing to do
	clk.advance(time.Second)
	info = inspect(t, e, id)
	if info.State.Status != container.StateExited || info.State.Running || info.State.ExitCode != 0 {
		t.Fatalf("stopped container: %+v", info.State)
	}
	if ep := info.NetworkSettings.Networks["bridge"]; ep == nil || ep.IPAddress != "" {
		t.Errorf("a stopped container keeps its network but no address: %+v", ep)
	}
	if got := list(t, e, true); got[0].Status != "Exited (0) 1 second ago" || got[0].State != container.StateExited {
		t.Errorf("list of a stopped container: %q %q", got[0].State, got[0].Status)
	}
	if got := list(t, e, false); len(got) != 0 {
		t.Errorf("a stopped container is listed without All: %v", names(got))
	}

	// A set exit code is what the next stop gives.
	must(t, e.SetStopExitCode(id, 143))
	must(t, e.ContainerStart(ctx, id, container.StartOptions{}))
	must(t, e.ContainerStop(ctx, id, container.StopOptions{}))
	if got := list(t, e, true)[0].Status; !strings.HasPrefix(got, "Exited (143) ") {
		t.Errorf("status after a stop with exit code 143: %q", got)
	}

	// Rename, then remove (a stopped container needs no force).
	must(t, e.ContainerRename(ctx, id, "web-old"))
	if got := inspect(t, e, "web-old"); got.ID != id {
		t.Errorf("renamed container not found by its new name")
	}
	if _, err := e.ContainerInspect(ctx, "web"); !cerrdefs.IsNotFound(err) {
		t.Errorf("the old name still resolves: %v", err)
	}
	must(t, e.ContainerRemove(ctx, id, container.RemoveOptions{}))
	if _, err := e.ContainerInspect(ctx, id); !cerrdefs.IsNotFound(err) {
		t.Errorf("inspect after remove: %v, want not found", err)
	}
	if err := e.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); !cerrdefs.IsNotFound(err) {
		t.Errorf("second remove: %v, want not found", err)
	}

	// Force removes a running container.
	id = create(t, e, "web", "", nil)
	must(t, e.ContainerStart(ctx, id, container.StartOptions{}))
	must(t, e.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}))
	if got := list(t, e, true); len(got) != 0 {
		t.Errorf("left after a forced remove: %v", names(got))
	}
}

func TestListFilters(t *testing.T) {
	e := memengine.New().WithImage("nginx:1.27")
	a := create(t, e, "demo-web-1", "", map[string]string{"com.docker.compose.project": "demo", "io.rasa-gitops.managed": "true"})
	b := create(t, e, "demo-db-1", "", map[string]string{"com.docker.compose.project": "demo"})
	c := create(t, e, "other-web-1", "", map[string]string{"com.docker.compose.project": "other", "io.rasa-gitops.managed": "true"})
	must(t, e.ContainerStart(ctx, a, container.StartOptions{}))
	must(t, e.ContainerStart(ctx, c, container.StartOptions{}))
	_ = b

	tests := []struct {
		name string
		all  bool
		args []filters.KeyValuePair
		want string
	}{
		{"all, newest first", true, nil, "/other-web-1 /demo-db-1 /demo-web-1"},
		{"running only", false, nil, "/other-web-1 /demo-web-1"},
		{"label key=value", true, []filters.KeyValuePair{filters.Arg("label", "com.docker.compose.project=demo")}, "/demo-db-1 /demo-web-1"},
		{"two labels", true, []filters.KeyValuePair{filters.Arg("label", "com.docker.compose.project=demo"), filters.Arg("label", "io.rasa-gitops.managed=true")}, "/demo-web-1"},
		{"label key", true, []filters.KeyValuePair{filters.Arg("label", "io.rasa-gitops.managed")}, "/other-web-1 /demo-web-1"},
		{"label value mismatch", true, []filters.KeyValuePair{filters.Arg("label", "com.docker.compose.project=nope")}, ""},
		{"name", true, []filters.KeyValuePair{filters.Arg("name", "web")}, "/other-web-1 /demo-web-1"},
		{"name anchored", true, []filters.KeyValuePair{filters.Arg("name", "^demo-")}, "/demo-db-1 /demo-web-1"},
		{"status implies all", false, []filters.KeyValuePair{filters.Arg("status", "created")}, "/demo-db-1"},
		{"network", true, []filters.KeyValuePair{filters.Arg("network", "bridge")}, "/other-web-1 /demo-db-1 /demo-web-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(names(list(t, e, tt.all, tt.args...)), " "); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := e.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("colour", "red"))}); !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("unknown filter: %v, want invalid argument", err)
	}
	if _, err := e.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("since", "x"))}); !cerrdefs.IsNotImplemented(err) {
		t.Errorf("unmodelled filter: %v, want not implemented", err)
	}
}

func TestNetworks(t *testing.T) {
	e := memengine.New().WithImage("nginx:1.27")
	labels := map[string]string{"com.docker.compose.project": "demo"}
	resp, err := e.NetworkCreate(ctx, "demo_default", network.CreateOptions{Labels: labels, Options: map[string]string{"mtu": "1400"}})
	must(t, err)
	if !hex64.MatchString(resp.ID) {
		t.Fatalf("network ID %q", resp.ID)
	}
	if _, err := e.NetworkCreate(ctx, "demo_default", network.CreateOptions{}); !cerrdefs.IsConflict(err) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate network: %v", err)
	}
	must2(t)(e.NetworkCreate(ctx, "demo_back", network.CreateOptions{Labels: labels, Driver: "bridge"}))

	nets, err := e.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project=demo"))})
	must(t, err)
	if len(nets) != 2 || nets[0].Name != "demo_back" || nets[1].Name != "demo_default" || nets[1].Options["mtu"] != "1400" || nets[1].Driver != "bridge" {
		t.Fatalf("label-filtered networks: %+v", nets)
	}
	nets, err = e.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", "demo_default"))})
	must(t, err)
	if len(nets) != 1 || nets[0].ID != resp.ID {
		t.Fatalf("name-filtered networks: %+v", nets)
	}
	all, err := e.NetworkList(ctx, network.ListOptions{})
	must(t, err)
	if len(all) != 5 { // bridge, host, none and the two above
		t.Errorf("%d networks, want 5", len(all))
	}

	id := create(t, e, "demo-web-1", "demo_default", nil)
	// Connecting a created container twice: the Engine keeps the first config, silently.
	must(t, e.NetworkConnect(ctx, "demo_back", id, &network.EndpointSettings{Aliases: []string{"web", "api"}}))
	must(t, e.NetworkConnect(ctx, "demo_back", id, &network.EndpointSettings{Aliases: []string{"other"}}))
	must(t, e.NetworkDisconnect(ctx, "demo_back", id, false))
	must(t, e.ContainerStart(ctx, id, container.StartOptions{}))
	must(t, e.NetworkConnect(ctx, "demo_back", id, &network.EndpointSettings{Aliases: []string{"web", "api"}}))
	// A running one is refused.
	if err := e.NetworkConnect(ctx, "demo_back", id, nil); err == nil || !cerrdefs.IsPermissionDenied(err) || !strings.Contains(err.Error(), "already exists in network") {
		t.Fatalf("second connect: %v", err)
	}
	info := inspect(t, e, id)
	front, back := info.NetworkSettings.Networks["demo_default"], info.NetworkSettings.Networks["demo_back"]
	if front == nil || back == nil || front.IPAddress == "" || back.IPAddress == "" || front.IPAddress == back.IPAddress || front.NetworkID != resp.ID {
		t.Fatalf("endpoints: %+v %+v", front, back)
	}
	if strings.Join(back.Aliases, ",") != "web,api" {
		t.Errorf("aliases %v", back.Aliases)
	}
	if got := list(t, e, false)[0].NetworkSettings.Networks; len(got) != 2 {
		t.Errorf("listed networks %v", got)
	}

	// Addresses are handed out in order, per network.
	id2 := create(t, e, "demo-db-1", "demo_default", nil)
	must(t, e.ContainerStart(ctx, id2, container.StartOptions{}))
	if a, b := front.IPAddress, inspect(t, e, id2).NetworkSettings.Networks["demo_default"].IPAddress; a == b || !strings.HasPrefix(a, "10.77.") || !strings.HasPrefix(b, "10.77.") {
		t.Errorf("addresses %s and %s", a, b)
	}

	// Disconnect removes the network from the list's NetworkSettings.
	must(t, e.NetworkDisconnect(ctx, "demo_back", id, false))
	got := list(t, e, false, filters.Arg("name", "demo-web-1"))[0].NetworkSettings.Networks
	if _, ok := got["demo_back"]; ok || len(got) != 1 {
		t.Errorf("networks after disconnect: %v", got)
	}
	if err := e.NetworkDisconnect(ctx, "demo_back", id, false); err == nil {
		t.Errorf("disconnecting twice succeeded")
	}

	// A network with running containers cannot be removed; a free one can.
	if err := e.NetworkRemove(ctx, "demo_default"); err == nil || !strings.Contains(err.Error(), "active endpoints") {
		t.Fatalf("remove of a network in use: %v", err)
	}
	if err := e.NetworkRemove(ctx, "bridge"); !cerrdefs.IsPermissionDenied(err) {
		t.Errorf("remove of bridge: %v", err)
	}
	must(t, e.NetworkRemove(ctx, "demo_back"))
	if err := e.NetworkRemove(ctx, "demo_back"); !cerrdefs.IsNotFound(err) {
		t.Errorf("second network remove: %v, want not found", err)
	}
	must(t, e.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}))
	must(t, e.ContainerRemove(ctx, id2, container.RemoveOptions{Force: true}))
	must(t, e.NetworkRemove(ctx, resp.ID[:12]))

	// A container cannot be created on a missing network.
	_, err = e.ContainerCreate(ctx, &container.Config{Image: "nginx:1.27"}, &container.HostConfig{NetworkMode: "gone"}, nil, nil, "xx")
	if !cerrdefs.IsNotFound(err) {
		t.Errorf("create on a missing network: %v", err)
	}
}

// must2 checks the error of a two-value call.
func must2(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		must(t, err)
	}
}

func TestVolumes(t *testing.T) {
	e := memengine.New().WithImage("nginx:1.27")
	labels := map[string]string{"com.docker.compose.project": "demo"}
	v, err := e.VolumeCreate(ctx, volume.CreateOptions{Name: "demo_data", Labels: labels})
	must(t, err)
	if v.Name != "demo_data" || v.Driver != "local" || v.Labels["com.docker.compose.project"] != "demo" {
		t.Fatalf("volume %+v", v)
	}
	if _, err := e.VolumeCreate(ctx, volume.CreateOptions{Name: "demo_data"}); err != nil {
		t.Errorf("creating an existing volume again: %v (the Engine returns it)", err)
	}
	must2(t)(e.VolumeCreate(ctx, volume.CreateOptions{Name: "scratch"}))
	vols, err := e.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project=demo"))})
	must(t, err)
	if len(vols.Volumes) != 1 || vols.Volumes[0].Name != "demo_data" {
		t.Fatalf("label-filtered volumes: %+v", vols.Volumes)
	}

	// A mounted volume (even by a stopped container) cannot be removed.
	resp, err := e.ContainerCreate(ctx, &container.Config{Image: "nginx:1.27"},
		&container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "demo_data", Target: "/data"}, {Type: mount.TypeVolume, Target: "/cache"}}}, nil, nil, "db")
	must(t, err)
	if got := list(t, e, true)[0].Mounts; len(got) != 2 || got[0].Name != "demo_data" || got[0].Destination != "/data" || !got[0].RW {
		t.Errorf("mounts %+v", got)
	}
	if err := e.VolumeRemove(ctx, "demo_data", false); !cerrdefs.IsConflict(err) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("remove of a volume in use: %v", err)
	}
	all, err := e.VolumeList(ctx, volume.ListOptions{})
	must(t, err)
	if len(all.Volumes) != 3 { // demo_data, scratch and the anonymous one
		t.Errorf("%d volumes, want 3", len(all.Volumes))
	}
	must(t, e.ContainerRemove(ctx, resp.ID, container.RemoveOptions{RemoveVolumes: true}))
	must(t, e.VolumeRemove(ctx, "demo_data", false))
	if err := e.VolumeRemove(ctx, "demo_data", false); !cerrdefs.IsNotFound(err) {
		t.Errorf("second volume remove: %v, want not found", err)
	}
	must(t, e.VolumeRemove(ctx, "demo_data", true)) // force ignores a missing volume
	all, err = e.VolumeList(ctx, volume.ListOptions{})
	must(t, err)
	if len(all.Volumes) != 1 || all.Volumes[0].Name != "scratch" {
		t.Errorf("volumes left: %+v", all.Volumes)
	}
}

func readPull(t *testing.T, rc io.ReadCloser) (statuses []string, streamErr string) {
	t.Helper()
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var msg struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return statuses, ""
			}
			t.Fatal(err)
		}
		if msg.Error != "" {
			return statuses, msg.Error
		}
		statuses = append(statuses, msg.Status)
	}
}

func TestImages(t *testing.T) {
	e := memengine.New()
	if _, err := e.ImageInspect(ctx, "nginx:1.27"); !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspect of a missing image: %v", err)
	}
	id := e.AddImage("nginx:1.27")
	if id != memengine.New().AddImage("docker.io/library/nginx:1.27") || !strings.HasPrefix(id, "sha256:") || !hex64.MatchString(id[7:]) {
		t.Fatalf("image ID %q is not deterministic sha256", id)
	}
	for _, ref := range []string{"nginx:1.27", "docker.io/library/nginx:1.27", id, id[7:19]} {
		img, err := e.ImageInspect(ctx, ref)
		if err != nil || img.ID != id {
			t.Errorf("inspect %q: %v %s", ref, err, img.ID)
		}
	}
	if _, err := e.ImageInspect(ctx, "nginx"); !cerrdefs.IsNotFound(err) {
		t.Errorf("nginx means nginx:latest, which is missing: %v", err)
	}
	if again := e.AddImage("nginx:1.27"); again == id {
		t.Errorf("a new build under the same tag kept the ID")
	}

	// Pull: refused unless allowed.
	_, err := e.ImagePull(ctx, "private/thing:1", image.PullOptions{})
	if !cerrdefs.IsNotFound(err) || !strings.Contains(err.Error(), "pull access denied for private/thing") {
		t.Fatalf("pull of an unknown repository: %v", err)
	}
	e.AllowPullWithHealthcheck("rasa/rasa:3.6", "CMD", "true")
	rc, err := e.ImagePull(ctx, "rasa/rasa:3.6", image.PullOptions{})
	must(t, err)
	statuses, streamErr := readPull(t, rc)
	if streamErr != "" || !strings.HasPrefix(statuses[len(statuses)-1], "Status: Downloaded newer image for rasa/rasa:3.6") {
		t.Fatalf("pull stream %q %q", statuses, streamErr)
	}
	img, err := e.ImageInspect(ctx, "rasa/rasa:3.6")
	must(t, err)
	if img.Config == nil || img.Config.Healthcheck == nil || img.Config.Healthcheck.Test[0] != "CMD" || img.RepoTags[0] != "rasa/rasa:3.6" {
		t.Errorf("pulled image %+v", img)
	}
	rc, err = e.ImagePull(ctx, "rasa/rasa:3.6", image.PullOptions{})
	must(t, err)
	if statuses, _ := readPull(t, rc); !strings.Contains(statuses[len(statuses)-1], "Image is up to date") {
		t.Errorf("second pull %q", statuses)
	}
	e.BreakPull("busybox", "manifest unknown")
	rc, err = e.ImagePull(ctx, "busybox", image.PullOptions{})
	must(t, err)
	if _, streamErr := readPull(t, rc); streamErr != "manifest unknown" {
		t.Errorf("broken pull reported %q", streamErr)
	}
	if _, err := e.ImageInspect(ctx, "busybox"); !cerrdefs.IsNotFound(err) {
		t.Errorf("a broken pull left an image: %v", err)
	}
}

func TestPauseShowsPaused(t *testing.T) {
	e := memengine.New().WithImage("nginx:1.27")
	clk := newClock(e)
	id := create(t, e, "web", "", nil)
	if err := e.Pause(id); !cerrdefs.IsConflict(err) {
		t.Errorf("pause of a created container: %v", err)
	}
	must(t, e.ContainerStart(ctx, id, container.StartOptions{}))
	clk.advance(90 * time.Second)
	must(t, e.Pause(id))
	info := inspect(t, e, id)
	if info.State.Status != container.StatePaused || !info.State.Paused || !info.State.Running {
		t.Fatalf("paused container state %+v", info.State)
	}
	got := list(t, e, false)
	if len(got) != 1 || got[0].State != container.StatePaused || got[0].Status != "Up About a minute (Paused)" {
		t.Fatalf("list of a paused container: %+v", got)
	}
	if err := e.ContainerStart(ctx, id, container.StartOptions{}); !cerrdefs.IsConflict(err) || !strings.Contains(err.Error(), "unpause") {
		t.Errorf("start of a paused container: %v", err)
	}
	if err := e.ContainerRemove(ctx, id, container.RemoveOptions{}); !cerrdefs.IsConflict(err) {
		t.Errorf("remove of a paused container without force: %v", err)
	}
	must(t, e.Unpause(id))
	if got := inspect(t, e, id).State; got.Status != container.StateRunning || got.Paused {
		t.Errorf("unpaused container state %+v", got)
	}
	if err := e.Unpause(id); !cerrdefs.IsConflict(err) {
		t.Errorf("unpause of a running container: %v", err)
	}
}

func TestKillAndRestartPolicy(t *testing.T) {
	e := memengine.New().WithImage("nginx:1.27")
	id := create(t, e, "job", "", nil)
	must(t, e.ContainerStart(ctx, id, container.StartOptions{}))
	must(t, e.Kill(id, 3))
	if st := inspect(t, e, id).State; st.Status != container.StateExited || st.ExitCode != 3 {
		t.Fatalf("killed container without a restart policy: %+v", st)
	}
	if got := list(t, e, true)[0].Status; !strings.HasPrefix(got, "Exited (3) ") {
		t.Errorf("status %q", got)
	}

	resp, err := e.ContainerCreate(ctx, &container.Config{Image: "nginx:1.27"},
		&container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}}, nil, nil, "svc")
	must(t, err)
	must(t, e.ContainerStart(ctx, resp.ID, container.StartOptions{}))
	must(t, e.Kill(resp.ID, 137))
	if info := inspect(t, e, resp.ID); info.State.Status != container.StateRunning || info.RestartCount != 1 {
		t.Fatalf("killed container with unless-stopped: %+v restarts %d", info.State, info.RestartCount)
	}
	must(t, e.RemoveForce("svc"))
	if _, err := e.ContainerInspect(ctx, "svc"); !cerrdefs.IsNotFound(err) {
		t.Errorf("after RemoveForce: %v", err)
	}
}

func TestHealth(t *testing.T) {
	e := memengine.New()
	e.AddImageWithHealthcheck("rasa/rasa:3.6", "CMD", "curl", "-f", "http://localhost:5005/")
	e.AddImage("nginx:1.27")
	resp, err := e.ContainerCreate(ctx, &container.Config{Image: "rasa/rasa:3.6"}, nil, nil, nil, "rasa")
	must(t, err)
	if h := inspect(t, e, resp.ID).State.Health; h != nil {
		t.Errorf("health before the first start: %+v", h)
	}
	must(t, e.ContainerStart(ctx, resp.ID, container.StartOptions{}))
	info := inspect(t, e, resp.ID)
	if info.State.Health == nil || info.State.Health.Status != container.Healthy || info.Config.Healthcheck == nil {
		t.Fatalf("health after start: %+v (config %+v)", info.State.Health, info.Config.Healthcheck)
	}
	must(t, e.SetHealth("rasa", container.Unhealthy))
	if got := inspect(t, e, "rasa").State.Health.Status; got != container.Unhealthy {
		t.Errorf("health after SetHealth: %s", got)
	}
	if got := list(t, e, false)[0].Status; !strings.HasSuffix(got, "(unhealthy)") {
		t.Errorf("status %q", got)
	}
	// Sticky across restarts until cleared.
	must(t, e.ContainerStop(ctx, "rasa", container.StopOptions{}))
	must(t, e.ContainerStart(ctx, "rasa", container.StartOptions{}))
	if got := inspect(t, e, "rasa").State.Health.Status; got != container.Unhealthy {
		t.Errorf("health after a restart: %s", got)
	}
	must(t, e.SetHealth("rasa", ""))
	if got := inspect(t, e, "rasa").State.Health.Status; got != container.Healthy {
		t.Errorf("health after clearing: %s", got)
	}

	// A config health check of NONE disables the image's.
	resp, err = e.ContainerCreate(ctx, &container.Config{Image: "rasa/rasa:3.6", Healthcheck: &container.HealthConfig{Test: []string{"NONE"}}}, nil, nil, nil, "quiet")
	must(t, err)
	must(t, e.ContainerStart(ctx, resp.ID, container.StartOptions{}))
	if h := inspect(t, e, "quiet").State.Health; h != nil {
		t.Errorf("health with NONE: %+v", h)
	}
	if err := e.SetHealth("quiet", container.Unhealthy); err == nil {
		t.Errorf("SetHealth on a container without a health check succeeded")
	}
	// A config health check on an image without one.
	resp, err = e.ContainerCreate(ctx, &container.Config{Image: "nginx:1.27", Healthcheck: &container.HealthConfig{Test: []string{"CMD", "true"}}}, nil, nil, nil, "checked")
	must(t, err)
	must(t, e.ContainerStart(ctx, resp.ID, container.StartOptions{}))
	if h := inspect(t, e, "checked").State.Health; h == nil || h.Status != container.Healthy {
		t.Errorf("health from the config: %+v", h)
	}
}

func TestPortConflict(t *testing.T) {
	e := memengine.New().WithImage("nginx:1.27")
	host := &container.HostConfig{PortBindings: nat.PortMap{"80/tcp": {{HostPort: "8080"}}}}
	cfg := &container.Config{Image: "nginx:1.27", ExposedPorts: nat.PortSet{"80/tcp": {}}}
	a, err := e.ContainerCreate(ctx, cfg, host, nil, nil, "web-a")
	must(t, err)
	b, err := e.ContainerCreate(ctx, cfg, host, nil, nil, "web-b")
	must(t, err)
	must(t, e.ContainerStart(ctx, a.ID, container.StartOptions{}))
	if err := e.ContainerStart(ctx, b.ID, container.StartOptions{}); err == nil || !strings.Contains(err.Error(), "port is already allocated") {
		t.Fatalf("second start on a taken host port: %v", err)
	}
	if st := inspect(t, e, b.ID).State.Status; st != container.StateCreated {
		t.Errorf("state after a failed start: %s", st)
	}
	if p := list(t, e, false)[0].Ports; len(p) != 1 || p[0].PublicPort != 8080 || p[0].PrivatePort != 80 {
		t.Errorf("ports %+v", p)
	}
	must(t, e.ContainerStop(ctx, a.ID, container.StopOptions{}))
	must(t, e.ContainerStart(ctx, b.ID, container.StartOptions{}))
}

// next receives one message or fails.
func next(t *testing.T, msgs <-chan events.Message, errs <-chan error) events.Message {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case err := <-errs:
		t.Fatalf("stream ended: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return events.Message{}
}

func TestEvents(t *testing.T) {
	e := memengine.New().WithImage("nginx:1.27")
	newClock(e) // whole seconds, so Until below includes every event
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// What the daemon's watcher asks for.
	watch, watchErrs := e.Events(sctx, events.ListOptions{Filters: filters.NewArgs(filters.Arg("type", "container"),
		filters.Arg("label", "io.rasa-gitops.managed=true"), filters.Arg("event", "die"), filters.Arg("event", "destroy"), filters.Arg("event", "stop"))})
	// Everything about one container, by name.
	byName, byNameErrs := e.Events(sctx, events.ListOptions{Filters: filters.NewArgs(filters.Arg("container", "demo-web-1"))})
	// Network events.
	nets, netErrs := e.Events(sctx, events.ListOptions{Filters: filters.NewArgs(filters.Arg("type", "network"))})
	if n := e.Subscribers(); n != 3 {
		t.Fatalf("%d subscribers", n)
	}

	id := create(t, e, "demo-web-1", "", map[string]string{"io.rasa-gitops.managed": "true", "com.docker.compose.project": "demo"})
	other := create(t, e, "unmanaged", "", nil)
	must(t, e.ContainerStart(ctx, other, container.StartOptions{}))
	must(t, e.ContainerStop(ctx, other, container.StopOptions{}))
	must(t, e.ContainerStart(ctx, id, container.StartOptions{}))
	must(t, e.Pause(id))
	must(t, e.Unpause(id))
	must(t, e.ContainerRename(ctx, id, "demo-web-1-old"))
	must(t, e.ContainerStop(ctx, id, container.StopOptions{}))
	must(t, e.ContainerRemove(ctx, id, container.RemoveOptions{}))

	var got []string
	for range 3 {
		m := next(t, watch, watchErrs)
		if m.Type != events.ContainerEventType || m.Actor.ID != id || m.Actor.Attributes["com.docker.compose.project"] != "demo" || m.Actor.Attributes["image"] != "nginx:1.27" {
			t.Errorf("watch got %+v", m)
		}
		got = append(got, string(m.Action)+":"+m.Actor.Attributes["name"])
	}
	if strings.Join(got, " ") != "die:demo-web-1-old stop:demo-web-1-old destroy:demo-web-1-old" {
		t.Errorf("watcher events %q", got)
	}

	// The container filter matches the ID or the name by prefix, as the Engine's does,
	// so the renamed demo-web-1-old still matches.
	got = nil
	for range 9 {
		m := next(t, byName, byNameErrs)
		got = append(got, string(m.Action))
		switch m.Action {
		case events.ActionDie:
			if m.Actor.Attributes["exitCode"] != "0" {
				t.Errorf("die event %+v", m)
			}
		case events.ActionKill:
			if m.Actor.Attributes["signal"] != "15" {
				t.Errorf("kill event %+v", m)
			}
		case events.ActionRename:
			if m.Actor.Attributes["oldName"] != "/demo-web-1" || m.Actor.Attributes["name"] != "demo-web-1-old" {
				t.Errorf("rename event %+v", m)
			}
		}
	}
	if strings.Join(got, " ") != "create start pause unpause rename kill die stop destroy" {
		t.Errorf("events of demo-web-1 %q", got)
	}

	got = nil
	for range 4 {
		m := next(t, nets, netErrs)
		if m.Actor.Attributes["name"] != "bridge" {
			t.Errorf("network event %+v", m)
		}
		got = append(got, string(m.Action))
	}
	if strings.Join(got, " ") != "connect disconnect connect disconnect" {
		t.Errorf("network events %q", got)
	}

	// CutEvents ends every stream with ErrCut after what was already queued.
	if n := e.CutEvents(); n != 3 {
		t.Errorf("cut %d streams", n)
	}
	for _, errs := range []<-chan error{watchErrs, netErrs} {
		select {
		case err := <-errs:
			if !errors.Is(err, memengine.ErrCut) || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("stream ended with %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the cut stream did not end")
		}
		if _, open := <-errs; open {
			t.Errorf("the error channel stayed open")
		}
	}
	if n := e.Subscribers(); n != 0 {
		t.Errorf("%d subscribers after the cut", n)
	}

	// Missed events can be replayed with Since.
	replay, replayErrs := e.Events(sctx, events.ListOptions{Since: "1h", Until: "0s", Filters: filters.NewArgs(filters.Arg("event", "destroy"))})
	if m := next(t, replay, replayErrs); m.Action != events.ActionDestroy || m.Actor.ID != id {
		t.Errorf("replayed %+v", m)
	}
	if err := <-replayErrs; !errors.Is(err, io.EOF) {
		t.Errorf("a stream with Until in the past ended with %v, want EOF", err)
	}

	// A bad filter fails the stream at once, as the Engine's 400 does.
	_, badErrs := e.Events(sctx, events.ListOptions{Filters: filters.NewArgs(filters.Arg("colour", "red"))})
	if err := <-badErrs; !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("bad filter: %v", err)
	}

	// Cancelling the context ends a stream with the context's error.
	cctx, ccancel := context.WithCancel(ctx)
	_, cerrs := e.Events(cctx, events.ListOptions{})
	ccancel()
	if err := <-cerrs; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled stream ended with %v", err)
	}
}

func TestFailNext(t *testing.T) {
	e := memengine.New().WithImage("nginx:1.27")
	boom := errors.New("boom")
	id := create(t, e, "web", "", nil)
	e.FailNext("ContainerStart", boom)
	if err := e.ContainerStart(ctx, id, container.StartOptions{}); !errors.Is(err, boom) {
		t.Fatalf("start with FailNext: %v", err)
	}
	if st := inspect(t, e, id).State.Status; st != container.StateCreated {
		t.Errorf("a failed start changed the state to %s", st)
	}
	must(t, e.ContainerStart(ctx, id, container.StartOptions{})) // only the next call fails

	// FailNextAfter: the Engine acts, the answer is lost.
	e.FailNextAfter("ContainerCreate", boom)
	if _, err := e.ContainerCreate(ctx, &container.Config{Image: "nginx:1.27"}, nil, nil, nil, "lost"); !errors.Is(err, boom) {
		t.Fatalf("create with FailNextAfter: %v", err)
	}
	if _, err := e.ContainerCreate(ctx, &container.Config{Image: "nginx:1.27"}, nil, nil, nil, "lost"); !cerrdefs.IsConflict(err) {
		t.Errorf("the lost create did not happen: %v", err)
	}
	if _, err := e.ContainerCreate(ctx, &container.Config{Image: "nginx:1.27"}, nil, nil, nil, "x"); !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("a one-letter name (refused by the Engine): %v", err)
	}

	// Calls and Mutations count Engine calls, not helpers.
	e.ResetCalls()
	list(t, e, true)
	inspect(t, e, id)
	must(t, e.Pause(id))
	if m := e.Mutations(); len(m) != 0 {
		t.Errorf("mutations %v", m)
	}
	must(t, e.ContainerStop(ctx, id, container.StopOptions{}))
	if c, m := e.Calls(), e.Mutations(); strings.Join(c, " ") != "ContainerList ContainerInspect ContainerStop" || strings.Join(m, " ") != "ContainerStop" {
		t.Errorf("calls %v, mutations %v", c, m)
	}

	// A cancelled context fails a call as the client does.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.ContainerList(cctx, container.ListOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("list with a cancelled context: %v", err)
	}
}
