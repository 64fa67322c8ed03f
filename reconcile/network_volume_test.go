package reconcile

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/memengine"
)

// attached gives a listed container endpoints on networks, as the Engine lists them.
func attached(c container.Summary, networks ...string) container.Summary {
	c.NetworkSettings = &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{}}
	for _, n := range networks {
		c.NetworkSettings.Networks[n] = &network.EndpointSettings{}
	}
	return c
}

// hashed labels an observed network or volume with a config hash.
func hashed(labels map[string]string, hash string) map[string]string {
	out := map[string]string{compose.LabelConfigHash: hash}
	for k, v := range labels {
		out[k] = v
	}
	return out
}

func withHashes(d Desired, network, volume string) Desired {
	d.NetworkHashes = map[string]string{"default": network}
	d.VolumeHashes = map[string]string{"data": volume}
	return d
}

// TestPlanNetworkVolumeChanges: golden plans for a network or volume whose config hash
// changed (or is unknown).
func TestPlanNetworkVolumeChanges(t *testing.T) {
	net := project + "_default"
	infra := func(netHash, volHash string, cs ...container.Summary) *fakeEngine {
		n, v := projectNetwork(), projectVolume()
		if netHash != "" {
			n.Labels = hashed(n.Labels, netHash)
		}
		if volHash != "" {
			v.Labels = hashed(v.Labels, volHash)
		}
		return &fakeEngine{containers: cs, networks: []network.Summary{n}, volumes: []*volume.Volume{v}}
	}
	exited := func(c container.Summary) container.Summary {
		c.Status = "Exited (1) 2 minutes ago"
		return c
	}
	base := []container.Summary{attached(running("db", "h-db", "running"), net), attached(running("rasa-production", "h1", "running"), net)}
	services := desiredOf(svc("rasa-production", "h1", onDefault), svc("db", "h-db", onDefault))
	tests := []struct {
		name    string
		desired Desired
		engine  *fakeEngine
		opts    Options
	}{
		{"network-changed", withHashes(services, "n2", "v1"), infra("n1", "v1", base...), Options{Prune: true}},
		{"network-changed-stopped-container", withHashes(desiredOf(svc("rasa-production", "h1", onDefault), svc("db", "h-db", onDefault)), "n2", "v1"),
			infra("n1", "v1", attached(exited(running("db", "h-db", "exited")), net), base[1]), Options{Prune: true}},
		{"network-changed-service-changed", withHashes(desiredOf(svc("rasa-production", "h2", onDefault), svc("db", "h-db", onDefault)), "n2", "v1"),
			infra("n1", "v1", base...), Options{Prune: true}},
		{"network-changed-prune-first", withHashes(desiredOf(svc("db", "h-db", onDefault)), "n2", "v1"), infra("n1", "v1", base...), Options{Prune: true}},
		{"network-changed-frozen", withHashes(services, "n2", "v1"), infra("n1", "v1", base...), Options{Prune: true, Frozen: map[string]bool{"rasa-production": true}}},
		{"network-unlabelled", withHashes(services, "n2", "v1"), infra("", "v1", base...), Options{Prune: true}},
		{"network-hash-unknown", services, infra("n1", "v1", base...), Options{Prune: true}},
		{"volume-changed", withHashes(services, "n1", "v2"), infra("n1", "v1", base...), Options{Prune: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			observed, err := Observe(context.Background(), tt.engine, project)
			if err != nil {
				t.Fatal(err)
			}
			plan := MakePlan(tt.desired, observed, tt.opts)
			if again := MakePlan(tt.desired, observed, tt.opts); plan.String() != again.String() {
				t.Fatal("plan is not deterministic")
			}
			golden(t, filepath.Join("testdata", "plans", tt.name+".txt"), planSteps(plan))
		})
	}
}

func onDefault(s *types.ServiceConfig) {
	s.Networks = map[string]*types.ServiceNetworkConfig{"default": nil}
}

