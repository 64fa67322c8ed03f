package compose

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// Fixed secrets and directories make golden output reproducible on any machine.
const (
	testModelToken   = "model-token-for-tests"
	testDefaultToken = "rasa-token-for-tests"
	testGeneratedDir = "/var/lib/rasa-gitops/generated/test"
)

func renderForTest(t *testing.T, dir string, env map[string]string) (*Declaration, *Rendered) {
	t.Helper()
	d, err := Load(dir, LoadOptions{Env: env})
	if err != nil {
		t.Fatalf("load %s:\n%v", dir, err)
	}
	r, err := Render(context.Background(), d, RenderOptions{ModelToken: testModelToken, DefaultToken: testDefaultToken, GeneratedDir: testGeneratedDir})
	if err != nil {
		t.Fatalf("render %s:\n%v", dir, err)
	}
	return d, r
}

// portable replaces the machine-specific repository path so goldens compare anywhere.
func portable(d *Declaration, out []byte) []byte {
	return bytes.ReplaceAll(out, []byte(d.Dir), []byte("/REPO"))
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./compose -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test ./compose -update if the change is intended)\n--- got\n%s", path, got)
	}
}

// TestExamplesGolden renders every example and compares the Compose file and Rasa X's
// environments.yml with the goldens under testdata/golden/<example>/.
func TestExamplesGolden(t *testing.T) {
	examples, err := filepath.Glob("../examples/*/rasa-gitops.yaml")
	if err != nil || len(examples) < 2 {
		t.Fatalf("want the quickstart and rasa-x examples, found %v (%v)", examples, err)
	}
	for _, settings := range examples {
		dir := filepath.Dir(settings)
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			d, r := renderForTest(t, dir, nil)
			out, err := r.ComposeYAML()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "golden", name, "compose.yaml"), portable(d, out))
			golden(t, filepath.Join("testdata", "golden", name, "environments.yml"), r.EnvironmentsYAML(false))

			// The printed file must load again through compose-go with no error and
			// describe the same services.
			again, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
				WorkingDir:  d.Dir,
				ConfigFiles: []types.ConfigFile{{Filename: "rendered.yaml", Content: out}},
			}, func(o *loader.Options) { o.SetProjectName(d.Project, true) })
			if err != nil {
				t.Fatalf("rendered file does not load again: %v", err)
			}
			for _, env := range d.Environments {
				svc, err := again.GetService(ServiceName(env.Name))
				if err != nil {
					t.Fatalf("reloaded project lost %s: %v", ServiceName(env.Name), err)
				}
				if svc.Environment["RASA_ENVIRONMENT"] == nil || *svc.Environment["RASA_ENVIRONMENT"] != env.Name {
					t.Errorf("%s: RASA_ENVIRONMENT = %v after reload", svc.Name, svc.Environment["RASA_ENVIRONMENT"])
				}
			}
			// Round trip: printing the reloaded project gives the same file, so no
			// value ($ signs included) changes on the way through plain Compose.
			reprinted, err := (&Rendered{Project: again}).ComposeYAML()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(reprinted, out) {
				t.Errorf("the rendered file changes when loaded again:\n--- first\n%s\n--- reloaded\n%s", out, reprinted)
			}

			// Compose v2 must accept the file too.
			composeConfig(t, d, out)
		})
	}
}

// composeConfig feeds the rendered file to `docker compose -f - config`, in a subtest
// that needs Compose v2: it fails in CI without one and is skipped elsewhere.
func composeConfig(t *testing.T, d *Declaration, rendered []byte) {
	t.Helper()
	t.Run("compose config", func(t *testing.T) {
		bin, args := requireComposeV2(t)
		cmd := exec.Command(bin, append(args, "-p", d.Project, "--project-directory", d.Dir, "-f", "-", "config", "--quiet")...)
		cmd.Stdin = bytes.NewReader(rendered)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker compose config refused the rendered file: %v\n%s", err, out)
		}
	})
}

// composeV2 finds a Compose v2 CLI: the docker-compose plugin binary or `docker compose`.
func composeV2() (string, []string) {
	for _, name := range []string{"docker-compose-v2", "docker-compose"} {
		if p, err := exec.LookPath(name); err == nil {
			if out, err := exec.Command(p, "version", "--short").Output(); err == nil && (strings.HasPrefix(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), "2.") || strings.HasPrefix(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), "5.")) {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath("docker"); err == nil {
		if err := exec.Command(p, "compose", "version").Run(); err == nil {
			return p, []string{"compose"}
		}
	}
	return "", nil
}
