package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

// BenchmarkFirstDeploy10Services times, as whole processes in one run, the first
// deploy of 10 plain services (no health check, so each must prove it stays up for
// 3 s) and one Rasa server: `rasa-gitops apply` with --parallel 4 and with
// --parallel 1 (the plan in order, as before parallel convergence), beside `docker
// compose up -d --wait` of the rendered file, and the Engine's floor (`docker run -d`
// of one container). Medians of 3 rounds (1 for --parallel 1).
func BenchmarkFirstDeploy10Services(b *testing.B) {
	compose := testengine.ComposeV2(b)
	cli := testengine.Connect(b)
	testengine.EnsureRasaXImages(b, cli) // the stand-in service image among them
	project := testengine.ProjectName(b)
	testengine.CleanupProject(b, cli, project)
	bin := filepath.Join(b.TempDir(), "rasa-gitops")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v %s", err, out)
	}
	dir, state := b.TempDir(), b.TempDir()
	var services strings.Builder
	services.WriteString("services:\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&services, "  svc%d: {image: %s}\n", i, testengine.FakeServiceImage)
	}
	writeTree(b, dir, map[string]string{
		"rasa-gitops.yaml":             fmt.Sprintf("version: 1\nproject: %s\nrasa:\n  image: %s\nmodelServer:\n  url: http://127.0.0.1:1\ncompose:\n  files: [compose.yml]\n", project, testengine.StubImage),
		"compose.yml":                  services.String(),
		"environments/production.yaml": "",
	})
	rendered, err := exec.Command(bin, "render", dir, "--state-dir", state, "--show-secrets").Output()
	if err != nil {
		b.Fatalf("render: %v", err)
	}
	down := func() {
		if out, err := exec.Command(bin, "down", dir, "--state-dir", state).CombinedOutput(); err != nil {
			b.Fatalf("down: %v %s", err, out)
		}
	}
	timed := func(cmd *exec.Cmd) time.Duration {
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", cmd.Args, err, out)
		}
		return time.Since(start)
	}
	apply := func(parallel string) time.Duration {
		down()
		return timed(exec.Command(bin, "apply", dir, "--state-dir", state, "--parallel", parallel))
	}
	up := func() time.Duration {
		down()
		cmd := exec.Command(compose, "-p", project, "--project-directory", dir, "-f", "-", "up", "-d", "--wait")
		cmd.Stdin = bytes.NewReader(rendered)
		return timed(cmd)
	}
	floor := func() time.Duration {
		d := timed(exec.Command("docker", "run", "-d", "--name", project+"-floor", testengine.FakeServiceImage))
		exec.Command("docker", "rm", "-f", project+"-floor").Run()
		return d
	}
	var par, seq, comp, fl []time.Duration
	for b.Loop() {
		par, comp, fl = par[:0], comp[:0], fl[:0]
		for i := 0; i < 3; i++ {
			par = append(par, apply("4"))
			comp = append(comp, up())
			fl = append(fl, floor())
		}
		seq = []time.Duration{apply("1")}
	}
	down()
	b.ReportMetric(median(par).Seconds(), "apply-parallel-s")
	b.ReportMetric(median(seq).Seconds(), "apply-in-order-s")
	b.ReportMetric(median(comp).Seconds(), "compose-up-wait-s")
	b.ReportMetric(median(fl).Seconds(), "docker-run-floor-s")
}
