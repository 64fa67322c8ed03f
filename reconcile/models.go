package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
)

// ModelOptions tune a one-shot model convergence (ConvergeModels).
type ModelOptions struct {
	// Nudge asks each Rasa server to load its model at once (PUT /model); without it
	// the server pulls within its interval.
	Nudge bool
	// SyncTimeout bounds the wait until every environment is model-synced (default
	// 60s); a negative value skips the wait.
	SyncTimeout time.Duration
	// HTTPClient talks to the Rasa servers (default: 30s timeout).
	HTTPClient *http.Client
	// Progress, when set, is called when an environment becomes synced or gives up.
	Progress func(ModelStatus)
	// Waiting, when set, is called every WaitEvery (default 5s) while a waited load
	// runs, with the environment, its model and the time waited: a wait of up to a
	// minute is not silent.
	Waiting   func(env, model string, waited time.Duration)
	WaitEvery time.Duration
	// Touched lists environments whose container this run created, recreated or
	// started: its server is asked afresh, and nudged and waited for unless it already
	// serves the declared model (it pulled it when it started).
	Touched map[string]bool
	// Keep lists environments whose tag must not move (a refused or held change):
	// they keep the model they serve.
	Keep map[string]bool
	// Observed: see LoaderOptions.Observed.
	Observed *modelserver.Observed
	// Asked, when set, holds the servers' answers asked while the containers
	// converged (Loader.AskEarly); SyncModels uses them for untouched containers.
	Asked *Asking
}

