package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestValidateExamples(t *testing.T) {
	for _, dir := range []string{"../../examples/quickstart", "../../examples/rasa-x"} {
		code, out, errOut := runCLI(t, "validate", dir)
		if code != exitOK || !strings.Contains(out, "valid") {
			t.Errorf("validate %s: exit %d\n%s%s", dir, code, out, errOut)
		}
	}
}

func TestValidateBrokenRepository(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"rasa-gitops.yaml":             "version: 2\nproject: Bad_Name\n",
		"environments/production.yaml": "model: missing\ntoken: ${SECRET_TOKEN}\n",
	})
	t.Setenv("UNRELATED", "x")
	code, out, errOut := runCLI(t, "validate", dir)
	if code != exitError {
		t.Fatalf("exit %d, want %d", code, exitError)
	}
	if out != "" {
		t.Errorf("stdout should be empty, got %q", out)
	}
	want := strings.Join([]string{
		`environments/production.yaml:1:8: model missing is not declared: add it to models.yaml (there is no models.yaml yet)`,
		`environments/production.yaml:2:8: variable SECRET_TOKEN is not set and has no default: set it in the daemon's environment or --env-file, or write ${SECRET_TOKEN:-default}`,
		`rasa-gitops.yaml:1:10: unsupported version 2: this build reads format version 1`,
		`rasa-gitops.yaml:2:10: project "Bad_Name" is not a DNS label: use lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit`,
	}, "\n") + "\n"
	if errOut != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, want)
	}
	// The env file supplies the variable; its value never reaches the output.
	envFile := filepath.Join(t.TempDir(), "daemon.env")
	writeTree(t, filepath.Dir(envFile), map[string]string{"daemon.env": "SECRET_TOKEN=hunter2-secret\n"})
	_, _, errOut = runCLI(t, "validate", "--env-file", envFile, dir)
	if strings.Contains(errOut, "SECRET_TOKEN is not set") || strings.Contains(errOut, "hunter2") {
		t.Errorf("env file not used or value leaked:\n%s", errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"validate"}, {"validate", "/does/not/exist"}, {"render", "--format", "xml", "../../examples/quickstart"}, {"nope"}, {"validate", "--bogus", "x"}} {
		if code, _, errOut := runCLI(t, args...); code != exitUsage || errOut == "" {
			t.Errorf("%v: exit %d, want %d with a message; stderr %q", args, code, exitUsage, errOut)
		}
	}
}

func TestRenderMasksSecretsUnlessAsked(t *testing.T) {
	state := t.TempDir()
	t.Setenv("RASA_TOKEN", "daemon-default-token")
	code, out, errOut := runCLI(t, "render", "--state-dir", state, "../../examples/quickstart")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "daemon-default-token") || !strings.Contains(out, "'********'") {
		t.Errorf("masked render shows the token or no mask:\n%s", out)
	}
	generated := filepath.Join(state, "generated", "quickstart", "endpoints.yml")
	if data, err := os.ReadFile(generated); err != nil || !strings.Contains(string(data), "${RASA_MODEL_SERVER}") {
		t.Errorf("generated endpoints.yml: %v %q", err, data)
	}
	if !strings.Contains(out, "source: "+generated) {
		t.Errorf("rendered file does not mount %s", generated)
	}
	if _, err := os.Stat(filepath.Join(state, "secrets")); err == nil {
		t.Error("a masked render created secrets")
	}

	code, out, _ = runCLI(t, "render", "--state-dir", state, "--show-secrets", "../../examples/quickstart")
	if code != exitOK || !strings.Contains(out, "daemon-default-token") {
		t.Errorf("--show-secrets: exit %d, token missing:\n%s", code, out)
	}
	modelToken, err := os.ReadFile(filepath.Join(state, "secrets", "model-token"))
	if err != nil || !strings.Contains(out, strings.TrimSpace(string(modelToken))) {
		t.Errorf("model token not generated into the state dir or not rendered: %v", err)
	}
	if info, err := os.Stat(filepath.Join(state, "secrets", "model-token")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("model token file mode: %v %v", info, err)
	}
	// A second run keeps the same generated token.
	_, again, _ := runCLI(t, "render", "--state-dir", state, "--show-secrets", "../../examples/quickstart")
	if again != out {
		t.Error("a second render differs: the generated token was not kept")
	}

	code, out, _ = runCLI(t, "render", "--state-dir", state, "--format", "environments", "../../examples/quickstart")
	want := "rasa:\n  experimental:\n    url: http://rasa-experimental:5005\n    token: '********'\n  production:\n    url: http://rasa-production:5005\n    token: '********'\n  worker:\n    url: http://rasa-worker:5005\n    token: '********'\n"
	if code != exitOK || out != want {
		t.Errorf("environments.yml: exit %d\n%s", code, out)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != exitOK || !strings.HasPrefix(out, "rasa-gitops ") || !strings.Contains(out, "format version 1") {
		t.Errorf("version: exit %d %q", code, out)
	}
}

func writeFile(t testing.TB, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRenderMasksEverySecretValue(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"rasa-gitops.yaml":             "version: 1\nproject: demo\n",
		"environments/production.yaml": "token: ${PROD_TOKEN}\nservice:\n  environment:\n    COPY_OF_TOKEN: ${PROD_TOKEN}\n    URL: http://x/status?token=${PROD_TOKEN}\n    DB_PASSWORD: ${DB_PASSWORD}\n",
	})
	t.Setenv("PROD_TOKEN", "prod-token-value")
	t.Setenv("DB_PASSWORD", "db-password-value")
	code, out, errOut := runCLI(t, "render", "--state-dir", t.TempDir(), dir)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, secret := range []string{"prod-token-value", "db-password-value"} {
		if strings.Contains(out, secret) {
			t.Errorf("render printed %s:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "token=********") {
		t.Errorf("the masked URL is missing:\n%s", out)
	}
	_, shown, _ := runCLI(t, "render", "--state-dir", t.TempDir(), "--show-secrets", dir)
	if !strings.Contains(shown, "prod-token-value") {
		t.Error("--show-secrets hid the token")
	}
}

func TestByteSizeFlag(t *testing.T) {
	var b byteSize
	for in, want := range map[string]int64{"4GiB": 4 << 30, "512m": 512 << 20, "1024": 1024, "1KiB": 1024} {
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q: %d, %v; want %d", in, b, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1", "0"} {
		if err := b.Set(bad); err == nil || !strings.Contains(err.Error(), "such as 4GiB") {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
	if code, _, errOut := runCLI(t, "daemon", "--repo", "https://example.invalid/r.git", "--max-webhook-body", "huge"); code != exitUsage || !strings.Contains(errOut, "max-webhook-body") {
		t.Errorf("a bad size: exit %d %s", code, errOut)
	}
}
