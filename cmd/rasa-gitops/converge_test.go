package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/internal/needs"

	"github.com/docker/docker/api/types/container"

	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

// TestPlanApplyDown drives the CLI against the real Engine: plan exits 2 while there
// is work, apply prints each action with its outcome, then plan exits 0, and down
// removes what apply created.
func TestPlanApplyDown(t *testing.T) {
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"rasa-gitops.yaml":             fmt.Sprintf("version: 1\nproject: %s\nrasa:\n  image: %s\nmodelServer:\n  url: http://127.0.0.1:1\n", project, testengine.StubImage),
		"environments/production.yaml": "",
		"environments/worker.yaml":     "",
	})
	state := t.TempDir()
	common := []string{"--state-dir", state}
	applyFlags := []string{"--listen", "127.0.0.1:0"}

	code, out, errOut := runCLI(t, append([]string{"plan", dir}, common...)...)
	if code != exitPending {
		t.Fatalf("plan before apply: exit %d, want %d\n%s%s", code, exitPending, out, errOut)
	}
	if !strings.Contains(out, "service:rasa-production") || !strings.Contains(out, "create") {
		t.Errorf("plan output:\n%s", out)
	}

	code, out, errOut = runCLI(t, append(append([]string{"apply", "--revision", "main@sha1:abc", dir}, common...), applyFlags...)...)
	if code != exitOK {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"service:rasa-production  create  missing: done", "service:rasa-worker  create  missing: done", "network:" + project + "_default  create  missing: done"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "generated", project, "endpoints.yml")); err != nil {
		t.Errorf("generated endpoints.yml not written: %v", err)
	}

	if code, out, _ := runCLI(t, append([]string{"plan", dir}, common...)...); code != exitOK || out != "nothing to do\n" {
		t.Errorf("plan after apply: exit %d %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(state, "converged")); err != nil {
		t.Errorf("no converged snapshot after a full apply: %v", err)
	}
	// A second apply finds the snapshot: nothing rendered, nothing changed.
	if code, out, errOut := runCLI(t, append(append([]string{"apply", dir}, common...), applyFlags...)...); code != exitOK || !strings.HasPrefix(out, "nothing to do: the host runs") {
		t.Errorf("apply after apply: exit %d\n%s%s", code, out, errOut)
	}

	// The no-render fast path still sees a container stopped by hand...
	stopped := project + "-rasa-production-1"
	if err := cli.ContainerStop(context.Background(), stopped, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCLI(t, append([]string{"plan", dir}, common...)...); code != exitPending || !strings.Contains(out, "service:rasa-production  start     container exited (self-heal)") {
		t.Errorf("plan after docker stop: exit %d\n%s", code, out)
	}
	if code, out, errOut := runCLI(t, append(append([]string{"apply", dir}, common...), applyFlags...)...); code != exitOK || !strings.Contains(out, "start  container exited (self-heal): done") {
		t.Errorf("apply after docker stop: exit %d\n%s%s", code, out, errOut)
	}
	// ...and an edited declaration.
	writeTree(t, dir, map[string]string{"environments/worker.yaml": "service:\n  environment: {X: \"1\"}\n"})
	if code, out, _ := runCLI(t, append([]string{"plan", dir}, common...)...); code != exitPending || !strings.Contains(out, "service:rasa-worker  recreate  config hash changed") {
		t.Errorf("plan after editing worker: exit %d\n%s", code, out)
	}

	code, out, errOut = runCLI(t, append([]string{"down", dir}, common...)...)
	if code != exitOK || strings.Count(out, ": done") != 3 {
		t.Fatalf("down: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, append([]string{"plan", dir}, common...)...); code != exitPending {
		t.Errorf("plan after down: exit %d\n%s", code, out)
	}
}

func containerID(t testing.TB, cli interface {
	ContainerInspect(context.Context, string) (container.InspectResponse, error)
}, name string) string {
	t.Helper()
	info, err := cli.ContainerInspect(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

// TestApplyStopsOnAFullStateDisk: when the state directory's disk is full, the apply
// cannot write its intent, so it stops before its first Engine call and says why.
func TestApplyStopsOnAFullStateDisk(t *testing.T) {
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	state := t.TempDir()
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", state).Run(); err != nil {
		needs.Missing(t, "cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", state).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", state, err, out)
		}
	})
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"rasa-gitops.yaml":             fmt.Sprintf("version: 1\nproject: %s\nrasa:\n  image: %s\nmodelServer:\n  url: http://127.0.0.1:1\n", project, testengine.StubImage),
		"environments/production.yaml": "",
	})
	args := []string{"apply", "--state-dir", state, "--listen", "127.0.0.1:0", dir}
	if code, out, errOut := runCLI(t, args...); code != exitOK {
		t.Fatalf("first apply: exit %d\n%s%s", code, out, errOut)
	}
	before := containerID(t, cli, project+"-rasa-production-1")
	// Fill the disk (the filler is bigger than it: its write fails with ENOSPC, the
	// point), then declare a change.
	filler, err := os.Create(filepath.Join(state, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := filler.Write(make([]byte, 8<<20)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v, want ENOSPC", err)
	}
	if err := filler.Close(); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"environments/production.yaml": "service:\n  environment: {CHANGED: \"1\"}\n"})
	code, out, errOut := runCLI(t, args...)
	if code != exitError || !strings.Contains(errOut, "no space left") {
		t.Fatalf("apply on a full disk: exit %d\n%s%s", code, out, errOut)
	}
	if after := containerID(t, cli, project+"-rasa-production-1"); after != before {
		t.Error("the apply touched the Engine although it could not record its intent")
	}
	if err := os.Remove(filepath.Join(state, "filler")); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, args...); code != exitOK || !strings.Contains(out, "recreate") {
		t.Errorf("apply once the disk has room: exit %d\n%s%s", code, out, errOut)
	}
}

// TestModelServerAddressTrap: a --listen the containers cannot reach at
// modelServer.url is refused by validate --listen and by apply, with the fix, before
// any container is created.
func TestModelServerAddressTrap(t *testing.T) {
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	dir := t.TempDir()
	files := testengine.QuickstartModels(t)
	files["rasa-gitops.yaml"] = fmt.Sprintf("version: 1\nproject: %s\nrasa:\n  image: %s\nmodelServer:\n  url: http://host.docker.internal:8080\n", project, testengine.StubImage)
	files["environments/production.yaml"] = "model: moodbot-v1\n"
	writeTree(t, dir, files)
	for _, tc := range []struct{ listen, says string }{
		{"127.0.0.1:8080", "--listen 127.0.0.1:8080 is loopback-only"},
		{":18080", "use --listen :8080"},
	} {
		code, _, errOut := runCLI(t, "validate", "--listen", tc.listen, dir)
		if code != exitError || !strings.Contains(errOut, tc.says) {
			t.Errorf("validate --listen %s: exit %d %s", tc.listen, code, errOut)
		}
		code, out, errOut := runCLI(t, "apply", "--state-dir", t.TempDir(), "--listen", tc.listen, dir)
		if code != exitError || !strings.Contains(out+errOut, tc.says) {
			t.Errorf("apply --listen %s: exit %d\n%s%s", tc.listen, code, out, errOut)
		}
		if made := projectContainers(t, cli, project); len(made) != 0 {
			t.Errorf("apply --listen %s created %v", tc.listen, made)
		}
	}
	if code, out, errOut := runCLI(t, "validate", "--listen", ":8080", dir); code != exitOK {
		t.Errorf("validate --listen :8080: exit %d %s%s", code, out, errOut)
	}
}
