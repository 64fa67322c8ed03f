package testengine

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Quickstart is examples/quickstart as a repository's files, made to run beside other
// tests on the one Engine: its project is project, its image the stand-in image, its
// model server the daemon's port on the host, and each environment that publishes a
// port publishes a free loopback port instead (published: the address by
// environment).
func Quickstart(t testing.TB, project string, modelServerPort int) (files, published map[string]string) {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "examples", "quickstart")
	files, published = map[string]string{}, map[string]string{}
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	settings := files["rasa-gitops.yaml"]
	for old, new := range map[string]string{`(?m)^project: .*$`: "project: " + project, `(?m)^  image: .*$`: "  image: " + StubImage,
		`(?m)^  url: http://host\.docker\.internal:\d+$`: fmt.Sprintf("  url: http://host.docker.internal:%d", modelServerPort)} {
		settings = mustReplace(t, settings, old, new)
	}
	files["rasa-gitops.yaml"] = settings
	for name, content := range files {
		env, ok := strings.CutPrefix(name, "environments/")
		if !ok || !strings.Contains(content, "\npublish:") && !strings.HasPrefix(content, "publish:") {
			continue
		}
		addr, _ := FreeLoopbackPort(t)
		env = strings.TrimSuffix(env, ".yaml")
		published[env] = addr
		files[name] = mustReplace(t, content, `(?m)^publish: .*$`, fmt.Sprintf("publish: %q", addr))
	}
	return files, published
}

// mustReplace replaces what the pattern matches, failing the test when it matches
// nothing (the example changed under the test).
func mustReplace(t testing.TB, s, pattern, repl string) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	if !re.MatchString(s) {
		t.Fatalf("examples/quickstart: no match for %s in:\n%s", pattern, s)
	}
	return re.ReplaceAllLiteralString(s, repl)
}
