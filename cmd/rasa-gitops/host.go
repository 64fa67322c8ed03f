package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/internal/hostcfg"
	"github.com/rasa-gitops/rasa-gitops/pipeline"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
)

// host is the opened host (hostcfg.Host) with the pipeline wiring of the converging
// commands.
type host struct{ *hostcfg.Host }

// openHost opens the host the flags name, reporting interrupted applies.
func openHost(ctx context.Context, flags *convergeFlags, report func(string)) (host, error) {
	h, err := flags.config().OpenHost(ctx, report)
	return host{h}, err
}

// config is the pipeline configuration every command shares; out, when set, gets
// each action and model status as it happens (apply).
func (h *host) config(flags *convergeFlags, models modelFlags, src pipeline.Source, out io.Writer, log *zap.Logger) pipeline.Config {
	h.Side.Store.MaxSize = int64(models.maxSize)
	hc := flags.config()
	hc.ModelServerListen = models.listen
	cfg := pipeline.Config{
		Source: src, Render: hc.CachedRender(), State: h.State, Engine: h.Engine, Store: h.Side.Store, Tags: h.Side.Tags,
		Run:       flags.runOptions(out, false),
		Loader:    reconcile.LoaderOptions{Nudge: models.nudge, Timeout: models.syncTimeout, Observed: h.Side.Observed},
		Retention: models.retention, Log: log,
	}
	if out != nil {
		cfg.ModelProgress = func(st reconcile.ModelStatus) { fmt.Fprintln(out, st.String()) }
		if isTerminal(out) {
			cfg.ModelWaiting = waitingLine(out, models.syncTimeout)
		}
	}
	return cfg
}

// pipeline is config made into a pipeline.
func (h *host) pipeline(flags *convergeFlags, models modelFlags, src pipeline.Source, out io.Writer, log *zap.Logger) *pipeline.Pipeline {
	return pipeline.New(h.config(flags, models, src, out, log))
}

// waitingLine says, on a terminal, which model load a run is waiting for and how long
// it has waited of the --model-timeout.
func waitingLine(out io.Writer, limit time.Duration) func(env, model string, waited time.Duration) {
	return func(env, model string, waited time.Duration) {
		fmt.Fprintf(out, "waiting for %s to load %s (%d s of %d)…\n", env, model, int(waited.Seconds()), int(limit.Seconds()))
	}
}

// isTerminal reports whether w is a terminal (progress lines are for people; a log
// or a pipe gets only the outcome lines).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
