package compose

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/internal/needs"
)

// requireComposeV2 finds the Compose v2 CLI; without one the test fails in CI (which
// installs it with bench/tools.sh) and is skipped elsewhere, saying how to get it.
func requireComposeV2(t *testing.T) (string, []string) {
	t.Helper()
	bin, args := composeV2()
	if bin == "" {
		needs.Missing(t, "no docker compose v2 on PATH: bash bench/tools.sh installs one")
	}
	return bin, args
}

// TestComposeServiceHashIsCompose: the config hash rasa-gitops writes in
// com.docker.compose.config-hash is the one `docker compose config --hash` computes
// from the rendered file, for every service of the examples; so Compose sees the
// containers rasa-gitops made as its own.
func TestComposeServiceHashIsCompose(t *testing.T) {
	bin, args := requireComposeV2(t)
	for _, example := range []string{"quickstart", "rasa-x"} {
		t.Run(example, func(t *testing.T) {
			d, r := renderForTest(t, filepath.Join("..", "examples", example), nil)
			out, err := r.ComposeYAML()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, append(args, "-p", d.Project, "--project-directory", d.Dir, "-f", "-", "config", "--hash", "*")...)
			cmd.Stdin = bytes.NewReader(out)
			printed, err := cmd.Output()
			if err != nil {
				t.Fatalf("docker compose config --hash: %v", err)
			}
			want := map[string]string{}
			sc := bufio.NewScanner(bytes.NewReader(printed))
			for sc.Scan() {
				if name, hash, ok := strings.Cut(strings.TrimSpace(sc.Text()), " "); ok {
					want[name] = hash
				}
			}
			if len(want) != len(r.Project.Services) {
				t.Fatalf("compose printed %d hashes for %d services:\n%s", len(want), len(r.Project.Services), printed)
			}
			for name, svc := range r.Project.Services {
				got, err := ComposeServiceHash(svc)
				if err != nil {
					t.Fatal(err)
				}
				if got != want[name] {
					t.Errorf("%s: rasa-gitops %s, docker compose %s", name, got, want[name])
				}
			}
		})
	}
}
