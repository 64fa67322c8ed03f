package reconcile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

// TestEngineValuesAcceptedByEngine converges compose/testdata/engine-valid on the real
// Engine: every value there sits at the edge of what compose's Engine-value checks
// accept (compose's TestEngineValuesBoundaryValid validates the same files), so a value
// validate accepts but the Engine refuses when it creates or starts the container
// fails here, and "valid but refused by the Engine" cannot come back unnoticed.
func TestEngineValuesAcceptedByEngine(t *testing.T) {
	t.Parallel()
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	ctx := context.Background()

	subnet, address := freeSubnet(t, cli)
	port := freePortPair(t)
	env := map[string]string{
		"VALUES_PROJECT": project,
		"STUB_IMAGE":     testengine.StubImage,
		"VALUES_SUBNET":  subnet,
		"VALUES_ADDRESS": address,
		"VALUES_PORTS":   fmt.Sprintf("127.0.0.1:%d-%d", port, port+1),
	}
	d, err := compose.Load("../compose/testdata/engine-valid", compose.LoadOptions{Env: env})
	if err != nil {
		t.Fatalf("load:\n%v", err)
	}
	r, err := compose.Render(ctx, d, compose.RenderOptions{ModelToken: "model-token", DefaultToken: "rasa-token", GeneratedDir: t.TempDir()})
	if err != nil {
		t.Fatalf("render:\n%v", err)
	}
	run, err := Converge(ctx, cli, r, "main@sha1:values", RunOptions{
		Options:      Options{Prune: true},
		ApplyOptions: ApplyOptions{HealthTimeout: time.Minute, StableFor: time.Second},
		Timeout:      3 * time.Minute,
	})
	if err != nil {
		t.Fatalf("converge: %v", err)
	}
	if err := run.Result.Err(); err != nil {
		t.Fatalf("the Engine refused a value validate accepts:\n%v\nplan:\n%s", err, run.Plan)
	}

	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", compose.LabelProject+"="+project))})
	if err != nil {
		t.Fatal(err)
	}
	byService := map[string]string{}
	for _, c := range list {
		if c.State != "running" {
			t.Errorf("%s is %s (%s)", c.Names[0], c.State, c.Status)
		}
		byService[c.Labels[compose.LabelService]] = c.ID
	}
	if len(byService) != 2 {
		t.Fatalf("want the containers of rasa-production and values, got %v", byService)
	}

	// The Engine kept the values at their boundaries (it did not drop or clamp them).
	prod, err := cli.ContainerInspect(ctx, byService["rasa-production"])
	if err != nil {
		t.Fatal(err)
	}
	h := prod.HostConfig
	checks := []struct {
		what      string
		got, want any
	}{
		{"restart", fmt.Sprint(h.RestartPolicy.Name, ":", h.RestartPolicy.MaximumRetryCount), "on-failure:3"},
		{"memory reservation", h.MemoryReservation, int64(6 << 20)},
		{"memory swap", h.MemorySwap, int64(-1)},
		{"oom score adj", h.OomScoreAdj, 1000},
		{"sysctls", h.Sysctls["net.core.somaxconn"] + " " + h.Sysctls["fs.mqueue.msg_max"], "1024 20"},
		{"hostname", len(prod.Config.Hostname), 64},
		{"ipc", string(h.IpcMode), "shareable"},
	}
	var ulimits []string
	for _, u := range h.Ulimits {
		ulimits = append(ulimits, fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard))
	}
	checks = append(checks, struct {
		what      string
		got, want any
	}{"ulimits", strings.Join(ulimits, " "), "core=0:0 nofile=1024:2048"})
	values, err := cli.ContainerInspect(ctx, byService["values"])
	if err != nil {
		t.Fatal(err)
	}
	checks = append(checks, []struct {
		what      string
		got, want any
	}{
		{"cpus", values.HostConfig.NanoCPUs, int64(1e7)},
		{"cpu shares", values.HostConfig.CPUShares, int64(2)},
		{"health-check interval", values.Config.Healthcheck.Interval, time.Millisecond},
		{"address", values.NetworkSettings.Networks[project+"_values"].IPAMConfig.IPv4Address, address},
	}...)
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: the Engine has %v, want %v", c.what, c.got, c.want)
		}
	}
}

// freeSubnet picks a /24 under 10.200.0.0/13 that no network of the Engine uses, and
// an address in it.
func freeSubnet(t *testing.T, cli *client.Client) (string, string) {
	t.Helper()
	nets, err := cli.NetworkList(context.Background(), network.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var used []netip.Prefix
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				used = append(used, p)
			}
		}
	}
	for range 100 {
		p := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 200+rand.IntN(8), rand.IntN(256)))
		free := true
		for _, u := range used {
			free = free && !u.Overlaps(p)
		}
		if free {
			a := p.Addr().As4()
			a[3] = 10
			return p.String(), netip.AddrFrom4(a).String()
		}
	}
	t.Fatal("no free /24 under 10.200.0.0/13")
	return "", ""
}

// freePortPair finds a loopback TCP port whose next port is free too.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		port := freePort(t)
		if port >= 65535 {
			continue
		}
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1)); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no two consecutive free ports")
	return 0
}
