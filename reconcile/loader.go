package reconcile

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
)

// LoaderOptions tune the model loader.
type LoaderOptions struct {
	// Nudge asks a Rasa server to load its model at once (PUT /model); without it the
	// server pulls within its interval and the loader only watches.
	Nudge bool
	// Timeout bounds one load: nudge and wait until GET /status names the model
	// (default 60s).
	Timeout time.Duration
	// HTTPClient talks to the Rasa servers (default: 30s timeout).
	HTTPClient *http.Client
	// Observed, when this process serves the model server, holds the ETag each Rasa
	// server revalidates with: one seen during a load must name the loaded digest.
	Observed *modelserver.Observed
	// Address finds an environment's Rasa server (default: its container's address
	// on the Engine); tests without an Engine point it elsewhere.
	Address func(ctx context.Context, project string, env compose.RenderedEnvironment) (string, error)
	// Done is called when a load ends (not when a newer one superseded it).
	Done func(LoadResult)
	// Backoff is the first delay before a failed load is retried by observation
	// (default 5s), doubling up to MaxBackoff (default 5m).
	Backoff, MaxBackoff time.Duration
}

// LoadRequest asks for one environment's Rasa server to serve its declared model.
type LoadRequest struct {
	Project     string
	Environment compose.RenderedEnvironment
	Server      modelserver.ModelServerConfig
}

// LoadResult is how one load ended.
type LoadResult struct {
	Environment string
	Model       string // declared; empty: none
	Digest      string
	Served      string // the model file the Rasa server reports
	URL         string // where the Rasa server was asked (its base URL)
	Asked       bool   // the Rasa server answered GET /status at least once
	Synced      bool
	Err         error
	Duration    time.Duration
}

// Loader makes Rasa servers load their models, each environment on its own: a load
// runs in the background, a newer request for the same environment cancels and
// supersedes it, and a failed load is retried (with backoff) when the next run
// observes the server serving something else. It never restarts a container.
type Loader struct {
	opts   LoaderOptions
	engine Engine
	// defaultAddress: Rasa servers are found on the Engine (Address was not given).
	defaultAddress bool

	mu    sync.Mutex
	jobs  map[string]*loadJob // running loads
	last  map[string]*loadJob // the newest load of each environment, running or ended
	fails map[string]failure
	wg    sync.WaitGroup
}

type loadJob struct {
	model, digest string
	cancel        context.CancelFunc
	// ended closes when result is set (Result sees it); done once Done has returned
	// too (Wait returns).
	ended, done chan struct{}
	result      LoadResult
}

type failure struct {
	count int
	next  time.Time
	err   error
}

// NewLoader makes a loader that finds Rasa servers on engine.
func NewLoader(engine Engine, opts LoaderOptions) *Loader {
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 5 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	l := &Loader{opts: opts, engine: engine, jobs: map[string]*loadJob{}, last: map[string]*loadJob{}, fails: map[string]failure{}}
	if l.opts.Address == nil {
		l.defaultAddress = true
		l.opts.Address = func(ctx context.Context, project string, env compose.RenderedEnvironment) (string, error) {
			return rasaAddress(ctx, engine, project, env)
		}
	}
	return l
}

