package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

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

// interopCase is a declaration to bring up both ways, and the flags its commands take.
type interopCase struct {
	name       string
	containers int
	repo       func(t testing.TB, project string) (dir string, flags []string)
}

var interopCases = []interopCase{
	{"two environments and a plain service", 3, smallInteropRepo},
	{"examples/rasa-x", 9, rasaXRepo},
}

// smallInteropRepo is a declaration with two Rasa stand-ins and a plain service.
func smallInteropRepo(t testing.TB, project string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"rasa-gitops.yaml":             fmt.Sprintf("version: 1\nproject: %s\nrasa:\n  image: %s\nmodelServer:\n  url: http://127.0.0.1:1\ncompose:\n  files: [compose.yml]\n", project, testengine.StubImage),
		"compose.yml":                  fmt.Sprintf("services:\n  helper:\n    image: %s\n    command: [\"run\", \"--port\", \"5055\"]\n    environment:\n      ROLE: helper\n    labels:\n      tier: back\n", testengine.StubImage),
		"environments/production.yaml": "",
		"environments/worker.yaml":     "",
	})
	return dir, nil
}

// rasaXRepo is examples/rasa-x under its own project name, its images stand-ins, its
// environments without models (no registry, no model hosting here) and nginx on free
// loopback ports.
func rasaXRepo(t testing.TB, project string) (string, []string) {
	t.Helper()
	testengine.EnsureRasaXImages(t, testengine.Connect(t))
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", "../../examples/rasa-x/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy examples/rasa-x: %v %s", err, out)
	}
	settings, err := os.ReadFile(dir + "/rasa-gitops.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{
		"rasa-gitops.yaml":               strings.Replace(string(settings), "project: rasa\n", "project: "+project+"\n", 1),
		"environments/production.yaml":   "",
		"environments/experimental.yaml": "token: \"${RASA_TOKEN_EXPERIMENTAL:-change-me-experimental-token}\"\n",
	})
	_, http := testengine.FreeLoopbackPort(t)
	_, https := testengine.FreeLoopbackPort(t)
	envFile := t.TempDir() + "/daemon.env"
	writeTree(t, filepath.Dir(envFile), map[string]string{"daemon.env": fmt.Sprintf("NGINX_HTTP_PORT=127.0.0.1:%d\nNGINX_HTTPS_PORT=127.0.0.1:%d\n", http, https)})
	return dir, []string{"--env-file", envFile}
}

// renderFor prints the declaration as `rasa-gitops render --show-secrets` does: a
// Compose file that runs as it is.
func renderFor(t *testing.T, dir, state string, flags []string) []byte {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"render", dir, "--state-dir", state, "--show-secrets"}, flags...)...)
	if code != exitOK {
		t.Fatalf("render: %d %s", code, errOut)
	}
	return []byte(out)
}

// composeUp runs `docker compose up -d` (and extra) on the rendered file and returns
// its output.
func composeUp(t *testing.T, bin, project, dir string, rendered []byte, extra ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-p", project, "--project-directory", dir, "-f", "-", "up", "-d"}, extra...)...)
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
	for _, tc := range interopCases {
		t.Run(tc.name, func(t *testing.T) { composeUpAfterApply(t, tc) })
	}
}

func composeUpAfterApply(t *testing.T, tc interopCase) {
	bin := testengine.ComposeV2(t)
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	state := t.TempDir()
	dir, flags := tc.repo(t, project)
	rendered := renderFor(t, dir, state, flags)
	if code, out, errOut := runCLI(t, append([]string{"apply", dir, "--state-dir", state, "--listen", "127.0.0.1:0"}, flags...)...); code != exitOK {
		t.Fatalf("apply: %d\n%s%s", code, out, errOut)
	}
	before := projectContainers(t, cli, project)
	if len(before) != tc.containers {
		t.Fatalf("apply made %v", before)
	}
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
	for _, tc := range interopCases {
		t.Run(tc.name, func(t *testing.T) { applyAfterComposeUp(t, tc) })
	}
}

func applyAfterComposeUp(t *testing.T, tc interopCase) {
	bin := testengine.ComposeV2(t)
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	state := t.TempDir()
	dir, flags := tc.repo(t, project)
	composeUp(t, bin, project, dir, renderFor(t, dir, state, flags))
	before := projectContainers(t, cli, project)
	if len(before) != tc.containers {
		t.Fatalf("docker compose up made %v", before)
	}
	code, out, errOut := runCLI(t, append([]string{"apply", dir, "--state-dir", state, "--listen", "127.0.0.1:0"}, flags...)...)
	if code != exitOK {
		t.Fatalf("apply: %d\n%s%s", code, out, errOut)
	}
	if after := projectContainers(t, cli, project); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("apply recreated containers docker compose made:\nbefore %v\nafter  %v\n%s", before, after, out)
	}
	if !strings.Contains(out, "containers: nothing to do") {
		t.Errorf("apply planned work:\n%s", out)
	}
	// The snapshot it left adopts them too: the next apply is a no-op without a render.
	code, out, errOut = runCLI(t, append([]string{"apply", dir, "--state-dir", state, "--listen", "127.0.0.1:0"}, flags...)...)
	if code != exitOK || !strings.Contains(out, "nothing to do: the host runs") {
		t.Errorf("the second apply on containers docker compose made was not a no-op: %d\n%s%s", code, out, errOut)
	}
}

// TestDownForgetsTheConvergedSnapshot: after `down`, the snapshot of the last apply
// describes nothing on the host. When `docker compose up` then brings the project
// back (new containers, new addresses; their models served as apply serves them), the
// next apply looks afresh and records where the servers are now, instead of passing
// the no-op check on the old record, whose addresses every later no-op would ask
// first, in vain.
func TestDownForgetsTheConvergedSnapshot(t *testing.T) {
	bin := testengine.ComposeV2(t)
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	addr, port := testengine.FreeHostPort(t, cli)
	dir, state := t.TempDir(), t.TempDir()
	files := standInDeclaration(t, project, port, "")
	files["environments/production.yaml"] = "model: moodbot-v1\n"
	files["environments/worker.yaml"] = "model: moodbot-v2\n"
	writeTree(t, dir, files)
	apply := func() string {
		t.Helper()
		code, out, errOut := runCLI(t, "apply", dir, "--state-dir", state, "--listen", addr)
		if code != exitOK {
			t.Fatalf("apply: %d\n%s%s", code, out, errOut)
		}
		return out
	}
	apply()
	rendered := renderFor(t, dir, state, nil)
	if code, out, errOut := runCLI(t, "down", dir, "--state-dir", state); code != exitOK {
		t.Fatalf("down: %d\n%s%s", code, out, errOut)
	}
	stop := serveModels(t, state, addr)
	composeUp(t, bin, project, dir, rendered, "--wait")
	stop()
	if out := apply(); !strings.Contains(out, "containers: nothing to do") {
		t.Errorf("the apply after down and docker compose up did not run in full:\n%s", out)
	}
	if out := apply(); !strings.Contains(out, "nothing to do: the host runs") {
		t.Errorf("the apply after that was not a no-op:\n%s", out)
	}
}
