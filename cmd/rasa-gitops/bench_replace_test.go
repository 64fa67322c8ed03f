package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

// outageProbe asks url every 10 ms until stop is closed and returns the longest run
// of failed requests (first failure to the next success).
func outageProbe(url string, stop <-chan struct{}) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	client := &http.Client{Timeout: 500 * time.Millisecond}
	go func() {
		var longest time.Duration
		var down time.Time
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				out <- longest
				return
			case <-tick.C:
			}
			resp, err := client.Get(url)
			ok := err == nil && resp.StatusCode == 200
			if err == nil {
				resp.Body.Close()
			}
			switch {
			case !ok && down.IsZero():
				down = time.Now()
			case ok && !down.IsZero():
				longest = max(longest, time.Since(down))
				down = time.Time{}
			}
		}
	}()
	return out
}

// BenchmarkReplaceOutage measures, in one run, how long a Rasa server published on a
// host port does not answer while its container is replaced for a config change: by
// `rasa-gitops apply` (the new container is created while the old one serves, then
// stop → start) and by `docker compose up -d` of the rendered file (stop, remove,
// create, start), beside the Engine's floor, `docker stop` + `docker start` of the
// same container (as commands, and the outage the probe sees). A probe asks GET /
// every 10 ms; medians of 5.
func BenchmarkReplaceOutage(b *testing.B) {
	compose := testengine.ComposeV2(b)
	cli := testengine.Connect(b)
	testengine.EnsureStubImage(b, cli)
	project := testengine.ProjectName(b)
	testengine.CleanupProject(b, cli, project)
	_, port := testengine.FreeLoopbackPort(b)
	bin := filepath.Join(b.TempDir(), "rasa-gitops")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v %s", err, out)
	}
	dir, state := b.TempDir(), b.TempDir()
	var generation atomic.Int64
	declare := func() {
		writeTree(b, dir, map[string]string{
			"rasa-gitops.yaml":             fmt.Sprintf("version: 1\nproject: %s\nrasa:\n  image: %s\nmodelServer:\n  url: http://127.0.0.1:1\n", project, testengine.StubImage),
			"environments/production.yaml": fmt.Sprintf("publish: 127.0.0.1:%d\nservice:\n  environment: {GENERATION: \"%d\"}\n", port, generation.Add(1)),
		})
	}
	run := func(cmd *exec.Cmd) {
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", cmd.Args, err, out)
		}
	}
	declare()
	run(exec.Command(bin, "apply", dir, "--state-dir", state))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	measure := func(change func()) time.Duration {
		stop := make(chan struct{})
		result := outageProbe(url, stop)
		change()
		// Until the new container answers: the probe's last outage has ended.
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if resp, err := http.Get(url); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
		}
		time.Sleep(50 * time.Millisecond) // one more probe period after it answers
		close(stop)
		return <-result
	}
	container := project + "-rasa-production-1"
	var ours, theirs, floor, floorOutage []time.Duration
	for b.Loop() {
		for i := 0; i < 5; i++ {
			ours = append(ours, measure(func() {
				declare()
				run(exec.Command(bin, "apply", dir, "--state-dir", state))
			}))
			theirs = append(theirs, measure(func() {
				declare()
				rendered, err := exec.Command(bin, "render", dir, "--state-dir", state, "--show-secrets").Output()
				if err != nil {
					b.Fatalf("render: %v", err)
				}
				cmd := exec.Command(compose, "-p", project, "--project-directory", dir, "-f", "-", "up", "-d")
				cmd.Stdin = bytes.NewReader(rendered)
				run(cmd)
			}))
			var took time.Duration
			floorOutage = append(floorOutage, measure(func() {
				start := time.Now()
				run(exec.Command("docker", "stop", container))
				run(exec.Command("docker", "start", container))
				took = time.Since(start)
			}))
			floor = append(floor, took)
		}
	}
	b.ReportMetric(median(ours).Seconds(), "apply-outage-s")
	b.ReportMetric(median(theirs).Seconds(), "compose-outage-s")
	b.ReportMetric(median(floor).Seconds(), "stop+start-commands-s")
	b.ReportMetric(median(floorOutage).Seconds(), "stop+start-outage-s")
}
