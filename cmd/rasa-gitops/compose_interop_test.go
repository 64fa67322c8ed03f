package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

// composeBin is the Compose v2 CLI: in CI a missing one fails the test (.ci/run
// installs it with bench/tools.sh); elsewhere the test is skipped, saying so.
func composeBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("docker-compose"); err == nil {
		if out, err := exec.Command(p, "version", "--short").Output(); err == nil && strings.HasPrefix(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), "2.") {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no docker-compose v2 on PATH in CI: .ci/run installs it with bench/tools.sh")
	}
	t.Skip("no docker-compose v2 on PATH: bash bench/tools.sh installs one")
	return ""
}

// projectContainers maps each container name of a project to its ID.
func projectContainers(t *testing.T, cli *client.Client, project string) map[string]string {
	t.Helper()
	list, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", compose.LabelProject+"="+project))})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range list {
		out[strings.TrimPrefix(c.Names[0], "/")] = c.ID
	}
	return out
}

// interopRepo is a declaration with two Rasa stand-ins and a plain service, rendered
// into a Compose file with its secrets, as `rasa-gitops render --show-secrets` prints it.
func interopRepo(t *testing.T, project, state string) (dir string, rendered []byte) {
	t.Helper()
	dir = t.TempDir()
	writeTree(t, dir, map[string]string{
		"rasa-gitops.yaml":             fmt.Sprintf("version: 1\nproject: %s\nrasa:\n  image: %s\nmodelServer:\n  url: http://127.0.0.1:1\ncompose:\n  files: [compose.yml]\n", project, testengine.StubImage),
		"compose.yml":                  fmt.Sprintf("services:\n  helper:\n    image: %s\n    command: [\"run\", \"--port\", \"5055\"]\n    environment:\n      ROLE: helper\n    labels:\n      tier: back\n", testengine.StubImage),
		"environments/production.yaml": "",
		"environments/worker.yaml":     "",
	})
	code, out, errOut := runCLI(t, "render", dir, "--state-dir", state, "--show-secrets")
	if code != exitOK {
		t.Fatalf("render: %d %s", code, errOut)
	}
	return dir, []byte(out)
}

// composeUp runs `docker compose up -d` on the rendered file and returns its output.
func composeUp(t *testing.T, bin, project, dir string, rendered []byte) string {
	t.Helper()
	cmd := exec.Command(bin, "-p", project, "--project-directory", dir, "-f", "-", "up", "-d")
	cmd.Stdin = bytes.NewReader(rendered)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker compose up: %v\n%s", err, out)
	}
	return string(out)
}

// TestComposeUpAfterApplyRecreatesNothing: on a host rasa-gitops converged, `docker
// compose up -d` on the rendered file finds every container up to date.
func TestComposeUpAfterApplyRecreatesNothing(t *testing.T) {
	bin := composeBin(t)
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	state := t.TempDir()
	dir, rendered := interopRepo(t, project, state)
	if code, out, errOut := runCLI(t, "apply", dir, "--state-dir", state, "--listen", "127.0.0.1:0"); code != exitOK {
		t.Fatalf("apply: %d\n%s%s", code, out, errOut)
	}
	before := projectContainers(t, cli, project)
	out := composeUp(t, bin, project, dir, rendered)
	if after := projectContainers(t, cli, project); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("docker compose up changed the containers rasa-gitops made:\nbefore %v\nafter  %v\n%s", before, after, out)
	}
	if strings.Contains(out, "Recreate") || strings.Contains(out, "Created") {
		t.Errorf("docker compose up recreated something:\n%s", out)
	}
}

// TestApplyAfterComposeUpRecreatesNothing: on a host brought up by `docker compose up`
// from the rendered file, rasa-gitops adopts the containers as they are.
func TestApplyAfterComposeUpRecreatesNothing(t *testing.T) {
	bin := composeBin(t)
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	state := t.TempDir()
	dir, rendered := interopRepo(t, project, state)
	composeUp(t, bin, project, dir, rendered)
	before := projectContainers(t, cli, project)
	if len(before) != 3 {
		t.Fatalf("docker compose up made %v", before)
	}
	code, out, errOut := runCLI(t, "apply", dir, "--state-dir", state, "--listen", "127.0.0.1:0")
	if code != exitOK {
		t.Fatalf("apply: %d\n%s%s", code, out, errOut)
	}
	if after := projectContainers(t, cli, project); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("apply recreated containers docker compose made:\nbefore %v\nafter  %v\n%s", before, after, out)
	}
	if !strings.Contains(out, "containers: nothing to do") {
		t.Errorf("apply planned work:\n%s", out)
	}
}
