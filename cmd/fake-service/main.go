// Command fake-service stands in for the infrastructure images of examples/rasa-x
// (Postgres, RabbitMQ, Redis, Rasa X, the action server, nginx) in tests and
// benchmarks on a machine with no registry: run as a container's process it waits for
// SIGTERM or SIGINT and exits 0; run under the name of one of those images' health
// check commands (pg_isready, rabbitmq-diagnostics, redis-cli) it reports healthy.
// internal/testengine builds it FROM scratch with those names linked to it.
package main

import (
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// HealthCommands are the names under which the binary answers a health check.
var HealthCommands = []string{"pg_isready", "rabbitmq-diagnostics", "redis-cli"}

func main() {
	name := filepath.Base(os.Args[0])
	for _, h := range HealthCommands {
		if name == h {
			return
		}
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
