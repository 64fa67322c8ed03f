package compose

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// generatedRepo is a repository of n environments and n models, each environment
// publishing its own port and half of them carrying Compose service fields.
func generatedRepo(tb testing.TB, n int) string {
	tb.Helper()
	files := map[string]string{
		SettingsFile: `version: 1
project: bench
rasa:
  image: rasa/rasa:3.6.20-full
  service:
    environment: {DB_HOST: db, RABBITMQ_HOST: rabbit}
compose:
  files: [compose/base.yml]
`,
		"compose/base.yml": "services:\n  db: {image: postgres:13}\n  rabbit: {image: rabbitmq:3}\n",
	}
	models := "models:\n"
	for i := 0; i < n; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprint(i)))
		models += fmt.Sprintf("  model-%03d:\n    sha256: %s\n    source: https://models.example.com/model-%03d.tar.gz\n", i, hex.EncodeToString(sum[:]), i)
		env := fmt.Sprintf("model: model-%03d\npublish: \"127.0.0.1:%d\"\n", i, 20000+i)
		if i%2 == 0 {
			env += "service:\n  environment:\n    FLAG: \"1\"\n"
		}
		files[fmt.Sprintf("environments/env-%03d.yaml", i)] = env
	}
	files[ModelsFile] = models
	dir := tb.TempDir()
	writeFiles(tb, dir, files)
	return dir
}

// BenchmarkValidateRender100 validates and renders 100 environments and 100 models,
// the way the daemon does for each new revision (target: < 50 ms, < 50 MB per op).
func BenchmarkValidateRender100(b *testing.B) { benchmarkValidateRender(b, 100) }

// BenchmarkValidateRender10 shows how the cost grows with the number of environments.
func BenchmarkValidateRender10(b *testing.B) { benchmarkValidateRender(b, 10) }

func benchmarkValidateRender(b *testing.B, n int) {
	dir := generatedRepo(b, n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d, err := Load(dir, LoadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		r, err := Render(context.Background(), d, RenderOptions{ModelToken: "m", DefaultToken: "t", GeneratedDir: "/tmp/gen"})
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Project.Services) != n+2 {
			b.Fatalf("rendered %d services", len(r.Project.Services))
		}
	}
}