// TestNetworkVolumeHash: the hashes are deterministic, follow the declaration only,
// and count an empty volume driver as local.
func networkHash(t *testing.T, n types.NetworkConfig) string {
	t.Helper()
	h, err := compose.NetworkHash(n)
	if err != nil {
		t.Fatalf("hash of network %s: %v", n.Name, err)
	}
	return h
}

func volumeHash(t *testing.T, v types.VolumeConfig) string {
	t.Helper()
	h, err := compose.VolumeHash(v)
	if err != nil {
		t.Fatalf("hash of volume %s: %v", v.Name, err)
	}
	return h
}

func TestNetworkVolumeHash(t *testing.T) {
	n := types.NetworkConfig{Name: "p_default", DriverOpts: types.Options{"a": "1", "b": "2", "c": "3"}, Labels: types.Labels{"x": "1", "y": "2"}}
	h1 := networkHash(t, n)
	for range 20 {
		// Fresh maps, built in another order, hash the same.
		m := types.NetworkConfig{Name: "p_default", DriverOpts: types.Options{"c": "3", "b": "2", "a": "1"}, Labels: types.Labels{"y": "2", "x": "1"}}
		m.CustomLabels = types.Labels{compose.LabelProject: "p"} // bookkeeping: not hashed
		if h := networkHash(t, m); h != h1 {
			t.Fatalf("hash not deterministic: %s != %s", h, h1)
		}
	}
	for name, change := range map[string]func(*types.NetworkConfig){
		"driver":      func(n *types.NetworkConfig) { n.Driver = "macvlan" },
		"driver_opts": func(n *types.NetworkConfig) { n.DriverOpts = types.Options{"a": "1", "b": "2", "c": "4"} },
		"ipam":        func(n *types.NetworkConfig) { n.Ipam.Config = []*types.IPAMPool{{Subnet: "10.9.0.0/24"}} },
		"internal":    func(n *types.NetworkConfig) { n.Internal = true },
		"attachable":  func(n *types.NetworkConfig) { n.Attachable = true },
		"enable_ipv6": func(n *types.NetworkConfig) { v := true; n.EnableIPv6 = &v },
		"labels":      func(n *types.NetworkConfig) { n.Labels = types.Labels{"x": "1"} },
	} {
		m := n
		change(&m)
		if h := networkHash(t, m); h == h1 {
			t.Errorf("a changed %s keeps the network hash", name)
		}
	}
	v1 := volumeHash(t, types.VolumeConfig{Name: "p_data"})
	v2 := volumeHash(t, types.VolumeConfig{Name: "p_data", Driver: "local"})
	v3 := volumeHash(t, types.VolumeConfig{Name: "p_data", DriverOpts: types.Options{"type": "tmpfs"}})
	if v1 != v2 || v1 == v3 || len(v1) != 64 {
		t.Errorf("volume hashes: %s %s %s", v1, v2, v3)
	}
}

func TestVolumeDiffMessage(t *testing.T) {
	own := map[string]string{compose.LabelProject: "p", compose.LabelManaged: "true", "com.docker.compose.volume": "data", compose.LabelComposeVersion: "2", compose.LabelConfigHash: "aaaaaaaaaaaaaaaa"}
	have := volume.Volume{Name: "p_data", Driver: "local", Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}, Labels: hashed(own, "aaaaaaaaaaaaaaaa")}
	for _, tc := range []struct {
		want types.VolumeConfig
		diff string
	}{
		{types.VolumeConfig{DriverOpts: types.Options{"type": "nfs", "device": "tmpfs"}}, "driver_opts changed (type: tmpfs → nfs)"},
		{types.VolumeConfig{DriverOpts: types.Options{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}, "driver_opts changed (o: (unset) → size=1m)"},
		{types.VolumeConfig{Driver: "nfs", DriverOpts: types.Options{"type": "tmpfs", "device": "tmpfs"}, Labels: types.Labels{"tier": "db"}}, "driver changed (local → nfs) and labels changed (tier: (unset) → db)"},
		{types.VolumeConfig{DriverOpts: types.Options{"type": "cifs", "device": "tmpfs", "o": "username=u,password=secret"}}, "driver_opts changed (o: changed (value not shown), type: tmpfs → cifs)"},
		{types.VolumeConfig{DriverOpts: types.Options{"type": "tmpfs", "device": "tmpfs"}}, "configuration changed (config hash aaaaaaaaaaaa → bbbbbbbbbbbb)"},
	} {
		if got := volumeDiff(tc.want, have, "bbbbbbbbbbbbbbbb"); got != tc.diff {
			t.Errorf("got  %s\nwant %s", got, tc.diff)
		}
	}
}

