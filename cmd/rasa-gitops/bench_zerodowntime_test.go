package main

import (
	"testing"

	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

// reportPhase reports a phase's counts as metrics named after the tool.
func reportPhase(b *testing.B, tool string, p zdPhase) {
	b.Logf("%s: %s", tool, p)
	b.ReportMetric(float64(p.Failed), tool+"-failed-requests")
	b.ReportMetric(float64(p.Requests()), tool+"-requests")
	b.ReportMetric(float64(p.Slow), tool+"-slow-requests")
	b.ReportMetric(float64(p.SlowestMS), tool+"-slowest-ms")
	b.ReportMetric(float64(p.Restarts), tool+"-container-restarts")
	b.ReportMetric(p.Took.Seconds(), tool+"-changes-s")
}

// BenchmarkZeroDowntimeSideBySide counts, in one run, the requests that fail while a
// Rasa server without host ports gets 20 config changes one after another: a probe in
// the project's network (cmd/fake-service in probe mode, a service of the same
// project) asks GET / through the network alias every 10 ms, each request on a fresh
// connection, while `rasa-gitops apply` replaces the server side by side 20 times;
// then while `docker compose up -d` of the rendered file recreates it 20 times (stop,
// then create and start). A request fails without a 2xx answer within 10 s; slow ones
// took 1 s or more.
func BenchmarkZeroDowntimeSideBySide(b *testing.B) {
	compose := testengine.ComposeV2(b)
	var ours, theirs zdPhase
	for b.Loop() {
		ours, theirs = sideBySide(b, 20, compose)
	}
	reportPhase(b, "apply", ours)
	reportPhase(b, "compose", theirs)
}

// BenchmarkZeroDowntimePromotion counts, in one run, the requests that fail while a
// Rasa server published on a loopback port is promoted 20 times (moodbot-v1 ↔
// moodbot-v2, each a one-line change applied with `rasa-gitops apply`, which waits
// until the model is loaded): the host asks GET /status and POST /model/parse every
// 10 ms each, on fresh connections; the container must stay the same. Compose has no
// promotion: a Compose user recreates the server with the new model (an environment
// variable naming it changes; `docker compose up -d`; the new container pulls the
// model at start from a model server the benchmark runs), 20 times, each time until
// the new container serves the new model.
func BenchmarkZeroDowntimePromotion(b *testing.B) {
	compose := testengine.ComposeV2(b)
	var ours, theirs zdPhase
	for b.Loop() {
		ours, theirs = promotion(b, 20, compose)
	}
	reportPhase(b, "apply", ours)
	reportPhase(b, "compose", theirs)
}
