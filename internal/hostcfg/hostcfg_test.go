package hostcfg

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// clearTokenEnv removes the operator's token variables, so that a developer's shell
// cannot change what the tests see.
func clearTokenEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"RASA_GITOPS_MODEL_TOKEN", "RASA_GITOPS_MODEL_TOKEN_FILE", "RASA_GITOPS_API_TOKEN", "RASA_TOKEN"} {
		t.Setenv(k, "") // restores the variable after the test
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGeneratedTokenIsKeptOnceWithMode0600(t *testing.T) {
	dir := t.TempDir()
	tokens := TokenStore{Dir: dir, Env: map[string]string{}}
	first, err := tokens.ModelToken()
	if err != nil || len(first) != 48 {
		t.Fatalf("first model token %q: %v", first, err)
	}
	path := filepath.Join(dir, "secrets", "model-token")
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want 0600", path, err, info.Mode().Perm())
	}
	if again, err := tokens.ModelToken(); err != nil || again != first {
		t.Errorf("second model token %q (%v), want the stored %q", again, err, first)
	}
	api, err := tokens.APIToken()
	if err != nil || api == first {
		t.Errorf("the API token %q (%v) must be its own secret", api, err)
	}
	rasa, err := tokens.RasaToken()
	if err != nil || rasa == first || rasa == api {
		t.Errorf("the Rasa token %q (%v) must be its own secret", rasa, err)
	}
}

func TestEnvironmentTokenWinsOverGenerated(t *testing.T) {
	dir := t.TempDir()
	tokens := TokenStore{Dir: dir, Env: map[string]string{
		"RASA_GITOPS_MODEL_TOKEN": "model-from-env", "RASA_GITOPS_API_TOKEN": "api-from-env", "RASA_TOKEN": "rasa-from-env",
	}}
	for name, get := range map[string]func() (string, error){
		"model-from-env": tokens.ModelToken, "api-from-env": tokens.APIToken, "rasa-from-env": tokens.RasaToken,
	} {
		if got, err := get(); err != nil || got != name {
			t.Errorf("token %q (%v), want %q", got, err, name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "secrets")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tokens from the environment must not be written to the state: %v", err)
	}
}

func TestModelTokenFileWinsOverEnvironmentFile(t *testing.T) {
	dir := t.TempDir()
	flagFile := filepath.Join(dir, "flag-token")
	envFile := filepath.Join(dir, "env-token")
	writeDir(t, dir, map[string]string{"flag-token": "  from-flag-file\n", "env-token": "from-env-file\n"})
	env := map[string]string{"RASA_GITOPS_MODEL_TOKEN_FILE": envFile}

	if got, err := (TokenStore{Dir: dir, Env: env, ModelTokenFile: flagFile}).ModelToken(); err != nil || got != "from-flag-file" {
		t.Errorf("with --model-token-file: %q (%v), want from-flag-file", got, err)
	}
	if got, err := (TokenStore{Dir: dir, Env: env}).ModelToken(); err != nil || got != "from-env-file" {
		t.Errorf("with $RASA_GITOPS_MODEL_TOKEN_FILE: %q (%v), want from-env-file", got, err)
	}
	env["RASA_GITOPS_MODEL_TOKEN"] = "from-env"
	if got, err := (TokenStore{Dir: dir, Env: env, ModelTokenFile: flagFile}).ModelToken(); err != nil || got != "from-env" {
		t.Errorf("with $RASA_GITOPS_MODEL_TOKEN: %q (%v), want from-env", got, err)
	}
	empty := filepath.Join(dir, "empty")
	writeDir(t, dir, map[string]string{"empty": "\n"})
	if _, err := (TokenStore{Dir: dir, ModelTokenFile: empty}).ModelToken(); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("an empty token file: %v, want an error", err)
	}
}

func TestEnvFileWinsOverProcessEnvironment(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	writeDir(t, dir, map[string]string{"env": "HOSTCFG_TEST_VAR=from-file\n"})
	t.Setenv("HOSTCFG_TEST_VAR", "from-process")
	t.Setenv("HOSTCFG_TEST_OTHER", "kept")
	env, err := Config{EnvFile: envFile}.Environment()
	if err != nil || env["HOSTCFG_TEST_VAR"] != "from-file" || env["HOSTCFG_TEST_OTHER"] != "kept" {
		t.Errorf("environment: %v, VAR=%q OTHER=%q", err, env["HOSTCFG_TEST_VAR"], env["HOSTCFG_TEST_OTHER"])
	}
}

