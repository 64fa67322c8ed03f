package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
)

// ModelOptions tune model convergence.
type ModelOptions struct {
	// Nudge asks each retagged Rasa server to load its model at once (PUT /model);
	// without it the server pulls within its interval.
	Nudge bool
	// SyncTimeout bounds the wait until every environment is model-synced (default
	// 60s); zero wait is not possible, a negative value skips waiting.
	SyncTimeout time.Duration
	// HTTPClient talks to the Rasa servers (default: 30s timeout).
	HTTPClient *http.Client
	// Progress, when set, is called when an environment becomes synced or gives up.
	Progress func(ModelStatus)
	// Touched lists environments whose container this run created, recreated or
	// started: like a retagged one, it is nudged and waited for (a new container
	// may have come up before the model server did).
	Touched map[string]bool
	// Keep lists environments whose tag must not move (a refused or held change):
	// they keep the model they serve.
	Keep map[string]bool
	// Observed, when this process serves the model server, holds the ETag each Rasa
	// server sends back; a revalidation seen during the wait must name the declared
	// digest (a model replaced under the same name is caught this way).
	Observed *modelserver.Observed
}

// ModelStatus is what one environment serves compared with what is declared.
type ModelStatus struct {
	Environment string
	Model       string // declared; empty: none
	Digest      string
	// Previous is the model the tag named before this run (empty: none).
	Previous string
	// Served is the model file the Rasa server reports it has loaded (GET /status).
	Served   string
	Synced   bool
	Retagged bool // the tag changed in this run
	Err      error
}

// String prints the status the way `apply` shows it.
func (s ModelStatus) String() string {
	declared := s.Model
	if declared == "" {
		declared = "(no model)"
	}
	served := s.Served
	if served == "" {
		served = "(none)"
	}
	state := "model-synced"
	if !s.Synced {
		state = "NOT model-synced"
	}
	line := fmt.Sprintf("model:%s  declared %s, serves %s: %s", s.Environment, declared, served, state)
	if s.Err != nil {
		line += ": " + s.Err.Error()
	}
	return line
}

