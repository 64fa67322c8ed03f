package compose

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/rasa-gitops/rasa-gitops/internal/modelarchive"
)

// writeRepo lays out a declaration repository from file name → content.
func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return dir
}

func writeFiles(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

const (
	digestA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func baseFiles() map[string]string {
	return map[string]string{
		"rasa-gitops.yaml":             "version: 1\nproject: demo\n",
		"models.yaml":                  "models:\n  a:\n    sha256: " + digestA + "\n  b:\n    sha256: " + digestB + "\n",
		"environments/production.yaml": "model: a\npublish: 127.0.0.1:5005\n",
		"environments/worker.yaml":     "",
	}
}

func with(files map[string]string, kv ...string) map[string]string {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" && strings.HasPrefix(kv[i], "-") {
			delete(files, kv[i][1:])
			continue
		}
		files[kv[i]] = kv[i+1]
	}
	return files
}

func envVar(svc types.ServiceConfig, name string) string {
	if v := svc.Environment[name]; v != nil {
		return *v
	}
	return "<unset>"
}

func TestRenderRasaService(t *testing.T) {
	dir := writeRepo(t, baseFiles())
	d, r := renderForTest(t, dir, nil)
	prod, err := r.Project.GetService("rasa-production")
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := map[string]string{
		"RASA_ENVIRONMENT":         "production",
		"RASA_MODEL_SERVER":        "http://host.docker.internal:8080/api/projects/demo/models/tags/production",
		"RASA_MODEL_PULL_INTERVAL": "10",
		"RASA_MODEL_TOKEN":         testModelToken,
		"DB_DATABASE":              "rasa_production",
		"RABBITMQ_QUEUE":           "rasa_production_events",
	}
	for k, want := range wantEnv {
		if got := envVar(prod, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := strings.Join(prod.Command, " "); got != "run --enable-api --port 5005 --auth-token "+testDefaultToken+" --endpoints /app/endpoints.yml --cors *" {
		t.Errorf("command = %q", got)
	}
	if prod.Image != defaultRasaImage {
		t.Errorf("image = %q", prod.Image)
	}
	if len(prod.Ports) != 1 || prod.Ports[0].HostIP != "127.0.0.1" || prod.Ports[0].Published != "5005" || prod.Ports[0].Target != 5005 {
		t.Errorf("ports = %+v", prod.Ports)
	}
	if len(prod.ExtraHosts["host.docker.internal"]) != 1 || prod.ExtraHosts["host.docker.internal"][0] != "host-gateway" {
		t.Errorf("extra_hosts = %v", prod.ExtraHosts)
	}
	if prod.Labels[LabelManaged] != "true" || prod.Labels[LabelEnvironment] != "production" {
		t.Errorf("labels = %v", prod.Labels)
	}
	if _, ok := prod.Networks["default"]; !ok || r.Project.Networks["default"].Name != "demo_default" {
		t.Errorf("networks = %v / %v", prod.Networks, r.Project.Networks)
	}
	gen := filepath.Join(testGeneratedDir, GeneratedEndpointsName)
	if len(prod.Volumes) != 1 || prod.Volumes[0].Source != gen || prod.Volumes[0].Target != ContainerEndpoints || !prod.Volumes[0].ReadOnly {
		t.Errorf("volumes = %+v", prod.Volumes)
	}
	if len(r.Files) != 1 || r.Files[0].Path != gen || !strings.Contains(string(r.Files[0].Content), "wait_time_between_pulls: 10\n") {
		t.Errorf("generated files = %+v", r.Files)
	}
	worker := mustService(t, r, "rasa-worker")
	if len(worker.Ports) != 0 {
		t.Errorf("worker publishes %v; it declared no publish", worker.Ports)
	}
	if r.Environments[0].Name != "production" || r.Environments[0].SHA256 != digestA || r.Environments[1].Model != "" {
		t.Errorf("rendered environments = %+v", r.Environments)
	}
	if d.Project != "demo" || r.Project.Name != "demo" {
		t.Errorf("project = %q / %q", d.Project, r.Project.Name)
	}
}

func TestRenderMergesTemplateThenEnvironment(t *testing.T) {
	files := with(baseFiles(),
		"rasa-gitops.yaml", `version: 1
project: demo
rasa:
  image: example/rasa:1
  port: 5006
  pullInterval: 1m
  service:
    environment: {SHARED: template, OVERRIDDEN: template}
    labels: {team: bots}
modelServer:
  url: https://models.internal:8443/
`,
		"environments/production.yaml", `model: a
image: example/rasa:2
token: ${PROD_TOKEN}
service:
  environment:
    OVERRIDDEN: environment
    FROM_DAEMON: ${DAEMON_VALUE:-fallback}
`,
		"credentials.yml", "rest: {}\n",
		"endpoints.yml", "models:\n  url: ${RASA_MODEL_SERVER}\n",
	)
	dir := writeRepo(t, files)
	_, r := renderForTest(t, dir, map[string]string{"PROD_TOKEN": "pa$$word$X"})
	prod := mustService(t, r, "rasa-production")
	worker := mustService(t, r, "rasa-worker")
	checks := []struct{ what, got, want string }{
		{"prod SHARED", envVar(prod, "SHARED"), "template"},
		{"prod OVERRIDDEN", envVar(prod, "OVERRIDDEN"), "environment"},
		{"prod FROM_DAEMON", envVar(prod, "FROM_DAEMON"), "fallback"},
		{"worker OVERRIDDEN", envVar(worker, "OVERRIDDEN"), "template"},
		{"prod image", prod.Image, "example/rasa:2"},
		{"worker image", worker.Image, "example/rasa:1"},
		{"prod label", prod.Labels["team"], "bots"},
		{"pull interval", envVar(prod, "RASA_MODEL_PULL_INTERVAL"), "60"},
		{"model server", envVar(prod, "RASA_MODEL_SERVER"), "https://models.internal:8443/api/projects/demo/models/tags/production"},
		// A token is a literal: its $ signs must survive compose-go's interpolation.
		{"prod token", prod.Command[5], "pa$$word$X"},
		{"worker token", worker.Command[5], testDefaultToken},
		{"prod port", prod.Command[3], "5006"},
		{"credentials flag", strings.Join(prod.Command[8:10], " "), "--credentials /app/credentials.yml"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if len(prod.ExtraHosts) != 0 {
		t.Errorf("extra_hosts %v rendered although the model server is not host.docker.internal", prod.ExtraHosts)
	}
	if len(r.Files) != 0 {
		t.Errorf("generated %v although the repository has endpoints.yml", r.Files)
	}
	mounts := r.RepoMounts["rasa-production"]
	if len(mounts) != 2 || !strings.HasSuffix(mounts[0], "credentials.yml") || !strings.HasSuffix(mounts[1], "endpoints.yml") {
		t.Errorf("repo mounts = %v", mounts)
	}
}

func TestRenderComposeFiles(t *testing.T) {
	files := with(baseFiles(),
		"rasa-gitops.yaml", "version: 1\nproject: demo\ncompose:\n  files: [compose/base.yml, compose/override.yml]\n",
		"compose/base.yml", `x-db-env: &db-env
  POSTGRES_USER: admin
  POSTGRES_PASSWORD: ${DB_PASSWORD:-changeme}
x-defaults: &defaults
  restart: always
  labels: {tier: infra}
services:
  db:
    <<: *defaults
    image: postgres:13
    environment: *db-env
    volumes: [db-data:/var/lib/postgresql/data, ./compose/init:/docker-entrypoint-initdb.d:ro]
volumes:
  db-data: {}
`,
		"compose/override.yml", "services:\n  db:\n    environment:\n      EXTRA: \"1\"\n",
		"compose/init/schema.sql", "create table t (id int);\n",
	)
	dir := writeRepo(t, files)
	d, r := renderForTest(t, dir, nil)
	db, err := r.Project.GetService("db")
	if err != nil {
		t.Fatal(err)
	}
	if db.Restart != "always" || db.Labels["tier"] != "infra" || db.Labels[LabelManaged] != "true" {
		t.Errorf("merge key not applied: restart=%q labels=%v", db.Restart, db.Labels)
	}
	if _, ok := db.Labels[LabelEnvironment]; ok {
		t.Errorf("an infrastructure service got an environment label: %v", db.Labels)
	}
	if envVar(db, "POSTGRES_PASSWORD") != "changeme" || envVar(db, "EXTRA") != "1" {
		t.Errorf("db environment = %v", db.Environment)
	}
	wantMount := filepath.Join(d.Dir, "compose", "init")
	if got := r.RepoMounts["db"]; len(got) != 1 || got[0] != wantMount {
		t.Errorf("db repo mounts = %v, want [%s]", got, wantMount)
	}
	if _, ok := r.Project.Volumes["db-data"]; !ok {
		t.Errorf("named volume lost: %v", r.Project.Volumes)
	}
}

func TestConfigHash(t *testing.T) {
	files := with(baseFiles(), "endpoints.yml", "models: {url: a}\n")
	dir := writeRepo(t, files)
	hashOf := func(r *Rendered, mutate func(*types.ServiceConfig), in HashInputs) string {
		t.Helper()
		svc := mustService(t, r, "rasa-production")
		if mutate != nil {
			mutate(&svc)
		}
		if in.MountDigests == nil {
			digests, err := r.MountDigests("rasa-production")
			if err != nil {
				t.Fatal(err)
			}
			in.MountDigests = digests
		}
		h, err := ConfigHash(svc, in)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	_, r := renderForTest(t, dir, nil)
	base := hashOf(r, nil, HashInputs{ImageID: "sha256:1"})
	if again := hashOf(r, nil, HashInputs{ImageID: "sha256:1"}); again != base {
		t.Fatalf("hash is not deterministic: %s vs %s", base, again)
	}
	same := map[string]func(*types.ServiceConfig){
		"revision label": func(s *types.ServiceConfig) { s.Labels = s.Labels.Add(LabelRevision, "main@sha1:abc") },
		"replicas":       func(s *types.ServiceConfig) { n := 3; s.Deploy = &types.DeployConfig{Replicas: &n} },
		"pull policy":    func(s *types.ServiceConfig) { s.PullPolicy = "always" },
	}
	for name, m := range same {
		if h := hashOf(r, m, HashInputs{ImageID: "sha256:1"}); h != base {
			t.Errorf("%s changed the hash; it must not recreate the container", name)
		}
	}
	if h := hashOf(r, func(s *types.ServiceConfig) { s.Image = "other:1" }, HashInputs{ImageID: "sha256:1"}); h == base {
		t.Error("a new image reference kept the hash")
	}
	if h := hashOf(r, nil, HashInputs{ImageID: "sha256:2"}); h == base {
		t.Error("a new image ID kept the hash")
	}
	// Editing the bind-mounted endpoints.yml must change the hash (Compose's does not).
	if err := os.WriteFile(filepath.Join(dir, "endpoints.yml"), []byte("models: {url: b}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if h := hashOf(r, nil, HashInputs{ImageID: "sha256:1"}); h == base {
		t.Error("editing endpoints.yml kept the hash")
	}
	labels := ContainerLabels(r.Project, mustService(t, r, "rasa-production"), 1, Hashes{Own: base, Compose: "compose-hash", ImageID: "sha256:1"}, "main@sha1:abc")
	for k, want := range map[string]string{LabelProject: "demo", LabelService: "rasa-production", LabelContainerNumber: "1", LabelOneoff: "False", LabelOwnHash: base, LabelConfigHash: "compose-hash", LabelImage: "sha256:1", LabelRevision: "main@sha1:abc", LabelManaged: "true", LabelEnvironment: "production", LabelWorkingDir: r.Project.WorkingDir} {
		if labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, labels[k], want)
		}
	}
}

func mustService(t *testing.T, r *Rendered, name string) types.ServiceConfig {
	t.Helper()
	s, err := r.Project.GetService(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDigestPathDirectory(t *testing.T) {
	dir := writeRepo(t, map[string]string{"a/x.txt": "1", "a/b/y.txt": "2"})
	first, err := DigestPath(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a/b/y.txt"), []byte("3"), 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := DigestPath(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Error("changing a nested file kept the directory digest")
	}
	if d, err := DigestPath(filepath.Join(dir, "missing")); err != nil || d != "absent" {
		t.Errorf("missing path digest = %q, %v", d, err)
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	files := with(baseFiles(),
		"environments/production.yaml", "model: nope\nimage: ok/image:1\nextra: 1\n",
		"environments/worker.yaml", "publish: 'not-a-port'\n",
	)
	dir := writeRepo(t, files)
	_, err := Validate(context.Background(), dir, LoadOptions{})
	var problems Problems
	if !errors.As(err, &problems) {
		t.Fatalf("want Problems, got %v", err)
	}
	want := []string{
		"environments/production.yaml:1:8: model nope is not declared in models.yaml: add it there or fix the name",
		"environments/production.yaml:3:1: unknown key \"extra\" in environments/production.yaml: allowed keys are image, model, publish, service, token",
		"environments/worker.yaml:1:10: publish \"not-a-port\": host port must be a number from 1 to 65535: write [host_ip:]host_port, such as 127.0.0.1:5005",
	}
	if got := strings.Split(problems.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestValidateChecksModelFilesInTheRepository: a model kept in the repository is
// hashed against its sha256 and checked to be a model archive, at the lines that say
// so; a right one passes. Load (the daemon's path) leaves the file to the store.
func TestValidateChecksModelFilesInTheRepository(t *testing.T) {
	good := string(modelarchive.Rasa3Model("good"))
	goodDigest := modelserverDigest(good)
	junkDigest := modelserverDigest("this is not a model archive")
	files := with(baseFiles(),
		"models.yaml", "models:\n  a:\n    sha256: "+goodDigest+"\n    source: models/a.tar.gz\n"+
			"  b:\n    sha256: "+digestB+"\n    source: models/b.tar.gz\n"+
			"  c:\n    source: models/c.tar.gz\n    sha256: "+junkDigest+"\n",
		"models/a.tar.gz", good,
		"models/b.tar.gz", good,
		"models/c.tar.gz", "this is not a model archive",
	)
	dir := writeRepo(t, files)
	_, err := Validate(context.Background(), dir, LoadOptions{})
	var problems Problems
	if !errors.As(err, &problems) {
		t.Fatalf("want Problems, got %v", err)
	}
	want := []string{
		"models.yaml:6:13: sha256 of models/b.tar.gz is " + goodDigest + ", not " + digestB + ": set model b's sha256 to the file's (sha256sum models/b.tar.gz)",
		"models.yaml:9:13: models/c.tar.gz (model c) is not a Rasa model archive: not gzip-compressed (gzip: invalid header); a model is the .tar.gz `rasa train` writes",
	}
	if got := strings.Split(problems.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := Load(dir, LoadOptions{}); err != nil {
		t.Errorf("Load hashed the model files: %v", err)
	}
}

func modelserverDigest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestSecretValuesAreTheVariablesTheRepositoryUses(t *testing.T) {
	files := with(baseFiles(), "environments/production.yaml", "model: a\ntoken: ${PROD_TOKEN}\nservice:\n  environment: {DB: \"${DB_PASSWORD}\"}\n")
	d, err := Load(writeRepo(t, files), LoadOptions{Env: map[string]string{"PROD_TOKEN": "prod-secret", "DB_PASSWORD": "db-secret", "HOME": "/root"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.SecretValues(), ","); got != "db-secret,prod-secret,prod-secret" && got != "db-secret,prod-secret" {
		t.Errorf("secret values = %q", got)
	}
}

func TestComposeErrorsMaskInterpolatedValues(t *testing.T) {
	files := with(baseFiles(),
		"rasa-gitops.yaml", "version: 1\nproject: demo\ncompose:\n  files: [compose/base.yml]\n",
		"compose/base.yml", "services:\n  db:\n    image: postgres:13\n    networks: [\"${DB_PASSWORD}\"]\n")
	_, err := Validate(context.Background(), writeRepo(t, files), LoadOptions{Env: map[string]string{"DB_PASSWORD": "hunter2secret"}})
	if err == nil {
		t.Fatal("an undefined network was accepted")
	}
	if strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("the variable's value leaked: %v", err)
	}
}

func TestConfigHashIsTheSameInAnotherCheckout(t *testing.T) {
	files := with(baseFiles(), "endpoints.yml", "models: {url: a}\n")
	hash := func(dir string) string {
		_, r := renderForTest(t, dir, nil)
		digests, err := r.MountDigests("rasa-production")
		if err != nil {
			t.Fatal(err)
		}
		h, err := ConfigHash(r.Project.Services["rasa-production"], HashInputs{MountDigests: digests, ImageID: "i", RepoRoot: r.Dir})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	a, b := writeRepo(t, files), writeRepo(t, files)
	if hash(a) != hash(b) {
		t.Error("the same revision checked out elsewhere hashes differently")
	}
	writeFiles(t, b, map[string]string{"endpoints.yml": "models: {url: b}\n"})
	if hash(a) == hash(b) {
		t.Error("different endpoints.yml content hashes the same")
	}
}
