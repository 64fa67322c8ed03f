package main

import (
	"context"
	"fmt"
	"io"

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
		Source: src, Render: hc.Render, State: h.State, Engine: h.Engine, Store: h.Side.Store, Tags: h.Side.Tags,
		Run:       flags.runOptions(out, false),
		Loader:    reconcile.LoaderOptions{Nudge: models.nudge, Timeout: models.syncTimeout, Observed: h.Side.Observed},
		Retention: models.retention, Log: log,
	}
	if out != nil {
		cfg.ModelProgress = func(st reconcile.ModelStatus) { fmt.Fprintln(out, st.String()) }
	}
	return cfg
}

// pipeline is config made into a pipeline.
func (h *host) pipeline(flags *convergeFlags, models modelFlags, src pipeline.Source, out io.Writer, log *zap.Logger) *pipeline.Pipeline {
	return pipeline.New(h.config(flags, models, src, out, log))
}
