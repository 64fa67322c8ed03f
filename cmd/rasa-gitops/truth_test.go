package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// metricLines reads the daemon's /metrics and returns, for each sample of the metric
// name, its label text and value.
func (f *daemonFixture) metricLines(name string) map[string]float64 {
	f.t.Helper()
	resp, err := http.Get(f.base + "/metrics")
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		labels, v, _ := strings.Cut(line, "} ")
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			f.t.Fatalf("/metrics: %q: %v", line, err)
		}
		out[labels[len(name)+1:]] = n
	}
	if err := sc.Err(); err != nil {
		f.t.Fatalf("read /metrics: %v", err)
	}
	return out
}

// runCounts reads rasa_gitops_runs_total from the daemon's /metrics: all runs, and
// the runs with outcome "healed".
func (f *daemonFixture) runCounts() (total, healed int) {
	f.t.Helper()
	for labels, n := range f.metricLines("rasa_gitops_runs_total") {
		total += int(n)
		if strings.Contains(labels, `outcome="healed"`) {
			healed += int(n)
		}
	}
	return total, healed
}

// healedWithin makes drift happen and asserts that a poll heals it within two polls:
// the run that heals it (outcome "healed") is at most the second run after the drift.
func (f *daemonFixture) healedWithin(t *testing.T, what string, drift func(), healed func() bool) {
	t.Helper()
	_, healedBefore := f.runCounts()
	drift()
	// Runs are counted from the end of the drift: a run that began while the drift was
	// still under way (a docker stop takes a while) may have observed the container
	// before it; the one after it must heal. So the heal comes within two runs.
	before, _ := f.runCounts()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		total, h := f.runCounts()
		if h > healedBefore && healed() {
			if total-before > 2 {
				t.Errorf("%s: healed by run %d after the drift, want within two polls", what, total-before)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not healed within 30s", what)
}

// TestDaemonHealsDriftOnEveryPoll: with the Docker events stream off, a paused,
// disconnected, stopped or removed container is healed by the next poll, although
// Git did not change.
func TestDaemonHealsDriftOnEveryPoll(t *testing.T) {
	f := startDaemon(t, "@every 2s", nil, testgit.CommitOptions{}, "--docker-events=false")
	f.waitFor("the first revision", func(s map[string]state.EnvStatus) bool {
		return s["production"].Sync == state.Synced && s["experimental"].Sync == state.Synced
	})
	cli := testengine.Connect(t)
	ctx := context.Background()
	name := f.project + "-rasa-production-1"
	inspect := func() container.InspectResponse {
		info, err := cli.ContainerInspect(ctx, name)
		if err != nil {
			return container.InspectResponse{}
		}
		return info
	}
	running := func() bool {
		info := inspect()
		return info.State != nil && info.State.Running && !info.State.Paused
	}
	f.healedWithin(t, "docker pause", func() {
		if err := cli.ContainerPause(ctx, name); err != nil {
			t.Fatal(err)
		}
	}, running)
	network := f.project + "_default"
	f.healedWithin(t, "docker network disconnect", func() {
		if err := cli.NetworkDisconnect(ctx, network, name, true); err != nil {
			t.Fatal(err)
		}
	}, func() bool {
		info := inspect()
		return info.NetworkSettings != nil && info.NetworkSettings.Networks[network] != nil && running()
	})
	f.healedWithin(t, "docker stop", func() {
		if err := cli.ContainerStop(ctx, name, container.StopOptions{}); err != nil {
			t.Fatal(err)
		}
	}, running)
	f.healedWithin(t, "docker rm -f", func() {
		if err := cli.ContainerRemove(ctx, name, container.RemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}, running)
	f.waitFor("production serving again", func(s map[string]state.EnvStatus) bool {
		return s["production"].Health == state.Healthy && s["production"].ObservedModel == "moodbot-v1.tar.gz"
	})
}

// TestDaemonNoChangeSyncHeals: `rasa-gitops sync` with nothing new in Git heals a
// container stopped while no event reached the daemon.
func TestDaemonNoChangeSyncHeals(t *testing.T) {
	f := startDaemon(t, "@every 1h", nil, testgit.CommitOptions{}, "--docker-events=false")
	f.waitFor("the first revision", func(s map[string]state.EnvStatus) bool { return s["experimental"].Sync == state.Synced })
	if !strings.Contains(f.log.String(), `"webhooks":["github","gitlab","gitea","generic"]`) {
		t.Errorf("the start line does not say which webhooks are on:\n%s", f.log.String())
	}
	cli := testengine.Connect(t)
	name := f.project + "-rasa-experimental-1"
	if err := cli.ContainerStop(context.Background(), name, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "sync", "--server", f.base, "--api-token-file", f.tokenFile()); code != exitOK {
		t.Fatalf("sync: %d %s%s", code, out, errOut)
	}
	f.waitFor("the heal", func(s map[string]state.EnvStatus) bool {
		info, err := cli.ContainerInspect(context.Background(), name)
		return err == nil && info.State.Running && s["experimental"].Health == state.Healthy
	})
}

// TestStatusTellsRefusedRevisionAndMissingAfterDown: the local status shows a pushed
// broken revision as attempted and Refused with its file:line on the environment it
// breaks, while the last good revision keeps running; after down, Missing.
func TestStatusTellsRefusedRevisionAndMissingAfterDown(t *testing.T) {
	f := startDaemon(t, "@every 1h", nil, testgit.CommitOptions{})
	f.waitFor("the first revision", func(s map[string]state.EnvStatus) bool {
		return s["production"].Sync == state.Synced && s["experimental"].Sync == state.Synced
	})
	good := f.statuses()["production"].LastApplied
	f.files["environments/production.yaml"] = "model: [moodbot-v2\n"
	broken := f.remote.Commit(f.files, testgit.CommitOptions{})
	f.webhook(true)
	f.waitFor("the refusal", func(s map[string]state.EnvStatus) bool { return s["production"].Sync == state.Refused })
	code, out, errOut := runCLI(t, "status", "--state-dir", f.state)
	if code != exitOK {
		t.Fatalf("status: %d %s", code, errOut)
	}
	lines := statusLines(out)
	if prod := lines["production"]; !strings.Contains(prod, "Refused") || !strings.Contains(prod, "Healthy") || !strings.Contains(prod, good[len("main@sha1:"):][:12]) {
		t.Errorf("production's line: %q\n%s", prod, out)
	}
	for _, want := range []string{"attempted main@sha1:" + broken[:12], "environments/production.yaml:1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if exp := lines["experimental"]; !strings.Contains(exp, "Synced") || !strings.Contains(exp, "Healthy") {
		t.Errorf("experimental's line: %q", exp)
	}
	cli := testengine.Connect(t)
	info, err := cli.ContainerInspect(context.Background(), f.project+"-rasa-production-1")
	if err != nil || !info.State.Running || info.Config.Labels[compose.LabelRevision] != good {
		t.Errorf("the last good revision does not keep running: %v %v", err, info.Config.Labels)
	}

	f.stop()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"rasa-gitops.yaml": f.files["rasa-gitops.yaml"]})
	if code, out, errOut := runCLI(t, "down", dir, "--state-dir", f.state); code != exitOK {
		t.Fatalf("down: %d %s%s", code, out, errOut)
	}
	if code, out, errOut = runCLI(t, "status", "--state-dir", f.state); code != exitOK {
		t.Fatalf("status after down: %d %s", code, errOut)
	}
	lines = statusLines(out)
	for _, env := range []string{"production", "experimental"} {
		if !strings.Contains(lines[env], "Missing") {
			t.Errorf("%s after down: %q\n%s", env, lines[env], out)
		}
	}
}

// statusLines maps each environment to its line of the status table.
func statusLines(out string) map[string]string {
	lines := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if name, _, ok := strings.Cut(line, " "); ok && name != "" && !strings.HasPrefix(line, " ") {
			lines[name] = line
		}
	}
	return lines
}