// ModelStatus is what one environment serves compared with what is declared.
type ModelStatus struct {
	Environment string
	Model       string // declared (or kept); empty: none
	Digest      string
	// Previous is the model the tag named before this run (empty: none).
	Previous string
	// Served is the model file the Rasa server reports it has loaded (GET /status).
	Served   string
	Synced   bool
	Retagged bool // the tag changed in this run
	// FetchFailed says the declared model could not be put in the store: the tag kept
	// the previous model, and Err says why.
	FetchFailed bool
	// Kept says the environment's change was not to be applied (refused, held, or its
	// container change failed): its tag did not move and no load was asked for.
	Kept bool
	// Asked says the Rasa server answered GET /status; Loading that a load of the
	// declared model is still in progress.
	Asked, Loading bool
	// URL is where the Rasa server was asked (its base URL): the next no-op check
	// asks there at once, while it observes the containers.
	URL string
	Err error
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

// RetagModels fetches every declared model into the store and swaps the tag table
// atomically. An environment whose model cannot be fetched keeps its previous tag
// (and says why in its status); the others move on. Environments in keep keep their
// tag. The error is only for a tag table that cannot be written.
func RetagModels(ctx context.Context, store *modelserver.Store, tags *modelserver.Tags, r *compose.Rendered, keep map[string]bool) ([]ModelStatus, error) {
	fetchErr := fetchModels(ctx, store, r, keep)
	old := tags.Snapshot()
	table := modelserver.Table{Project: r.Project.Name, Tags: map[string]modelserver.Tag{}}
	statuses := make([]ModelStatus, 0, len(r.Environments))
	for i, env := range r.Environments {
		before, had := old.Tags[env.Name]
		err, failed := fetchErr[env.Name]
		if keep[env.Name] || failed {
			// The declared change is not applied: the environment keeps its tag.
			env.Model, env.SHA256 = before.Model, before.Digest
			r.Environments[i] = env
		}
		if env.Model != "" {
			table.Tags[env.Name] = modelserver.Tag{Model: env.Model, Digest: env.SHA256}
		}
		retagged := old.Project != r.Project.Name || had != (env.Model != "") || before.Digest != env.SHA256
		statuses = append(statuses, ModelStatus{Environment: env.Name, Model: env.Model, Digest: env.SHA256, Previous: before.Model, Retagged: retagged, FetchFailed: failed, Kept: keep[env.Name], Err: err})
	}
	if old.Project == table.Project && maps.Equal(old.Tags, table.Tags) {
		return statuses, nil // unchanged: no write (a no-change poll costs no fsync)
	}
	if err := tags.Set(table); err != nil {
		return nil, err
	}
	return statuses, nil
}

// fetchModels puts each declared model in the store once; the errors are by
// environment, so a model that cannot be had affects only the environments using it.
func fetchModels(ctx context.Context, store *modelserver.Store, r *compose.Rendered, keep map[string]bool) map[string]error {
	byModel := map[string]error{}
	out := map[string]error{}
	for _, env := range r.Environments {
		if env.Model == "" || keep[env.Name] {
			continue
		}
		err, done := byModel[env.Model]
		if !done {
			m := r.Models[env.Model]
			err = store.Fetch(ctx, m.Name, m.SHA256, m.Source, r.Dir)
			byModel[env.Model] = err
		}
		if err != nil {
			out[env.Name] = err
		}
	}
	return out
}

// LoadRequests are the load requests of a rendered project's environments, by name.
func LoadRequests(r *compose.Rendered) map[string]LoadRequest {
	out := map[string]LoadRequest{}
	for _, env := range r.Environments {
		out[env.Name] = LoadRequest{Project: r.Project.Name, Environment: env, Server: modelServerOf(r, env)}
	}
	return out
}

// ConvergeModels makes every environment serve its declared model and waits for it
// (one-shot: `apply`): SyncModels with a loader of its own.
func ConvergeModels(ctx context.Context, engine Engine, store *modelserver.Store, tags *modelserver.Tags, r *compose.Rendered, opts ModelOptions) ([]ModelStatus, error) {
	loader := NewLoader(engine, LoaderOptions{Nudge: opts.Nudge, Timeout: opts.SyncTimeout, HTTPClient: opts.HTTPClient, Observed: opts.Observed})
	defer loader.Close()
	return SyncModels(ctx, loader, store, tags, r, opts, opts.SyncTimeout >= 0)
}

// SyncModels retags (RetagModels), starts a load for each environment that was
// retagged, asks every Rasa server what it serves, and starts a load for each
// environment whose server reports another model than declared (a container this run
// touched, or a failed load retried by observation, whatever the tag table says, once
// its backoff allows). The loads of retagged environments do not wait for the other
// servers' answers. Answers asked early (opts.Asked) are used for the environments
// whose container the run did not touch; the others are asked now. With wait it waits
// for the loads; otherwise they go on in the background (ModelStatus.Loading) and the
// loader's Done reports them. Retagging never restarts a container.
func SyncModels(ctx context.Context, loader *Loader, store *modelserver.Store, tags *modelserver.Tags, r *compose.Rendered, opts ModelOptions, wait bool) ([]ModelStatus, error) {
	statuses, err := RetagModels(ctx, store, tags, r, opts.Keep)
	if err != nil {
		return statuses, err
	}
	reqs := LoadRequests(r)
	var started []string
	for i := range statuses {
		if st := &statuses[i]; st.Retagged && !opts.Keep[st.Environment] && !st.FetchFailed {
			loader.Start(reqs[st.Environment])
			started = append(started, st.Environment)
			st.Loading = true
		}
	}
	ans := servedNow(ctx, loader, r, opts)
	now := time.Now()
	for i := range statuses {
		st := &statuses[i]
		file, asked := ans.served[st.Environment]
		st.Served, st.Asked, st.URL = file, asked, ans.at[st.Environment]
		switch {
		case st.Loading:
			continue // retagged: started above
		case asked && file == modelFileOf(st.Model):
			st.Synced = st.Err == nil
		case opts.Keep[st.Environment] || st.FetchFailed:
			// Its tag did not move: nothing to load; what it serves is observed.
		case opts.Touched[st.Environment] || loader.RetryDue(st.Environment, now) || loader.Loading(st.Environment):
			loader.Start(reqs[st.Environment])
			started = append(started, st.Environment)
			st.Loading = true
		default:
			if st.Err == nil {
				st.Err = loader.LastError(st.Environment)
			}
		}
		if !asked && st.Err == nil && !st.Loading && !opts.Keep[st.Environment] {
			st.Err = ans.errs[st.Environment]
		}
	}
	if wait {
		stop := reportWaiting(loader, statuses, started, opts)
		settle(ctx, loader, statuses, started)
		stop()
	}
	if opts.Progress != nil {
		for _, st := range statuses {
			opts.Progress(st)
		}
	}
	return statuses, nil
}

// servedNow is what every environment's Rasa server serves: the early answers of
// opts.Asked for containers the run did not touch, and a fresh question to the rest
// (touched, unanswered, or all of them without early answers).
func servedNow(ctx context.Context, loader *Loader, r *compose.Rendered, opts ModelOptions) answers {
	ans := answers{served: map[string]string{}, at: map[string]string{}, errs: map[string]error{}}
	if opts.Asked != nil {
		early, _ := opts.Asked.Wait(ctx)
		for env, file := range early.served {
			if !opts.Touched[env] {
				ans.served[env], ans.at[env] = file, early.at[env]
			}
		}
	}
	var rest []compose.RenderedEnvironment
	for _, env := range r.Environments {
		if _, ok := ans.served[env.Name]; !ok {
			rest = append(rest, env)
		}
	}
	if len(rest) == 0 {
		return ans
	}
	ans.merge(loader.servedModels(ctx, r.Project.Name, rest, loader.listAddresses(ctx, r.Project.Name)))
	return ans
}

// reportWaiting calls opts.Waiting every opts.WaitEvery for each load of started
// still running, until the returned stop is called.
func reportWaiting(loader *Loader, statuses []ModelStatus, started []string, opts ModelOptions) (stop func()) {
	if opts.Waiting == nil || len(started) == 0 {
		return func() {}
	}
	every := opts.WaitEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	model := map[string]string{}
	for _, st := range statuses {
		model[st.Environment] = st.Model
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		begin := time.Now()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				for _, env := range started {
					if loader.Loading(env) {
						opts.Waiting(env, model[env], time.Since(begin))
					}
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// settle waits for the loads of started and writes how each ended into statuses.
func settle(ctx context.Context, loader *Loader, statuses []ModelStatus, started []string) {
	results := map[string]LoadResult{}
	for _, res := range loader.Wait(ctx, started) {
		results[res.Environment] = res
	}
	for i := range statuses {
		st := &statuses[i]
		res, ok := results[st.Environment]
		if !ok {
			continue
		}
		st.Loading = false
		st.Served, st.Asked = res.Served, st.Asked || res.Asked
		if res.URL != "" {
			st.URL = res.URL
		}
		st.Synced = res.Synced && !st.FetchFailed
		if !st.FetchFailed {
			st.Err = res.Err
		}
	}
}

// ModelsErr joins the problems of environments that are not model-synced.
func ModelsErr(statuses []ModelStatus) error {
	var errs []error
	for _, s := range statuses {
		if !s.Synced && !s.Kept {
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
		if ip := firstAddress(info.NetworkSettings.Networks); ip != "" {
			return rasaURL(ip, env.Port), nil
		}
	}
	return "", fmt.Errorf("the Rasa server of %s has no network address", env.Name)
}

// containerAddresses maps the project's running containers (by name) to their IP
// addresses with one container list, so asking 100 Rasa servers what they serve
// costs one Engine call instead of an inspect each. A failed list gives an empty map;
// callers find a server missing from it with rasaAddress.
func containerAddresses(ctx context.Context, engine Engine, project string) map[string]string {
	list, err := engine.ContainerList(ctx, container.ListOptions{Filters: projectFilter(project)})
	if err != nil {
		return nil
	}
	out := make(map[string]string, len(list))
	for _, c := range list {
		if ip := addressOf(c); ip != "" && len(c.Names) > 0 {
			out[strings.TrimPrefix(c.Names[0], "/")] = ip
		}
	}
	return out
}

// askServed asks env's Rasa server what model file it serves: at listedIP (from a
// container list) or, without one, at the address find gives (an inspect).
// It returns the file and the server's base URL.
func askServed(ctx context.Context, client *http.Client, env compose.RenderedEnvironment, listedIP string, find func(context.Context) (string, error)) (file, url string, err error) {
	url = rasaURL(listedIP, env.Port)
	if listedIP == "" {
		if url, err = find(ctx); err != nil {
			return "", "", err
		}
	}
	file, err = modelserver.RasaStatus(ctx, client, url, env.Token)
	return file, url, err
}

// rasaURL is the base URL of a Rasa server at ip.
func rasaURL(ip string, port int) string { return "http://" + ip + ":" + strconv.Itoa(port) }

// firstAddress is a container's IP address on the first of its networks (by name)
// that gave it one.
func firstAddress(networks map[string]*network.EndpointSettings) string {
	for _, n := range slices.Sorted(maps.Keys(networks)) {
		if ep := networks[n]; ep != nil && ep.IPAddress != "" {
			return ep.IPAddress
		}
	}
	return ""
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
