package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

// BenchmarkNoopApplyRasaX times, as whole processes and alternating in one run, a
// no-op `rasa-gitops apply` of examples/rasa-x (9 containers, on stand-in images)
// and `docker compose up -d` on the file it renders, on the same converged host
// (each finds the other's containers up to date). Reports medians in ms and their
// ratio (target ≤ 0.5).
func BenchmarkNoopApplyRasaX(b *testing.B) {
	compose := testengine.ComposeV2(b)
	cli := testengine.Connect(b)
	project := testengine.ProjectName(b)
	testengine.CleanupProject(b, cli, project)
	bin := filepath.Join(b.TempDir(), "rasa-gitops")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v %s", err, out)
	}
	state := b.TempDir()
	dir, flags := rasaXRepo(b, project)
	apply := append([]string{"apply", dir, "--state-dir", state, "--listen", "127.0.0.1:0"}, flags...)
	render := append([]string{"render", dir, "--state-dir", state, "--show-secrets"}, flags...)
	rendered, err := exec.Command(bin, render...).Output()
	if err != nil {
		b.Fatalf("render: %v", err)
	}
	if out, err := exec.Command(bin, apply...).CombinedOutput(); err != nil {
		b.Fatalf("first apply: %v\n%s", err, out)
	}
	up := func() error {
		cmd := exec.Command(compose, "-p", project, "--project-directory", dir, "-f", "-", "up", "-d")
		cmd.Stdin = bytes.NewReader(rendered)
		return cmd.Run()
	}
	var ours, theirs []time.Duration
	for b.Loop() {
		ours, theirs = ours[:0], theirs[:0]
		for i := 0; i < 10; i++ {
			start := time.Now()
			if out, err := exec.Command(bin, apply...).CombinedOutput(); err != nil {
				b.Fatalf("apply: %v\n%s", err, out)
			}
			ours = append(ours, time.Since(start))
			start = time.Now()
			if err := up(); err != nil {
				b.Fatalf("docker compose up: %v", err)
			}
			theirs = append(theirs, time.Since(start))
		}
	}
	o, c := median(ours), median(theirs)
	b.ReportMetric(float64(o)/float64(time.Millisecond), "apply-ms")
	b.ReportMetric(float64(c)/float64(time.Millisecond), "compose-up-ms")
	b.ReportMetric(float64(o)/float64(c), "ratio")
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
