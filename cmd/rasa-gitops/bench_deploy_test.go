package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

// BenchmarkFirstDeploy10Services times, as whole processes in one run, the first
// deploy of 10 plain services (no health check, so each must prove it stays up for
// 3 s) and one Rasa server: `rasa-gitops apply` with --parallel 4 and with
// --parallel 1 (the plan in order, as before parallel convergence), beside `docker
// compose up -d --wait` of the rendered file, and the Engine's floor (`docker run -d`
// of one container). Medians of 3 rounds (1 for --parallel 1). Besides each command's
// wall time it reports when the last container started (all-started), which is
// what the first-deploy row compares.
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
	var parStarted, compStarted []time.Duration
	apply := func(parallel string) time.Duration {
		down()
		start := time.Now()
		d := timed(exec.Command(bin, "apply", dir, "--state-dir", state, "--parallel", parallel))
		parStarted = append(parStarted, lastStarted(b, cli, project, start))
		return d
	}
	up := func() time.Duration {
		down()
		cmd := exec.Command(compose, "-p", project, "--project-directory", dir, "-f", "-", "up", "-d", "--wait")
		cmd.Stdin = bytes.NewReader(rendered)
		start := time.Now()
		d := timed(cmd)
		compStarted = append(compStarted, lastStarted(b, cli, project, start))
		return d
	}
	floor := func() time.Duration {
		d := timed(exec.Command("docker", "run", "-d", "--name", project+"-floor", testengine.FakeServiceImage))
		exec.Command("docker", "rm", "-f", project+"-floor").Run()
		return d
	}
	var par, seq, comp, fl []time.Duration
	for b.Loop() {
		par, comp, fl, parStarted, compStarted = par[:0], comp[:0], fl[:0], parStarted[:0], compStarted[:0]
		for i := 0; i < 3; i++ {
			par = append(par, apply("4"))
			comp = append(comp, up())
			fl = append(fl, floor())
		}
		seq = []time.Duration{apply("1")}
		parStarted = parStarted[:len(parStarted)-1] // the in-order run's
	}
	down()
	b.ReportMetric(median(par).Seconds(), "apply-parallel-s")
	b.ReportMetric(median(seq).Seconds(), "apply-in-order-s")
	b.ReportMetric(median(comp).Seconds(), "compose-up-wait-s")
	b.ReportMetric(median(fl).Seconds(), "docker-run-floor-s")
	b.ReportMetric(median(parStarted).Seconds(), "apply-parallel-all-started-s")
	b.ReportMetric(median(compStarted).Seconds(), "compose-all-started-s")
}

// lastStarted is how long after start the last container of project started, as the
// Engine recorded it: when every service runs, whatever the command then waits for.
func lastStarted(b *testing.B, cli *client.Client, project string, start time.Time) time.Duration {
	ctx := context.Background()
	list, err := cli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+project))})
	if err != nil || len(list) == 0 {
		b.Fatalf("list %s: %v (%d containers)", project, err, len(list))
	}
	var last time.Time
	for _, c := range list {
		info, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			b.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339Nano, info.State.StartedAt)
		if err != nil {
			b.Fatal(err)
		}
		if at.After(last) {
			last = at
		}
	}
	return last.Sub(start)
}