// TestDaemonModelThatCannotLoadDoesNotBlock: while experimental waits (up to a
// minute) for a model that will never load, a change to production is applied by
// the next poll, and experimental is still waiting when it is.
func TestDaemonModelThatCannotLoadDoesNotBlock(t *testing.T) {
	f := startDaemon(t, "@every 2s", nil, testgit.CommitOptions{}, "--nudge=false", "--model-timeout", "60s")
	f.waitFor("the first revision", func(s map[string]state.EnvStatus) bool {
		return s["production"].Sync == state.Synced && s["experimental"].Sync == state.Synced
	})
	garbage := "this is not a model archive"
	f.files["models/broken.tar.gz"] = garbage
	f.files["models.yaml"] += "  broken:\n    sha256: " + sha256Hex(garbage) + "\n    source: models/broken.tar.gz\n"
	f.files["environments/experimental.yaml"] = "model: broken\n"
	f.remote.Commit(f.files, testgit.CommitOptions{})
	f.waitFor("experimental loading", func(s map[string]state.EnvStatus) bool {
		return s["experimental"].DesiredModel == "broken" && s["experimental"].Sync == state.OutOfSync
	})
	f.files["environments/production.yaml"] = "model: moodbot-v2\n"
	change := f.remote.Commit(f.files, testgit.CommitOptions{})
	start := time.Now()
	f.waitFor("production's change", func(s map[string]state.EnvStatus) bool {
		return s["production"].LastApplied == "main@sha1:"+change
	})
	applied := time.Since(start)
	s := f.statuses()
	if s["experimental"].Sync != state.OutOfSync || !strings.Contains(s["experimental"].SyncReason, "loading broken") {
		t.Errorf("experimental is no longer waiting, so production may have waited on it: %+v", s["experimental"])
	}
	t.Logf("production's change applied %s after the push, while experimental waits", applied.Round(time.Millisecond))
	f.waitFor("production serving its new model", func(s map[string]state.EnvStatus) bool {
		return s["production"].ObservedModel == "moodbot-v2.tar.gz" && s["production"].Sync == state.Synced
	})
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// eventCounts reads rasa_gitops_docker_events_total{kind} from the daemon's /metrics.
func (f *daemonFixture) eventCounts() (heal, own int) {
	f.t.Helper()
	m := f.metricLines("rasa_gitops_docker_events_total")
	return int(m[`kind="heal"`]), int(m[`kind="own"`])
}

// TestDaemonOwnEventsStartNoRun: on the real Engine, the die, stop and destroy events
// of the container a pushed change replaces are recognised as the daemon's own and ask
// for no heal run, while a `docker stop` from outside still does.
func TestDaemonOwnEventsStartNoRun(t *testing.T) {
	f := startDaemon(t, "@every 1h", nil, testgit.CommitOptions{})
	f.waitFor("the first revision", func(s map[string]state.EnvStatus) bool {
		return s["production"].Sync == state.Synced && s["experimental"].Sync == state.Synced
	})
	healBefore, ownBefore := f.eventCounts()
	cli := testengine.Connect(t)
	name := f.project + "-rasa-production-1"
	old, err := cli.ContainerInspect(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	f.files["environments/production.yaml"] = "model: moodbot-v1\nservice:\n  environment: {REPLACED: \"1\"}\n"
	rev := f.remote.Commit(f.files, testgit.CommitOptions{Message: "replace production"})
	f.webhook(true)
	f.waitFor("the replace", func(s map[string]state.EnvStatus) bool {
		return s["production"].LastApplied == "main@sha1:"+rev && s["production"].Sync == state.Synced
	})
	// The old container's destroy is the last of its events: wait until it is counted.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, own := f.eventCounts(); own-ownBefore >= 3 { // die, stop, destroy
			break
		}
		if time.Now().After(deadline) {
			_, own := f.eventCounts()
			t.Fatalf("the replaced container %s sent %d events the daemon recognised, want die, stop and destroy", old.ID[:12], own-ownBefore)
		}
	}
	if heal, _ := f.eventCounts(); heal != healBefore {
		t.Errorf("the replace's own events asked for %d heal runs", heal-healBefore)
	}
	// An outside stop still heals.
	if err := cli.ContainerStop(context.Background(), f.project+"-rasa-experimental-1", container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if heal, _ := f.eventCounts(); heal > healBefore {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an outside docker stop asked for no heal run")
		}
	}
}
