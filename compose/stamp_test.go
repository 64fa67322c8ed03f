package compose

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// stampCorpus are repositories whose environments share shapes in every way the
// template render must get right: published ports of each address family, tokens
// with dollar signs, images of their own, service fields that name the compose
// files' networks, volumes and services, variables, and fields stamping leaves alone.
func stampCorpus(t *testing.T) map[string]string {
	t.Helper()
	dirs := map[string]string{"generated": generatedRepo(t, 12)}
	examples, err := filepath.Glob("../examples/*/rasa-gitops.yaml")
	if err != nil || len(examples) < 2 {
		t.Fatalf("want the examples, found %v (%v)", examples, err)
	}
	for _, e := range examples {
		dirs[filepath.Base(filepath.Dir(e))] = filepath.Dir(e)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		SettingsFile: `version: 1
project: shapes
rasa:
  image: rasa/rasa:3.6.20-full
  service:
    environment: {DB_HOST: db, GREETING: "${GREETING}"}
    healthcheck: {test: ["CMD", "true"], interval: 5s}
modelServer:
  url: http://host.docker.internal:8080
compose:
  files: [compose/base.yml]
`,
		"compose/base.yml":          "services:\n  db: {image: postgres:13, networks: [back]}\nnetworks:\n  back: {}\nvolumes:\n  cache: {}\n",
		ModelsFile:                  "models:\n  m:\n    sha256: " + testSHA + "\n    source: https://models.example.com/m.tar.gz\n",
		"environments/a-one.yaml":   "model: m\npublish: \"127.0.0.1:21001\"\ntoken: \"tok$$en-one\"\n",
		"environments/a-two.yaml":   "model: m\npublish: \"[::1]:21002\"\ntoken: \"t$$$$ok-two\"\n",
		"environments/a-three.yaml": "model: m\npublish: \"21003\"\n",
		"environments/b-one.yaml":   "image: rasa/rasa:3.5.0\nservice:\n  networks: [back, default]\n  volumes: [\"cache:/cache\"]\n  depends_on: [db]\n  labels: {team: b}\n",
		"environments/b-two.yaml":   "image: rasa/rasa:3.5.0\nservice:\n  networks: [back, default]\n  volumes: [\"cache:/cache\"]\n  depends_on: [db]\n  labels: {team: b}\n",
		"environments/c-ports.yaml": "publish: \"127.0.0.1:21004\"\nservice:\n  ports: [\"127.0.0.1:21005:9000\"]\n",
		"environments/c-plain.yaml": "service:\n  environment: {GREETING: \"hello ${GREETING}\"}\n",
		"environments/d-one.yaml":   "service:\n  environment: {INDEX: \"1\", SAME: same, NUM: 7, EMPTY: \"\", UNSET: null}\n  labels: {team: d1, tier: \"x=y\"}\n",
		"environments/d-two.yaml":   "service:\n  environment: {INDEX: \"2\", SAME: same, NUM: 7, EMPTY: \"\", UNSET: null}\n  labels: {team: d2, tier: \"a b\"}\n",
		"environments/d-list.yaml":  "service:\n  environment: [\"INDEX=3\"]\n  labels: [\"team=d3\"]\n",
	})
	dirs["shapes"] = dir
	return dirs
}

const testSHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// TestStampedRenderEqualsLoadingEachService renders each repository of the corpus
// both ways: stamped from templates and with every service through compose-go.
// The projects must be identical, and the corpus must exercise stamping.
func TestStampedRenderEqualsLoadingEachService(t *testing.T) {
	env := map[string]string{"GREETING": "hi $there"}
	for name, dir := range stampCorpus(t) {
		t.Run(name, func(t *testing.T) {
			d, err := Load(dir, LoadOptions{Env: env})
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if _, shapes, ok := planShapes(d); !ok || len(shapes) == 0 {
				t.Fatalf("no environment of %s is stamped (ok=%v)", name, ok)
			}
			render := func(each bool) *Rendered {
				r, err := Render(context.Background(), d, RenderOptions{ModelToken: testModelToken, DefaultToken: testDefaultToken, GeneratedDir: testGeneratedDir, loadEachService: each})
				if err != nil {
					t.Fatalf("render (each service loaded: %v): %v", each, err)
				}
				return r
			}
			stamped, each := render(false), render(true)
			a, errA := stamped.ComposeYAML()
			b, errB := each.ComposeYAML()
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("stamped render differs\n--- stamped\n%s\n--- each service\n%s", a, b)
			}
			if !reflect.DeepEqual(stamped, each) {
				t.Fatal("stamped render differs from loading each service, in fields the Compose file does not show")
			}
		})
	}
}

// TestShapesShareTemplates: environments whose own fields differ only in plain
// values of environment: and labels: share one template; anything else that differs
// makes a shape of its own, and ports: in a layer renders the environment as itself.
func TestShapesShareTemplates(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		SettingsFile:               "version: 1\nproject: shapes\nrasa: {image: rasa/rasa:3.6.20-full}\n",
		ModelsFile:                 "models: {}\n",
		"environments/ports.yaml":  "service:\n  ports: [\"9000\"]\n",
		"environments/other.yaml":  "service:\n  restart: always\n",
		"environments/dollar.yaml": "service:\n  environment: {INDEX: \"$$1\"}\n",
	}
	for i := range 20 {
		files[fmt.Sprintf("environments/env-%02d.yaml", i)] = fmt.Sprintf("service:\n  environment: {INDEX: \"%d\"}\n  labels: {n: \"%d\"}\n", i, i)
	}
	writeFiles(t, dir, files)
	d, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	direct, shapes, ok := planShapes(d)
	if !ok || len(direct) != 1 || direct[0].Name != "ports" {
		t.Fatalf("rendered as themselves: %v (ok=%v), want only ports", direct, ok)
	}
	var sizes []int
	for _, s := range shapes {
		sizes = append(sizes, len(s.envs))
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{1, 1, 20}) {
		t.Fatalf("shape sizes %v, want the 20 env-NN in one and dollar and other alone", sizes)
	}
}
