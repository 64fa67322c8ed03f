// Command fake-service stands in for the infrastructure images of examples/rasa-x
// (Postgres, RabbitMQ, Redis, Rasa X, the action server, nginx) in tests and
// benchmarks on a machine with no registry: run as a container's process it waits for
// SIGTERM or SIGINT and exits 0; run under the name of one of those images' health
// check commands (pg_isready, rabbitmq-diagnostics, redis-cli) it reports healthy.
// internal/testengine builds it FROM scratch with those names linked to it.
//
// Run as `fake-service probe URL [URL...]` it is a probe (internal/probe): it starts a
// GET of each URL every 10 ms, without waiting for the last one to end, each request
// on a fresh connection (every address the name resolves to is tried in turn, one
// that does not answer given up after 3 s), until SIGTERM or SIGINT; then it lets the
// requests in flight end (10 s at most: give `docker stop` a longer grace period),
// prints one JSON line to stdout and exits 0:
//
//	{"ok":N,"failed":N,"pending":N,"slow":N,"slowest_ms":N,"errors":[…]}
//
// A request fails without a 2xx answer within 10 s; slow counts the successes that
// took 1 s or more; errors holds the first few failures, each with the addresses the
// name resolved to and how each connection attempt ended. The requests to a URL begun
// before its first success are pending, not failed (stderr says "probe: GET URL
// answered" at that first success). Inside a project's network it asks a service by
// its network alias while the service is replaced; `docker stop -t 30` then `docker
// logs` read the counts.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/probe"
)

// HealthCommands are the names under which the binary answers a health check.
var HealthCommands = []string{"pg_isready", "rabbitmq-diagnostics", "redis-cli"}

// ProbeInterval is how often the probe asks each URL.
const ProbeInterval = 10 * time.Millisecond

func main() {
	name := filepath.Base(os.Args[0])
	for _, h := range HealthCommands {
		if name == h {
			return
		}
	}
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		os.Exit(runProbe(os.Args[2:]))
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}

// runProbe probes urls until SIGTERM or SIGINT and prints the counts as one JSON line.
func runProbe(urls []string) int {
	if len(urls) == 0 {
		fmt.Fprintln(os.Stderr, "usage: fake-service probe URL [URL...]")
		return 2
	}
	targets := make([]probe.Target, len(urls))
	for i, u := range urls {
		targets[i] = probe.Target{URL: u}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	r := probe.Run(ctx, ProbeInterval, targets, func(t probe.Target) {
		fmt.Fprintf(os.Stderr, "probe: %s answered\n", t)
	})
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, "fake-service probe:", err)
		return 1
	}
	return 0
}