// ConvergeModels makes every environment serve its declared model: it fetches missing
// models into the store (a failure changes nothing), swaps the tag table atomically,
// nudges the Rasa servers whose tag changed, and waits (bounded) until each reports
// the declared model in GET /status. Retagging never restarts a container.
func ConvergeModels(ctx context.Context, engine Engine, store *modelserver.Store, tags *modelserver.Tags, r *compose.Rendered, opts ModelOptions) ([]ModelStatus, error) {
	if opts.SyncTimeout == 0 {
		opts.SyncTimeout = 60 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	// 1. Every declared model must be in the store before anything is retagged.
	for _, env := range r.Environments {
		if env.Model == "" || opts.Keep[env.Name] {
			continue
		}
		m := r.Models[env.Model]
		if err := store.Fetch(ctx, m.Name, m.SHA256, m.Source, r.Dir); err != nil {
			return nil, &NeedsPersonError{err}
		}
	}
	// 2. Swap the tag table.
	old := tags.Snapshot()
	table := modelserver.Table{Project: r.Project.Name, Tags: map[string]modelserver.Tag{}}
	statuses := make([]ModelStatus, 0, len(r.Environments))
	for i, env := range r.Environments {
		before, had := old.Tags[env.Name]
		if opts.Keep[env.Name] {
			// The declared change is not applied: the environment keeps its tag.
			env.Model, env.SHA256 = before.Model, before.Digest
			r.Environments[i] = env
		}
		if env.Model != "" {
			table.Tags[env.Name] = modelserver.Tag{Model: env.Model, Digest: env.SHA256}
		}
		retagged := old.Project != r.Project.Name || had != (env.Model != "") || before.Digest != env.SHA256 || opts.Touched[env.Name]
		statuses = append(statuses, ModelStatus{Environment: env.Name, Model: env.Model, Digest: env.SHA256, Previous: before.Model, Retagged: retagged})
	}
	if err := tags.Set(table); err != nil {
		return nil, err
	}
	if opts.SyncTimeout < 0 {
		return statuses, nil
	}
	// 3. Nudge and wait.
	ctx, cancel := context.WithTimeout(ctx, opts.SyncTimeout)
	defer cancel()
	addrs := map[string]string{}
	for i := range statuses {
		addr, err := rasaAddress(ctx, engine, r.Project.Name, r.Environments[i])
		if err != nil {
			statuses[i].Err = err
			continue
		}
		addrs[statuses[i].Environment] = addr
	}
	// Nudge every retagged server at once: loads run in parallel within the budget.
	waitStart := time.Now()
	var wg sync.WaitGroup
	for i := range statuses {
		st := &statuses[i]
		addr, ok := addrs[st.Environment]
		if !opts.Nudge || !st.Retagged || !ok {
			continue
		}
		env := r.Environments[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if env.Model == "" {
				st.Err = modelserver.Unload(ctx, opts.HTTPClient, addr, env.Token)
				return
			}
			st.Err = modelserver.Nudge(ctx, opts.HTTPClient, addr, env.Token, modelServerOf(r, env))
		}()
	}
	wg.Wait()
	pending := len(statuses)
	interval := 50 * time.Millisecond
	checked := map[string]bool{}
	for pending > 0 {
		pending = 0
		for i := range statuses {
			st := &statuses[i]
			addr, ok := addrs[st.Environment]
			if st.Synced || !ok {
				continue
			}
			// Only a retagged environment is waited for; the others are checked once,
			// so a run that heals one container never waits on another's model.
			if !st.Retagged && checked[st.Environment] {
				continue
			}
			checked[st.Environment] = true
			served, err := modelserver.RasaStatus(ctx, opts.HTTPClient, addr, r.Environments[i].Token)
			if err != nil && !st.Retagged {
				st.Err = err
				continue
			}
			if err == nil {
				st.Served = served
				if st.Model == "" {
					st.Synced = served == ""
				} else {
					st.Synced = served == st.Model+".tar.gz"
				}
				if opts.Observed != nil && st.Synced {
					// Rasa revalidates with the ETag of what it loaded: a newer
					// revalidation naming another digest means another model.
					if seen, ok := opts.Observed.Get(st.Environment); ok && seen.At.After(waitStart) && seen.Digest != st.Digest {
						st.Synced = false
					}
				}
				if st.Synced {
					st.Err = nil
					if opts.Progress != nil {
						opts.Progress(*st)
					}
					continue
				}
			}
			if st.Retagged {
				pending++
			} else if st.Err == nil {
				st.Err = fmt.Errorf("serves %s, not %s", orNone(st.Served), orNone(st.Model))
			}
		}
		if pending == 0 {
			break
		}
		select {
		case <-ctx.Done():
			for i := range statuses {
				st := &statuses[i]
				if !st.Synced && st.Err == nil {
					st.Err = fmt.Errorf("not model-synced within %s", opts.SyncTimeout)
					if st.Model != "" && st.Served == "" {
						st.Err = fmt.Errorf("serves no model after %s: the model may have failed to load (see the Rasa server's log)", opts.SyncTimeout)
					}
				}
				if !st.Synced && opts.Progress != nil {
					opts.Progress(*st)
				}
			}
			return statuses, nil
		case <-time.After(interval):
		}
		interval = min(interval*3/2, time.Second)
	}
	return statuses, nil
}

// ModelsErr joins the problems of environments that are not model-synced.
func ModelsErr(statuses []ModelStatus) error {
	var errs []error
	for _, s := range statuses {
		if !s.Synced {
			err := s.Err
			if err == nil {
				err = errors.New("not model-synced")
			}
			errs = append(errs, fmt.Errorf("environment %s: %w", s.Environment, err))
		}
	}
	return errors.Join(errs...)
}

// InUse lists the digests the rendered environments serve, for the store's GC.
func InUse(r *compose.Rendered) map[string]bool {
	out := map[string]bool{}
	for _, env := range r.Environments {
		if env.SHA256 != "" {
			out[env.SHA256] = true
		}
	}
	return out
}

// modelServerOf is the model server an environment's Rasa server pulls from, as its
// rendered environment says (RASA_MODEL_SERVER, RASA_MODEL_TOKEN, the pull interval).
func modelServerOf(r *compose.Rendered, env compose.RenderedEnvironment) modelserver.ModelServerConfig {
	svc := r.Project.Services[env.Service]
	get := func(k string) string {
		if v := svc.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	wait, _ := strconv.Atoi(get("RASA_MODEL_PULL_INTERVAL"))
	return modelserver.ModelServerConfig{URL: get("RASA_MODEL_SERVER"), Token: get("RASA_MODEL_TOKEN"), WaitTimeBetweenPulls: wait}
}

// rasaAddress is http://<container IP>:<port> of an environment's Rasa server.
func rasaAddress(ctx context.Context, engine Engine, project string, env compose.RenderedEnvironment) (string, error) {
	info, err := engine.ContainerInspect(ctx, ContainerName(project, env.Service))
	if err != nil {
		return "", fmt.Errorf("find the Rasa server of %s: %w", env.Name, err)
	}
	if info.NetworkSettings != nil {
		names := make([]string, 0, len(info.NetworkSettings.Networks))
		for n := range info.NetworkSettings.Networks {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if ep := info.NetworkSettings.Networks[n]; ep != nil && ep.IPAddress != "" {
				return "http://" + ep.IPAddress + ":" + strconv.Itoa(env.Port), nil
			}
		}
	}
	return "", fmt.Errorf("the Rasa server of %s has no network address", env.Name)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Touched lists the environments whose container a run created, recreated or started.
func Touched(r *compose.Rendered, res Result) map[string]bool {
	envOf := map[string]string{}
	for _, env := range r.Environments {
		envOf[env.Service] = env.Name
	}
	out := map[string]bool{}
	for _, a := range res.Actions {
		if env, ok := envOf[a.Action.Service]; ok && a.Action.Kind != KindRemove {
			out[env] = true
		}
	}
	return out
}