// writeDir writes files (relative name → content) under dir.
func writeDir(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFingerprintChangesWhenAFileChanges(t *testing.T) {
	clearTokenEnv(t)
	decl := t.TempDir()
	writeDir(t, decl, map[string]string{compose.SettingsFile: "project: p\n", "environments/production.yaml": ""})
	cfg := Config{StateDir: t.TempDir(), Build: "test"}

	first := cfg.FingerprintOf(decl)
	if first == "" {
		t.Fatal("no fingerprint for a readable directory")
	}
	if again := cfg.FingerprintOf(decl); again != first {
		t.Errorf("fingerprint moved without a change: %s then %s", first, again)
	}
	writeDir(t, decl, map[string]string{"environments/production.yaml": "model: m\n"})
	if changed := cfg.FingerprintOf(decl); changed == first {
		t.Error("fingerprint unchanged after a file changed")
	}
	other := cfg
	other.Build = "another build"
	if cfg.FingerprintOf(decl) == other.FingerprintOf(decl) {
		t.Error("fingerprint unchanged for another build")
	}
	next := cfg.DirSource(decl, "").Fingerprint
	if fp, err := next(); err != nil || fp != cfg.FingerprintOf(decl) {
		t.Errorf("DirSource fingerprint %q (%v), want the config's", fp, err)
	}
}

func TestRenderInputsUseTheHostTokens(t *testing.T) {
	clearTokenEnv(t)
	decl, stateDir := t.TempDir(), t.TempDir()
	writeDir(t, decl, map[string]string{compose.SettingsFile: "project: p\n"})
	_, opts, _, err := Config{StateDir: stateDir}.RenderInputs(decl)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile(filepath.Join(stateDir, "secrets", "model-token"))
	if err != nil {
		t.Fatal(err)
	}
	if opts.ModelToken == "" || opts.ModelToken != strings.TrimSpace(string(stored)) {
		t.Errorf("model token %q, want the generated %q", opts.ModelToken, stored)
	}
	if !filepath.IsAbs(opts.GeneratedDir) || filepath.Base(opts.GeneratedDir) != "generated" {
		t.Errorf("generated dir %q, want an absolute <state>/generated", opts.GeneratedDir)
	}
}

func TestSnapshotPathIsStablePerDirectory(t *testing.T) {
	stateDir := t.TempDir()
	cfg := Config{StateDir: stateDir}
	a, b := t.TempDir(), t.TempDir()
	pa := cfg.SnapshotPath(a)
	if pa != cfg.SnapshotPath(a) {
		t.Error("snapshot path moved between calls")
	}
	if pa != cfg.SnapshotPath(a+string(filepath.Separator)+".") {
		t.Error("snapshot path depends on how the directory is spelled")
	}
	if pa == cfg.SnapshotPath(b) {
		t.Error("two directories share a snapshot path")
	}
	if filepath.Dir(pa) != filepath.Join(stateDir, "converged") || filepath.Ext(pa) != ".json" {
		t.Errorf("snapshot path %s, want <state>/converged/<hash>.json", pa)
	}
}

func TestCheckDirAndProjectOf(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	writeDir(t, filepath.Dir(file), map[string]string{"file": ""})
	var notDir *NotDirError
	if err := CheckDir(file); !errors.As(err, &notDir) || notDir.Dir != file {
		t.Errorf("CheckDir(file) = %v, want a *NotDirError", err)
	}
	decl := t.TempDir()
	writeDir(t, decl, map[string]string{compose.SettingsFile: "project: shop\nunknown: [\n"})
	if _, err := ProjectOf(decl); err == nil {
		t.Error("ProjectOf read broken YAML")
	}
	writeDir(t, decl, map[string]string{compose.SettingsFile: "project: shop\n"})
	if p, err := ProjectOf(decl); err != nil || p != "shop" {
		t.Errorf("ProjectOf = %q, %v", p, err)
	}
}

func TestSecretValuesAndDaemonSecrets(t *testing.T) {
	clearTokenEnv(t)
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	writeDir(t, dir, map[string]string{"env": "PLAIN_FROM_FILE=value-from-file\n"})
	t.Setenv("HOSTCFG_DB_PASSWORD", "hunter22")
	t.Setenv("HOSTCFG_PLAIN", "not-a-secret")
	t.Setenv("HOSTCFG_SHORT_TOKEN", "abc")
	cfg := Config{StateDir: dir, EnvFile: envFile}

	side, err := cfg.OpenSide()
	if err != nil {
		t.Fatal(err)
	}
	apiFile := filepath.Join(dir, "api")
	writeDir(t, dir, map[string]string{"api": "api-token-from-file\n"})
	m := state.NewMasker()
	s, err := cfg.DaemonSecrets(side, m, apiFile, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.API != "api-token-from-file" || side.Handler.UploadToken != s.API {
		t.Errorf("API token %q, upload token %q: the file must give both", s.API, side.Handler.UploadToken)
	}
	got := m.Apply("value-from-file hunter22 not-a-secret abc api-token-from-file " + side.Handler.Token)
	if want := "******** ******** not-a-secret abc ******** ********"; got != want {
		t.Errorf("masked %q, want %q", got, want)
	}
}

func TestPreviewMasksTokensUnlessShown(t *testing.T) {
	clearTokenEnv(t)
	cfg := Config{StateDir: t.TempDir()}
	masked, err := cfg.Preview(context.Background(), "../../examples/quickstart", false, false)
	if err != nil {
		t.Fatal(err)
	}
	shown, err := cfg.Preview(context.Background(), "../../examples/quickstart", false, true)
	if err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(filepath.Join(cfg.StateDir, "secrets", "model-token"))
	if err != nil {
		t.Fatal(err)
	}
	if tok := strings.TrimSpace(string(token)); tok == "" || strings.Contains(string(masked), tok) || !strings.Contains(string(shown), tok) {
		t.Errorf("the model token must be masked unless shown (token %q)", tok)
	}
}

// TestPreviewWithRelativeStateDir: render works with a relative --state-dir (the
// default ./.rasa-gitops of a non-root user) and prints the generated file's absolute
// path, so the printed file runs from anywhere.
func TestPreviewWithRelativeStateDir(t *testing.T) {
	clearTokenEnv(t)
	base := t.TempDir()
	repo, err := filepath.Abs("../../examples/quickstart")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(base)
	out, err := Config{StateDir: ".rasa-gitops"}.Preview(context.Background(), repo, false, false)
	if err != nil {
		t.Fatalf("render with a relative state directory: %v", err)
	}
	want := filepath.Join(base, ".rasa-gitops", "generated", "quickstart", "endpoints.yml")
	if !strings.Contains(string(out), "source: "+want) {
		t.Errorf("the printed file does not name %s:\n%s", want, out)
	}
	if _, err := os.Stat(want); err != nil {
		t.Errorf("the generated file is not where the printed file says: %v", err)
	}
}

// TestCachedRenderReusesOnlyUnchangedInputs: a second render of unchanged inputs is
// the first one (no work); a changed file, env file value or directory renders anew.
func TestCachedRenderReusesOnlyUnchangedInputs(t *testing.T) {
	clearTokenEnv(t)
	decl := t.TempDir()
	writeDir(t, decl, map[string]string{compose.SettingsFile: "version: 1\nproject: p\n", "environments/production.yaml": "service:\n  environment: {X: \"${X}\"}\n"})
	envFile := filepath.Join(t.TempDir(), "env")
	writeDir(t, filepath.Dir(envFile), map[string]string{"env": "X=1\n"})
	render := Config{StateDir: t.TempDir(), EnvFile: envFile, Build: "test"}.CachedRender()
	ctx := context.Background()
	first, err := render(ctx, decl)
	if err != nil {
		t.Fatal(err)
	}
	again, err := render(ctx, decl)
	if err != nil || again.Rendered != first.Rendered {
		t.Fatalf("unchanged inputs were rendered again (%v)", err)
	}
	writeDir(t, filepath.Dir(envFile), map[string]string{"env": "X=2\n"})
	byEnv, err := render(ctx, decl)
	if err != nil || byEnv.Rendered == first.Rendered {
		t.Fatalf("a changed env file value reused the old rendering (%v)", err)
	}
	writeDir(t, decl, map[string]string{"environments/production.yaml": "service:\n  environment: {X: \"${X}\", Y: \"1\"}\n"})
	byFile, err := render(ctx, decl)
	if err != nil || byFile.Rendered == byEnv.Rendered {
		t.Fatalf("a changed file reused the old rendering (%v)", err)
	}
	other := t.TempDir()
	writeDir(t, other, map[string]string{compose.SettingsFile: "version: 1\nproject: p\n", "environments/production.yaml": "service:\n  environment: {X: \"${X}\", Y: \"1\"}\n"})
	byDir, err := render(ctx, other)
	if err != nil || byDir.Rendered == byFile.Rendered {
		t.Fatalf("another directory with the same content reused the rendering, whose files live in the first (%v)", err)
	}
}