// memProject renders a declaration with one Rasa environment and a compose file, for
// the in-memory Engine.
type memProject struct {
	*stack
	e *memengine.Engine
}

const memName = "demo"

func newMemProject(t *testing.T, composeFile string) *memProject {
	e := memengine.New()
	// A health check makes containers healthy at start: memengine has no network to probe.
	e.AddImageWithHealthcheck("rasa-gitops/rasa-stub:dev", "CMD", "/usr/local/bin/rasa-stub", "health")
	s := &stack{t: t, project: memName, dir: t.TempDir(), gen: t.TempDir(), files: map[string]string{
		"rasa-gitops.yaml":             "version: 1\nproject: " + memName + "\nrasa:\n  image: rasa-gitops/rasa-stub:dev\nmodelServer:\n  url: http://127.0.0.1:1\ncompose:\n  files: [compose.yaml]\n",
		"environments/production.yaml": "",
		"compose.yaml":                 composeFile,
	}}
	return &memProject{stack: s, e: e}
}

func (m *memProject) converge() (Run, error) {
	m.t.Helper()
	return Converge(context.Background(), m.e, m.render(), "main@sha1:test", RunOptions{Options: Options{Prune: true},
		ApplyOptions: ApplyOptions{HealthTimeout: 5 * time.Second, StableFor: time.Millisecond}})
}

func (m *memProject) mustConverge() Plan {
	m.t.Helper()
	run, err := m.converge()
	if err != nil {
		m.t.Fatalf("converge: %v", err)
	}
	if err := run.Result.Err(); err != nil {
		m.t.Fatalf("apply failed:\n%v\nplan:\n%s", err, run.Plan)
	}
	return run.Plan
}

func (m *memProject) inspect(name string) container.InspectResponse {
	m.t.Helper()
	info, err := m.e.ContainerInspect(context.Background(), name)
	if err != nil {
		m.t.Fatal(err)
	}
	return info
}

func (m *memProject) network(name string) network.Inspect {
	m.t.Helper()
	n, err := m.e.NetworkInspect(context.Background(), name, network.InspectOptions{})
	if err != nil {
		m.t.Fatal(err)
	}
	return n
}

// networkFile declares the default network with an MTU, and a second service with an
// extra alias on it.
func networkFile(mtu string) string {
	return fmt.Sprintf("services:\n  helper:\n    image: rasa-gitops/rasa-stub:dev\n    networks:\n      default:\n        aliases: [helper-alias]\n"+
		"networks:\n  default:\n    driver_opts:\n      com.docker.network.driver.mtu: %q\n", mtu)
}

// assertOn checks that a container is connected to the network netID under the
// aliases given.
func assertOn(t *testing.T, info container.InspectResponse, netName, netID string, aliases ...string) {
	t.Helper()
	ep := info.NetworkSettings.Networks[netName]
	if ep == nil || ep.NetworkID != netID {
		t.Fatalf("%s is not connected to %s (%s): %+v", info.Name, netName, netID, info.NetworkSettings.Networks)
	}
	for _, a := range aliases {
		if !slices.Contains(ep.Aliases, a) {
			t.Errorf("%s has aliases %v on %s, not %s", info.Name, ep.Aliases, netName, a)
		}
	}
}