// Start begins a load unless one for the same model is already running; a running
// load of another model is cancelled first. It returns at once.
func (l *Loader) Start(req LoadRequest) {
	env := req.Environment
	l.mu.Lock()
	defer l.mu.Unlock()
	if j, ok := l.jobs[env.Name]; ok {
		if j.model == env.Model && j.digest == env.SHA256 {
			return
		}
		j.cancel() // superseded by a newer revision
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	j := &loadJob{model: env.Model, digest: env.SHA256, cancel: cancel, ended: make(chan struct{}), done: make(chan struct{})}
	l.jobs[env.Name] = j
	l.last[env.Name] = j
	l.wg.Add(1)
	go l.run(ctx, j, req)
}

// Loading says whether a load for env is running.
func (l *Loader) Loading(env string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.jobs[env]
	return ok
}

// LastError is why env's last load failed (nil after a success or before any).
func (l *Loader) LastError(env string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fails[env].err
}

// Result is how env's newest load ended; false while it runs or when there was none.
func (l *Loader) Result(env string) (LoadResult, bool) {
	l.mu.Lock()
	j, ok := l.last[env]
	l.mu.Unlock()
	if !ok {
		return LoadResult{}, false
	}
	select {
	case <-j.ended:
		return j.result, true
	default:
		return LoadResult{}, false
	}
}

// RetryDue says whether a failed load of env may be tried again now (always true
// when the last load did not fail).
func (l *Loader) RetryDue(env string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.fails[env]
	return !ok || !now.Before(f.next)
}

// Wait waits for the newest load of each of envs and returns how each ended; an
// environment never loaded is left out.
func (l *Loader) Wait(ctx context.Context, envs []string) []LoadResult {
	var out []LoadResult
	for _, env := range envs {
		l.mu.Lock()
		j, ok := l.last[env]
		l.mu.Unlock()
		if !ok {
			continue
		}
		select {
		case <-j.done: // a finished load is given even under a cancelled ctx
			out = append(out, j.result)
			continue
		default:
		}
		select {
		case <-j.done:
			out = append(out, j.result)
		case <-ctx.Done():
			return out
		}
	}
	return out
}

// Close cancels every load and waits for them to end.
func (l *Loader) Close() {
	l.mu.Lock()
	for _, j := range l.jobs {
		j.cancel()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

func (l *Loader) run(ctx context.Context, j *loadJob, req LoadRequest) {
	defer l.wg.Done()
	defer j.cancel()
	start := time.Now()
	res := l.load(ctx, req)
	res.Duration = time.Since(start)
	j.result = res
	close(j.ended)
	l.mu.Lock()
	current := l.jobs[req.Environment.Name] == j
	if current {
		delete(l.jobs, req.Environment.Name)
		l.recordFailure(req.Environment.Name, res)
	}
	l.mu.Unlock()
	// Done before done: a load Wait reports finished is one already recorded. Result
	// sees it earlier (ended), so a record stage that runs while Done waits for it
	// knows the load ended.
	if current && l.opts.Done != nil {
		l.opts.Done(res)
	}
	close(j.done)
}

// recordFailure keeps the backoff of an environment whose load failed. Callers hold mu.
func (l *Loader) recordFailure(env string, res LoadResult) {
	if res.Synced {
		delete(l.fails, env)
		return
	}
	f := l.fails[env]
	f.count++
	delay := l.opts.Backoff << min(f.count-1, 16)
	f.next, f.err = time.Now().Add(min(delay, l.opts.MaxBackoff)), res.Err
	l.fails[env] = f
}

// load nudges one Rasa server and waits until it reports the declared model.
func (l *Loader) load(ctx context.Context, req LoadRequest) LoadResult {
	env := req.Environment
	res := LoadResult{Environment: env.Name, Model: env.Model, Digest: env.SHA256}
	addr, err := l.opts.Address(ctx, req.Project, env)
	if err != nil {
		res.Err = err
		return res
	}
	res.URL = addr
	start := time.Now()
	interval := 50 * time.Millisecond
	nudged, nudgeErr := !l.opts.Nudge, error(nil)
	for {
		if !nudged {
			nudgeErr = l.nudge(ctx, addr, req)
			nudged = nudgeErr == nil
		}
		served, serr := modelserver.RasaStatus(ctx, l.opts.HTTPClient, addr, env.Token)
		if serr == nil {
			res.Served, res.Asked = served, true
			if served == modelFileOf(env.Model) && !l.revalidatedOther(env, start) {
				res.Synced, res.Err = true, nil
				return res
			}
			if !nudged {
				res.Err = nudgeErr // the server answers, and refused to load the model
				return res
			}
		}
		select {
		case <-ctx.Done():
			res.Err = loadTimeoutErr(ctx, res, nudgeErr, serr, l.opts.Timeout)
			return res
		case <-time.After(interval):
		}
		interval = min(interval*3/2, time.Second)
	}
}

// nudge asks the server to load the declared model now (or to unload, for none).
func (l *Loader) nudge(ctx context.Context, addr string, req LoadRequest) error {
	if req.Environment.Model == "" {
		return modelserver.Unload(ctx, l.opts.HTTPClient, addr, req.Environment.Token)
	}
	return modelserver.Nudge(ctx, l.opts.HTTPClient, addr, req.Environment.Token, req.Server)
}

// revalidatedOther says the Rasa server revalidated with another digest since start:
// a model replaced under the same name is not the declared one.
func (l *Loader) revalidatedOther(env compose.RenderedEnvironment, start time.Time) bool {
	if l.opts.Observed == nil || env.Model == "" {
		return false
	}
	seen, ok := l.opts.Observed.Get(env.Name)
	return ok && seen.At.After(start) && seen.Digest != env.SHA256
}

// loadTimeoutErr says why a load did not finish, in words.
func loadTimeoutErr(ctx context.Context, res LoadResult, nudgeErr, statusErr error, timeout time.Duration) error {
	if context.Cause(ctx) == context.Canceled {
		return fmt.Errorf("cancelled: superseded by a newer revision, or stopping")
	}
	switch {
	case nudgeErr != nil:
		return nudgeErr
	case statusErr != nil:
		return fmt.Errorf("not model-synced within %s: %w", timeout, statusErr)
	case res.Model != "" && res.Served == "":
		return fmt.Errorf("serves no model after %s: the model may have failed to load (see the Rasa server's log)", timeout)
	default:
		return fmt.Errorf("still serves %s after %s: %s may have failed to load (see the Rasa server's log)", orNone(res.Served), timeout, res.Model)
	}
}

// modelFileOf is the file name a Rasa server reports for a model ("" for none).
func modelFileOf(model string) string {
	if model == "" {
		return ""
	}
	return model + ".tar.gz"
}

// ServedModels asks every environment's Rasa server what it serves, concurrently;
// an environment whose server cannot be asked is absent from the answer, with why.
func (l *Loader) ServedModels(ctx context.Context, project string, envs []compose.RenderedEnvironment) (map[string]string, map[string]error) {
	a := l.servedModels(ctx, project, envs, l.listAddresses(ctx, project))
	return a.served, a.errs
}

// answers are what Rasa servers said they serve (served: environment → model file),
// where each answered (at: its base URL), and why the others could not be asked.
type answers struct {
	served, at map[string]string
	errs       map[string]error
}

// merge adds b's answers (and errors) to a, whose maps it needs.
func (a answers) merge(b answers) {
	maps.Copy(a.served, b.served)
	maps.Copy(a.at, b.at)
	maps.Copy(a.errs, b.errs)
}

// askEach asks every environment's Rasa server, concurrently, with ask.
func askEach(ctx context.Context, envs []compose.RenderedEnvironment, ask func(context.Context, compose.RenderedEnvironment) (file, url string, err error)) answers {
	a := answers{served: map[string]string{}, at: map[string]string{}, errs: map[string]error{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, env := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			file, url, err := ask(ctx, env)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				a.errs[env.Name] = err
				return
			}
			a.served[env.Name], a.at[env.Name] = file, url
		}()
	}
	wg.Wait()
	return a
}

// servedModels is ServedModels with the container list's addresses given.
func (l *Loader) servedModels(ctx context.Context, project string, envs []compose.RenderedEnvironment, listed map[string]string) answers {
	return askEach(ctx, envs, func(ctx context.Context, env compose.RenderedEnvironment) (string, string, error) {
		return l.servedModel(ctx, project, env, listed[ContainerName(project, env.Service)])
	})
}

// servedModel asks one Rasa server what it serves, at the address the container
// list gave (listed) or, without one, at the one Address finds.
func (l *Loader) servedModel(ctx context.Context, project string, env compose.RenderedEnvironment, listed string) (file, url string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return askServed(ctx, l.opts.HTTPClient, env, listed, func(ctx context.Context) (string, error) { return l.opts.Address(ctx, project, env) })
}

// listAddresses is containerAddresses when Rasa servers are found on the Engine,
// and empty when Address was given (tests without an Engine): servedModel then
// uses Address.
func (l *Loader) listAddresses(ctx context.Context, project string) map[string]string {
	if !l.defaultAddress {
		return nil
	}
	return containerAddresses(ctx, l.engine, project)
}

// Asking is a question put to every running Rasa server of a project while its
// containers converge, so that the model stage does not wait for a hundred answers
// after the containers are done. Only servers the plan's observation shows running
// are asked (a missing one costs no Engine call here and is asked later), unless the
// loader finds servers with an Address of its caller's.
type Asking struct {
	done    chan struct{}
	answers answers
}

// AskEarly starts asking, in the background, every environment's Rasa server that
// listed (container name → IP, an observation's RunningAddresses) shows running what
// it serves; Asking.Wait gives the answers. An answer of before (may be nil) that the
// listed address confirms is taken instead of asking again.
func (l *Loader) AskEarly(ctx context.Context, project string, envs []compose.RenderedEnvironment, listed map[string]string, before *Recorded) *Asking {
	a := &Asking{done: make(chan struct{})}
	go func() {
		defer close(a.done)
		var rest []compose.RenderedEnvironment
		taken := answers{served: map[string]string{}, at: map[string]string{}, errs: map[string]error{}}
		for _, env := range envs {
			ip := listed[ContainerName(project, env.Service)]
			if !l.defaultAddress {
				rest = append(rest, env) // with an Address of the caller's, each is asked there
			} else if file, ok := before.Confirmed(ctx, env.Name, ip, env.Port); ok {
				taken.served[env.Name], taken.at[env.Name] = file, rasaURL(ip, env.Port)
			} else if ip != "" {
				rest = append(rest, env)
			}
		}
		a.answers = l.servedModels(ctx, project, rest, listed)
		a.answers.merge(taken)
	}()
	return a
}

// Wait gives the answers of the servers that answered; an environment absent from
// them is to be asked again. A cancelled ctx gives none.
func (a *Asking) Wait(ctx context.Context) (answers, bool) {
	select {
	case <-a.done:
		return a.answers, true
	case <-ctx.Done():
		return answers{}, false
	}
}
