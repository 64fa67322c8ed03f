package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

// TestCrashRecovery kills `rasa-gitops apply` with SIGKILL at random points of a
// changing quickstart, restarting it each time; afterwards one more apply converges
// every environment, no container is duplicated or orphaned, and the audit log
// verifies. CRASH_RUNS sets the number of kills (default 5; bench/crash.sh runs 30),
// CRASH_SEED the seed (printed).
func TestCrashRecovery(t *testing.T) {
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	runs := 5
	if v, err := strconv.Atoi(os.Getenv("CRASH_RUNS")); err == nil && v > 0 {
		runs = v
	}
	seed := time.Now().UnixNano()
	if v, err := strconv.ParseInt(os.Getenv("CRASH_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("crash test: %d kills, seed %d (rerun with CRASH_SEED=%d)", runs, seed, seed)
	rng := rand.New(rand.NewSource(seed))

	bin := filepath.Join(t.TempDir(), "rasa-gitops")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	addr, port := testengine.FreeHostPort(t, cli)
	dir, state := t.TempDir(), t.TempDir()
	files := standInDeclaration(t, project, port, "2s")
	envs := []string{"production", "worker", "experimental"}
	declare := func(i int) {
		for j, env := range envs {
			model := ""
			if env != "worker" {
				model = fmt.Sprintf("model: moodbot-v%d\n", 1+(i+j)%2)
			}
			files["environments/"+env+".yaml"] = model + fmt.Sprintf("service:\n  environment:\n    GENERATION: \"%d\"\n", (i+j)%3)
		}
		writeTree(t, dir, files)
	}
	apply := func() *exec.Cmd {
		cmd := exec.Command(bin, "apply", "--state-dir", state, "--listen", addr, "--health-timeout", "20s", "--model-timeout", "20s", dir)
		cmd.Env = os.Environ()
		return cmd
	}
	declare(0)
	if out, err := apply().CombinedOutput(); err != nil {
		t.Fatalf("first apply: %v\n%s", err, out)
	}
	for i := 1; i <= runs; i++ {
		declare(i)
		cmd := apply()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// A kill at a random moment is the point of the test, not a synchronisation.
		delay := time.Duration(rng.Int63n(int64(2500 * time.Millisecond)))
		time.Sleep(delay)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		err := cmd.Wait()
		t.Logf("run %d: killed after %s (%v)", i, delay.Round(time.Millisecond), err)
	}
	// Recovery: the next apply converges from whatever the kills left.
	out, err := apply().CombinedOutput()
	if err != nil {
		t.Fatalf("recovering apply: %v\n%s", err, out)
	}
	if code, planOut, errOut := runCLI(t, "plan", "--state-dir", state, dir); code != exitOK {
		t.Fatalf("not converged after recovery: exit %d\n%s%s\nrecovery output:\n%s", code, planOut, errOut, out)
	}
	list, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+project))})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range list {
		name := strings.TrimPrefix(c.Names[0], "/")
		if seen[name] {
			t.Errorf("duplicate container %s", name)
		}
		seen[name] = true
		if c.State != "running" {
			t.Errorf("%s is %s", name, c.State)
		}
	}
	for _, env := range envs {
		if !seen[project+"-rasa-"+env+"-1"] {
			t.Errorf("rasa-%s has no container", env)
		}
	}
	if len(list) != len(envs) {
		var names []string
		for n := range seen {
			names = append(names, n)
		}
		t.Errorf("containers after recovery: %v (orphans or duplicates)", names)
	}
	if code, vout, verr := runCLI(t, "audit", "verify", "--state-dir", state); code != exitOK {
		t.Errorf("audit verify: exit %d %s%s", code, vout, verr)
	}
	code, sout, _ := runCLI(t, "status", "--state-dir", state)
	if code != exitOK || strings.Count(sout, "Synced") != 3 || strings.Count(sout, "Healthy") != 3 {
		t.Errorf("status after recovery:\n%s", sout)
	}
}