// TestNetworkChangeRecreatesAndReconnects (in-memory Engine): a changed driver option
// recreates the network; the containers are disconnected, keep running, and are
// reconnected to the new network with their aliases; nothing else changes.
func TestNetworkChangeRecreatesAndReconnects(t *testing.T) {
	m := newMemProject(t, networkFile("1450"))
	net := memName + "_default"
	m.mustConverge()
	old := m.network(net)
	if old.Labels[compose.LabelConfigHash] == "" || old.Options["com.docker.network.driver.mtu"] != "1450" {
		t.Fatalf("created network: labels %v options %v", old.Labels, old.Options)
	}
	helper, rasa := m.inspect(ContainerName(memName, "helper")), m.inspect(ContainerName(memName, "rasa-production"))

	m.files["compose.yaml"] = networkFile("1400")
	m.e.ResetCalls()
	plan := m.mustConverge()
	want := "network:demo_default  recreate  config hash changed (reconnects demo-helper-1, demo-rasa-production-1)\n"
	if plan.String() != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", plan, want)
	}
	if got, want := strings.Join(m.e.Mutations(), " "), "NetworkDisconnect NetworkDisconnect NetworkRemove NetworkCreate NetworkConnect NetworkConnect"; got != want {
		t.Errorf("mutations %s, want %s", got, want)
	}
	now := m.network(net)
	if now.ID == old.ID || now.Options["com.docker.network.driver.mtu"] != "1400" {
		t.Fatalf("network not recreated: %s %v", now.ID, now.Options)
	}
	if h := networkHash(t, m.render().Project.Networks["default"]); now.Labels[compose.LabelConfigHash] != h {
		t.Errorf("hash label %q, want %q", now.Labels[compose.LabelConfigHash], h)
	}
	if _, ok := now.Containers[helper.ID]; !ok || len(now.Containers) != 2 {
		t.Errorf("attached to the new network: %v", now.Containers)
	}
	h2, r2 := m.inspect(helper.ID), m.inspect(rasa.ID)
	if !h2.State.Running || !r2.State.Running {
		t.Error("a container stopped")
	}
	assertOn(t, h2, net, now.ID, "helper", "helper-alias")
	assertOn(t, r2, net, now.ID, "rasa-production")

	// Converged: no mutating call.
	m.e.ResetCalls()
	if plan := m.mustConverge(); !plan.Empty() {
		t.Fatalf("not converged:\n%s", plan)
	}
	if mut := m.e.Mutations(); len(mut) != 0 {
		t.Errorf("a converged project cost %v", mut)
	}
}

// TestNetworkRecreateFailures: a failure before the old network is removed reconnects
// the containers to it; a failure after (the create) leaves the network missing, and
// the next run creates it and reconnects the containers.
func TestNetworkRecreateFailures(t *testing.T) {
	m := newMemProject(t, networkFile("1450"))
	net := memName + "_default"
	m.mustConverge()
	old := m.network(net)
	m.files["compose.yaml"] = networkFile("1400")

	m.e.FailNext("NetworkRemove", errors.New("boom"))
	run, err := m.converge()
	if err != nil {
		t.Fatal(err)
	}
	if a := run.Result.Actions; len(a) != 1 || a[0].Outcome != OutcomeFailed || !a[0].RolledBack || !strings.Contains(a[0].Err.Error(), "boom") {
		t.Fatalf("want one failed, rolled-back action: %+v", run.Result.Actions)
	}
	if s := run.Result.Actions[0].String(); !strings.Contains(s, "connected to the old network again") {
		t.Errorf("result line: %s", s)
	}
	assertOn(t, m.inspect(ContainerName(memName, "helper")), net, old.ID, "helper", "helper-alias")
	assertOn(t, m.inspect(ContainerName(memName, "rasa-production")), net, old.ID, "rasa-production")

	m.e.FailNext("NetworkCreate", errors.New("boom"))
	run, err = m.converge()
	if err != nil {
		t.Fatal(err)
	}
	if a := run.Result.Actions; len(a) != 1 || a[0].Outcome != OutcomeFailed || a[0].RolledBack || !strings.Contains(a[0].Err.Error(), "the next run creates it") {
		t.Fatalf("want one failed action past its point of no return: %+v", run.Result.Actions)
	}
	plan := m.mustConverge()
	want := "network:demo_default     create    missing\n" +
		"service:helper           connect   disconnected from network demo_default (self-heal)\n" +
		"service:rasa-production  connect   disconnected from network demo_default (self-heal)\n"
	if plan.String() != want {
		t.Fatalf("retry plan:\n%s\nwant:\n%s", plan, want)
	}
	now := m.network(net)
	assertOn(t, m.inspect(ContainerName(memName, "helper")), net, now.ID, "helper", "helper-alias")
	assertOn(t, m.inspect(ContainerName(memName, "rasa-production")), net, now.ID, "rasa-production")
	if plan := m.mustConverge(); !plan.Empty() {
		t.Fatalf("not converged:\n%s", plan)
	}
}

