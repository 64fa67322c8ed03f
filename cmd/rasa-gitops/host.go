package main

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/client"
	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/pipeline"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// host is what every converging command opens: the state, the Engine and the model
// side (store, tag table, model server handler).
type host struct {
	st     *state.Store
	engine *client.Client
	side   *hostSide
}

// openHost opens the state directory (reporting interrupted applies), the host side
// and the Engine.
func openHost(ctx context.Context, flags *convergeFlags, report func(string)) (*host, error) {
	st, err := pipeline.OpenState(ctx, flags.stateDir, report)
	if err != nil {
		return nil, err
	}
	h := &host{st: st}
	if h.side, err = flags.hostSide(); err != nil {
		h.close()
		return nil, err
	}
	if h.engine, err = connectEngine(); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

func (h *host) close() {
	if h.engine != nil {
		h.engine.Close()
	}
	h.st.Close()
}

// config is the pipeline configuration every command shares; out, when set, gets
// each action and model status as it happens (apply).
func (h *host) config(flags *convergeFlags, models modelFlags, src pipeline.Source, out io.Writer, log *zap.Logger) pipeline.Config {
	cfg := pipeline.Config{
		Source: src, Render: flags.render, State: h.st, Engine: h.engine, Store: h.side.store, Tags: h.side.tags,
		Run:       flags.runOptions(out, false),
		Loader:    reconcile.LoaderOptions{Nudge: models.nudge, Timeout: models.syncTimeout, Observed: h.side.observed},
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

// hostSide opens the model store and tag table with the daemon's tokens.
func (f *convergeFlags) hostSide() (*hostSide, error) {
	env, err := f.environment()
	if err != nil {
		return nil, err
	}
	tokens := tokenStore{dir: f.stateDir, env: env, modelTokenFile: f.modelTokenFile}
	modelToken, err := tokens.modelToken()
	if err != nil {
		return nil, err
	}
	apiToken, err := tokens.apiToken()
	if err != nil {
		return nil, err
	}
	return openHostSide(f.stateDir, modelToken, apiToken)
}
