package compose

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to each declaration file in turn. Whatever the input,
// Validate must return either a declaration or Problems (never panic, hang or another
// error), and every problem must be placed in a file of the repository.
func FuzzLoad(f *testing.F) {
	var seeds []string
	for _, pattern := range []string{"testdata/invalid/*/repo/*.yaml", "testdata/invalid/*/repo/*/*.y*ml", "../examples/*/*.yaml"} {
		matches, err := filepath.Glob(pattern)
		if err != nil || len(matches) == 0 {
			f.Fatalf("no seeds at %s: %v", pattern, err)
		}
		seeds = append(seeds, matches...)
	}
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a symlink of the invalid corpus pointing out of its repository, on purpose
		}
		if err != nil {
			f.Fatal(err)
		}
		if len(data) < 8192 {
			f.Add(uint8(0), data)
			f.Add(uint8(1), data)
			f.Add(uint8(2), data)
			f.Add(uint8(3), data)
		}
	}
	f.Add(uint8(0), []byte("version: 1\nproject: x\nrasa: {service: {environment: [A=${B:-c}]}}\n"))
	f.Add(uint8(3), []byte("services:\n  db: &a {image: x, <<: *a}\n"))
	targets := []string{SettingsFile, ModelsFile, "environments/production.yaml", "compose/base.yml"}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		files := map[string]string{
			SettingsFile:                   "version: 1\nproject: fuzz\ncompose: {files: [compose/base.yml]}\n",
			ModelsFile:                     "models:\n  a: {sha256: " + digestA + "}\n",
			"environments/production.yaml": "model: a\n",
			"compose/base.yml":             "services:\n  db: {image: postgres:13}\n",
		}
		target := targets[int(which)%len(targets)]
		files[target] = string(data)
		dir := writeRepo(t, files)
		d, err := Validate(context.Background(), dir, LoadOptions{Env: map[string]string{"SET": "1"}, Limits: Limits{MaxFileSize: 1 << 16, MaxNodes: 20000, MaxEnvironments: 10}})
		if err == nil {
			sameRenderEitherWay(t, d)
			return
		}
		var problems Problems
		if !errors.As(err, &problems) {
			t.Fatalf("non-Problems error for %s: %v", target, err)
		}
		for _, p := range problems {
			if p.File == "" || p.Line < 1 || p.Col < 1 || strings.Contains(p.File, dir) {
				t.Fatalf("problem not placed in the repository: %+v", p)
			}
		}
	})
}

// sameRenderEitherWay fails when stamping environments from a template (stamp.go)
// renders d differently from loading each service through compose-go.
func sameRenderEitherWay(t *testing.T, d *Declaration) {
	t.Helper()
	var out [2][]byte
	for i, each := range []bool{false, true} {
		r, err := Render(context.Background(), d, RenderOptions{ModelToken: "m", DefaultToken: "t", GeneratedDir: "/gen", loadEachService: each})
		if err != nil {
			t.Fatalf("render (each service loaded: %v) failed after Validate passed: %v", each, err)
		}
		if out[i], err = r.ComposeYAML(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Fatalf("stamped render differs\n--- stamped\n%s\n--- each service\n%s", out[0], out[1])
	}
}
