package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// report adds median and p95 of the samples to the benchmark's output.
func report(b *testing.B, samples []time.Duration) {
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(float64(samples[len(samples)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(samples[(len(samples)*95+99)/100-1].Milliseconds()), "p95-ms")
}

// BenchmarkDaemon measures the daemon end to end on the real Engine and a real Git
// remote (git daemon on loopback), 20 samples each:
//   - push → webhook → the changed environment's new container answering GET /;
//   - a model-only change (retag) → the Rasa server serving the new model, no restart;
//   - docker stop / docker rm -f of a managed container → running again.
func BenchmarkDaemon(b *testing.B) {
	const samples = 20
	cli := testengine.Connect(b)
	b.Run("webhook-to-new-container", func(b *testing.B) {
		f := startDaemon(b, "@every 1h", nil, testgit.CommitOptions{})
		f.waitFor("start", func(s map[string]state.EnvStatus) bool { return s["production"].Sync == state.Synced })
		var got []time.Duration
		for b.Loop() {
			got = got[:0]
			for i := 0; i < samples; i++ {
				before := settled(b, cli, f.project+"-rasa-production-1")
				f.files["environments/production.yaml"] = fmt.Sprintf("model: moodbot-v1\nservice:\n  environment:\n    ROUND: \"%d-%d\"\n", b.N, i)
				f.remote.Commit(f.files, testgit.CommitOptions{})
				start := time.Now()
				f.webhook(true)
				waitAnswering(b, cli, f.project+"-rasa-production-1", before)
				got = append(got, time.Since(start))
			}
		}
		report(b, got)
	})
	b.Run("retag-to-model-synced", func(b *testing.B) {
		f := startDaemon(b, "@every 1h", nil, testgit.CommitOptions{})
		f.waitFor("start", func(s map[string]state.EnvStatus) bool { return s["production"].Sync == state.Synced })
		id := containerID(b, cli, f.project+"-rasa-production-1")
		var got []time.Duration
		for b.Loop() {
			got = got[:0]
			for i := 0; i < samples; i++ {
				model := []string{"moodbot-v2", "moodbot-v1"}[i%2]
				f.files["environments/production.yaml"] = "model: " + model + "\n"
				f.remote.Commit(f.files, testgit.CommitOptions{})
				start := time.Now()
				f.webhook(true)
				waitServing(b, cli, f, model+".tar.gz")
				got = append(got, time.Since(start))
			}
		}
		if now := containerID(b, cli, f.project+"-rasa-production-1"); now != id {
			b.Fatal("a retag restarted the container")
		}
		report(b, got)
	})
	for _, how := range []string{"stop", "rm"} {
		b.Run("self-heal-after-"+how, func(b *testing.B) {
			f := startDaemon(b, "@every 1h", nil, testgit.CommitOptions{})
			f.waitFor("start", func(s map[string]state.EnvStatus) bool { return s["production"].Sync == state.Synced })
			name := f.project + "-rasa-production-1"
			var got []time.Duration
			for b.Loop() {
				got = got[:0]
				for i := 0; i < samples; i++ {
					before := containerID(b, cli, name)
					start := time.Now()
					if how == "stop" {
						if err := cli.ContainerStop(context.Background(), name, container.StopOptions{}); err != nil {
							b.Fatal(err)
						}
					} else {
						if err := cli.ContainerRemove(context.Background(), name, container.RemoveOptions{Force: true}); err != nil {
							b.Fatal(err)
						}
						before = ""
					}
					waitRunning(b, cli, name, before, how == "stop")
					got = append(got, time.Since(start))
				}
			}
			report(b, got)
		})
	}
}

// waitAnswering waits until a container of the service other than `before` — the
// replacement, under its temporary or its final name — answers GET /.
func waitAnswering(b *testing.B, cli *client.Client, name, before string) {
	deadline := time.Now().Add(30 * time.Second)
	httpc := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		list, _ := cli.ContainerList(context.Background(), container.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
		for _, c := range list {
			if c.ID == before || c.NetworkSettings == nil {
				continue
			}
			for _, ep := range c.NetworkSettings.Networks {
				if resp, err := httpc.Get("http://" + ep.IPAddress + ":5005/"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						return
					}
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatal("the new container never answered")
}

// settled waits until the previous replace is over (one container of the service,
// under its final name, running) and returns its ID.
func settled(b *testing.B, cli *client.Client, name string) string {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		list, _ := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("name", name))})
		if len(list) == 1 && list[0].State == "running" && list[0].Names[0] == "/"+name {
			return list[0].ID
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatal("the service did not settle")
	return ""
}

// waitServing waits until production's Rasa server reports the model file.
func waitServing(b *testing.B, cli interface {
	ContainerInspect(context.Context, string) (container.InspectResponse, error)
}, f *daemonFixture, file string) {
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	token := strings.TrimSpace(readFile(b, f.state+"/secrets/rasa-token"))
	for time.Now().Before(deadline) {
		info, err := cli.ContainerInspect(context.Background(), f.project+"-rasa-production-1")
		if err == nil {
			for _, ep := range info.NetworkSettings.Networks {
				if resp, err := client.Get("http://" + ep.IPAddress + ":5005/status?token=" + token); err == nil {
					var body strings.Builder
					buf := make([]byte, 512)
					n, _ := resp.Body.Read(buf)
					body.Write(buf[:n])
					resp.Body.Close()
					if strings.Contains(body.String(), `"model_file":"`+file+`"`) {
						return
					}
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatalf("production never served %s", file)
}

// waitRunning waits until the container called name runs again (the same one when
// sameID, a new one otherwise).
func waitRunning(b *testing.B, cli interface {
	ContainerInspect(context.Context, string) (container.InspectResponse, error)
}, name, before string, sameID bool) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		info, err := cli.ContainerInspect(context.Background(), name)
		if err == nil && info.State.Running && (!sameID || info.ID == before) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatal("the container never ran again")
}

func readFile(b testing.TB, p string) string {
	b.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	return string(data)
}