func volumeFile(size string) string {
	return "services:\n  store:\n    image: rasa-gitops/rasa-stub:dev\n    volumes:\n      - data:/data\n" +
		"volumes:\n  data:\n    driver_opts:\n      type: tmpfs\n      device: tmpfs\n      o: size=" + size + "\n"
}

// TestVolumeChangeRefused (in-memory Engine): a changed volume driver option refuses
// the revision with a message naming what differs, at the cost of no mutating call;
// a volume created without a hash label (an older rasa-gitops) is accepted as it is.
func TestVolumeChangeRefused(t *testing.T) {
	m := newMemProject(t, volumeFile("10m"))
	m.mustConverge()
	vols, err := m.e.VolumeList(context.Background(), volume.ListOptions{})
	if err != nil || len(vols.Volumes) != 1 || vols.Volumes[0].Labels[compose.LabelConfigHash] == "" {
		t.Fatalf("volumes %+v %v", vols.Volumes, err)
	}
	store := m.inspect(ContainerName(memName, "store"))

	m.files["compose.yaml"] = volumeFile("20m")
	m.e.ResetCalls()
	_, err = m.converge()
	var np *NeedsPersonError
	if !errors.As(err, &np) {
		t.Fatalf("want a NeedsPersonError, got %v", err)
	}
	want := "volume demo_data: driver_opts changed (o: size=10m → size=20m); rasa-gitops never deletes a volume's data: run `rasa-gitops down --volumes` (which deletes its data) or restore the old configuration"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if mut := m.e.Mutations(); len(mut) != 0 {
		t.Errorf("a refused volume change cost %v", mut)
	}
	after, err := m.e.VolumeList(context.Background(), volume.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Volumes) != 1 || after.Volumes[0].Options["o"] != "size=10m" {
		t.Errorf("the volume changed: %+v", after.Volumes)
	}
	if now := m.inspect(ContainerName(memName, "store")); now.ID != store.ID || !now.State.Running {
		t.Error("the container using the volume changed")
	}

	// Back to the old configuration: converged, nothing to do.
	m.files["compose.yaml"] = volumeFile("10m")
	if plan := m.mustConverge(); !plan.Empty() {
		t.Fatalf("plan:\n%s", plan)
	}

	// An unlabelled volume (an older rasa-gitops) is not refused.
	u := newMemProject(t, volumeFile("10m"))
	if _, err := u.e.VolumeCreate(context.Background(), volume.CreateOptions{Name: "demo_data", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"},
		Labels: map[string]string{compose.LabelProject: memName, compose.LabelManaged: "true", "com.docker.compose.volume": "data"}}); err != nil {
		t.Fatal(err)
	}
	if plan := u.mustConverge(); strings.Contains(plan.String(), "volume:") {
		t.Errorf("plan for an unlabelled volume:\n%s", plan)
	}
}
