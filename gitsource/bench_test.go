package gitsource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
)

// BenchmarkFetchUnchanged is a poll with no change, over HTTP (git http-backend):
// targets under 5 ms for the quickstart repository, under 50 ms for one with 10,000
// commits, and one request to the Git server.
func BenchmarkFetchUnchanged(b *testing.B) {
	for _, tc := range []struct {
		name    string
		commits int
	}{{"quickstart", 0}, {"10k-commits", 10000}} {
		b.Run(tc.name, func(b *testing.B) {
			remote := testgit.New(b)
			files := map[string]string{}
			root := "../examples/quickstart"
			err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
				if err != nil || !info.Mode().IsRegular() {
					return err
				}
				rel, err := filepath.Rel(root, p)
				if err != nil {
					return err
				}
				data, err := os.ReadFile(p)
				files[filepath.ToSlash(rel)] = string(data)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			remote.Commit(files, testgit.CommitOptions{})
			if tc.commits > 0 {
				remote.FastImport(tc.commits)
			}
			url, requests := remote.ServeHTTPCounting("")
			src, err := Open(Options{URL: url, StateDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := src.Fetch(context.Background()); err != nil {
				b.Fatal(err)
			}
			before := requests.Load()
			b.ResetTimer()
			for b.Loop() {
				if _, err := src.Fetch(context.Background()); !errors.Is(err, ErrUnchanged) {
					b.Fatalf("fetch: %v", err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(requests.Load()-before)/float64(b.N), "requests/poll")
		})
	}
}
