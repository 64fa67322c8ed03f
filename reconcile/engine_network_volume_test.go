package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// withCompose adds a compose file to a stack's declaration.
func (s *stack) withCompose(content string) {
	if !strings.Contains(s.files["rasa-gitops.yaml"], "compose:") {
		s.files["rasa-gitops.yaml"] += "compose:\n  files: [compose.yaml]\n"
	}
	s.files["compose.yaml"] = content
}

// TestEngineNetworkChangeRecreates (real Engine): a revision that changes the MTU of
// the project network recreates it; both containers keep running, are reconnected
// with their aliases, and the Rasa stand-in answers GET / on its new address.
func TestEngineNetworkChangeRecreates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStack(t, map[string]string{"production": ""})
	s.withCompose(networkFile("1450"))
	s.mustConverge()
	netName := s.project + "_default"
	old, err := s.cli.NetworkInspect(ctx, netName, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if old.Labels[compose.LabelConfigHash] == "" || old.Options["com.docker.network.driver.mtu"] != "1450" {
		t.Fatalf("created network: labels %v options %v", old.Labels, old.Options)
	}
	before := s.containers()
	rasa, helper := before[s.name("rasa-production")], before[s.name("helper")]

	s.files["compose.yaml"] = networkFile("1400")
	plan := s.mustConverge()
	want := "network:" + netName + "  recreate  config hash changed (reconnects " + s.name("helper") + ", " + s.name("rasa-production") + ")\n"
	if plan.String() != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", plan, want)
	}
	now, err := s.cli.NetworkInspect(ctx, netName, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if now.ID == old.ID || now.Options["com.docker.network.driver.mtu"] != "1400" || now.Labels[compose.LabelConfigHash] == old.Labels[compose.LabelConfigHash] {
		t.Fatalf("network not recreated: %s options %v labels %v", now.ID, now.Options, now.Labels)
	}
	after := s.containers()
	for name, c := range map[string]string{s.name("rasa-production"): rasa.ID, s.name("helper"): helper.ID} {
		if after[name].ID != c || after[name].State != "running" {
			t.Errorf("%s was recreated or stopped: %+v", name, after[name])
		}
		if _, ok := now.Containers[c]; !ok {
			t.Errorf("%s is not connected to the new network", name)
		}
	}
	for id, aliases := range map[string][]string{rasa.ID: {"rasa-production"}, helper.ID: {"helper", "helper-alias"}} {
		info, err := s.cli.ContainerInspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		assertOn(t, info, netName, now.ID, aliases...)
	}
	// The stand-in answers on its address on the new network.
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, err = s.get(rasa.ID)
		if err == nil && strings.HasPrefix(body, "Hello from Rasa") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || !strings.HasPrefix(body, "Hello from Rasa") {
		t.Errorf("rasa-production does not answer after the network was recreated: %q %v", body, err)
	}

	// A stopped container is disconnected and reconnected too (else it could not start
	// again: its endpoint would name the removed network), then started by self-heal.
	if err := s.cli.ContainerStop(ctx, helper.ID, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	s.files["compose.yaml"] = networkFile("1350")
	plan = s.mustConverge()
	want = "network:" + netName + "  recreate  config hash changed (reconnects " + s.name("helper") + ", " + s.name("rasa-production") + ")\n" +
		"service:helper" + strings.Repeat(" ", len(netName)-len("helper")) + "  start     container exited (self-heal)\n"
	if plan.String() != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", plan, want)
	}
	third, err := s.cli.NetworkInspect(ctx, netName, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.cli.ContainerInspect(ctx, helper.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !info.State.Running || third.ID == now.ID {
		t.Fatalf("helper %s, network %s", info.State.Status, third.ID)
	}
	assertOn(t, info, netName, third.ID, "helper", "helper-alias")

	// Converged: the next run costs no mutating call.
	calls := len(s.engine.mutations())
	if plan := s.mustConverge(); !plan.Empty() {
		t.Fatalf("not converged:\n%s", plan)
	}
	if m := s.engine.mutations()[calls:]; len(m) != 0 {
		t.Errorf("a converged project cost %v", m)
	}
}

// TestEngineVolumeChangeRefused (real Engine): a changed driver option of a volume
// refuses the revision with a message saying what differs; the volume and the
// container using it are left as they were.
func TestEngineVolumeChangeRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStack(t, map[string]string{"production": ""})
	s.withCompose(volumeFile("10m"))
	s.mustConverge()
	volName := s.project + "_data"
	listVolume := func() *volume.Volume {
		t.Helper()
		list, err := s.cli.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("name", volName))})
		if err != nil || len(list.Volumes) != 1 {
			t.Fatalf("volume %s: %+v %v", volName, list.Volumes, err)
		}
		return list.Volumes[0]
	}
	old := listVolume()
	if old.Labels[compose.LabelConfigHash] == "" || old.Options["o"] != "size=10m" {
		t.Fatalf("created volume: labels %v options %v", old.Labels, old.Options)
	}
	store := s.containers()[s.name("store")]

	s.files["compose.yaml"] = volumeFile("20m")
	calls := len(s.engine.mutations())
	_, err := Converge(ctx, s.engine, s.render(), "main@sha1:test2", RunOptions{Options: Options{Prune: true}, Timeout: time.Minute})
	var np *NeedsPersonError
	if !errors.As(err, &np) {
		t.Fatalf("want a NeedsPersonError, got %v", err)
	}
	want := "volume " + volName + ": driver_opts changed (o: size=10m → size=20m); rasa-gitops never deletes a volume's data: run `rasa-gitops down --volumes` (which deletes its data) or restore the old configuration"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if m := s.engine.mutations()[calls:]; len(m) != 0 {
		t.Errorf("a refused volume change cost %v", m)
	}
	if now := listVolume(); now.CreatedAt != old.CreatedAt || now.Options["o"] != "size=10m" || now.Labels[compose.LabelConfigHash] != old.Labels[compose.LabelConfigHash] {
		t.Errorf("the volume changed: %+v", now)
	}
	if now := s.containers()[s.name("store")]; now.ID != store.ID || now.State != "running" {
		t.Errorf("the container using the volume changed: %+v", now)
	}
}
