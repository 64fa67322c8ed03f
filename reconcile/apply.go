package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// Outcome is what became of one action.
type Outcome string

// Outcomes.
const (
	OutcomeDone    Outcome = "done"
	OutcomeSkipped Outcome = "skipped"
	OutcomeFailed  Outcome = "failed"
)

// ActionResult is the result of one action of a plan.
type ActionResult struct {
	Action   Action
	Outcome  Outcome
	Err      error
	Duration time.Duration
	// RolledBack says the action failed halfway and its rollback ran, so the previous
	// container (if any) is serving again.
	RolledBack bool
}

// String prints the result the way `rasa-gitops apply` shows it.
func (r ActionResult) String() string {
	line := fmt.Sprintf("%s  %s  %s: %s (%s)", r.Action.Target, r.Action.Kind, r.Action.Reason, r.Outcome, r.Duration.Round(time.Millisecond))
	if r.Err != nil {
		line += ": " + r.Err.Error()
		if r.RolledBack && strings.HasPrefix(r.Action.Target, "network:") {
			line += " (rolled back; its containers are connected to the old network again)"
		} else if r.RolledBack {
			line += " (rolled back; the previous container keeps serving)"
		}
	}
	return line
}

// Result is the result of every action of a plan, in plan order.
type Result struct {
	Actions []ActionResult
}

// Err joins the errors of failed actions; nil when every action was done or skipped
// for no fault.
func (r Result) Err() error {
	var errs []error
	for _, a := range r.Actions {
		if a.Outcome == OutcomeFailed {
			errs = append(errs, fmt.Errorf("%s: %w", a.Action.Target, a.Err))
		}
	}
	return errors.Join(errs...)
}

// ApplyOptions tune the executor.
type ApplyOptions struct {
	// HealthTimeout bounds the wait for a new or started container to become healthy
	// (default 60s).
	HealthTimeout time.Duration
	// StableFor is how long a container without a health check (and not a Rasa server)
	// must run without restarting to count as healthy, and how long a container must
	// have served before a side-by-side replace withdraws it (default 3s).
	StableFor time.Duration
	// Progress, when set, is called as each action finishes (never concurrently).
	Progress func(ActionResult)
	// Parallel is how many actions run at once (default DefaultParallel); 1 runs
	// the plan strictly in order.
	Parallel int
	// HTTPClient probes Rasa servers' GET / (default: 2s timeout).
	HTTPClient *http.Client
	// Stop, when done, lets the step in progress finish but starts no further step
	// (SIGTERM); the Engine calls themselves use the run's context.
	Stop context.Context
	// Retire, when set, takes the Retire steps of replaces (stopping and removing an
	// old container that no longer has the service's name) off Apply's critical path:
	// they run in the background, and the caller waits for them with Retire.Wait
	// (after the model stage, say). Unset, Apply runs them before it returns.
	Retire *Retirements
}

// Retirements are the old containers being withdrawn in the background after a run's
// replaces (ApplyOptions.Retire).
type Retirements struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

// Wait waits until every retirement ended and joins their errors: an old container
// that could not be stopped or removed, which the next run removes.
func (r *Retirements) Wait() error {
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}

// DefaultParallel is how many actions Apply runs at once unless told otherwise: the
// Engine's calls are mostly waiting (a start, a stop, a health check), so a few per
// core keep it busy without flooding it.
const DefaultParallel = 4

// Apply runs a plan's actions, one Engine call per step, each action as soon as the
// actions it needs are done, at most opts.Parallel making Engine calls at a time (an
// action waiting for its container's health gives its slot back meanwhile): an action of a service
// waits for the earlier actions of that service and of the services it depends on,
// and a network or volume action waits for every earlier action (and every later one
// for it), as Compose orders them. Independent services are created, replaced and
// waited for side by side, so their health waits overlap instead of adding up.
//
// It makes no decisions: a failed step runs its action's rollback steps, and the
// actions of services that depend on a failed one are skipped. Cancelling ctx stops
// between steps (the current action is rolled back). The Result lists the actions in
// plan order; Progress is called as each finishes, one call at a time.
func Apply(ctx context.Context, engine Engine, desired Desired, plan Plan, opts ApplyOptions) Result {
	opts = withApplyDefaults(opts)
	slots := make(chan struct{}, opts.Parallel)
	x := &executor{engine: engine, desired: desired, opts: opts, slots: slots}
	n := len(plan.Actions)
	results := make([]ActionResult, n)
	done := make([]chan struct{}, n)
	for i := range done {
		done[i] = make(chan struct{})
	}
	needs := prerequisites(plan, desired)
	var mu sync.Mutex // guards failed, results and Progress
	failed := map[string]bool{}
	var wg sync.WaitGroup
	for i, a := range plan.Actions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[i])
			for _, j := range needs[i] {
				<-done[j]
			}
			slots <- struct{}{}
			defer func() { <-slots }()
			mu.Lock()
			depFailed := x.dependsOnFailed(a.Service, failed)
			mu.Unlock()
			r := x.decide(ctx, a, depFailed)
			mu.Lock()
			defer mu.Unlock()
			if r.Outcome != OutcomeDone && a.Service != "" {
				failed[a.Service] = true
			}
			results[i] = r
			if opts.Progress != nil {
				opts.Progress(r)
			}
		}()
	}
	wg.Wait()
	return Result{Actions: results}
}

// withApplyDefaults fills the zero fields of opts.
func withApplyDefaults(opts ApplyOptions) ApplyOptions {
	if opts.HealthTimeout == 0 {
		opts.HealthTimeout = 60 * time.Second
	}
	if opts.StableFor == 0 {
		opts.StableFor = 3 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 2 * time.Second}
	}
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	return opts
}

// decide runs an action, or skips it when the run is stopping or a service it depends
// on failed.
func (x *executor) decide(ctx context.Context, a Action, depFailed bool) ActionResult {
	switch {
	case ctx.Err() != nil:
		return ActionResult{Action: a, Outcome: OutcomeSkipped, Err: fmt.Errorf("not started: %w", ctx.Err())}
	case x.opts.Stop != nil && x.opts.Stop.Err() != nil:
		return ActionResult{Action: a, Outcome: OutcomeSkipped, Err: fmt.Errorf("not started: stopping")}
	case depFailed:
		return ActionResult{Action: a, Outcome: OutcomeSkipped, Err: errors.New("a service it depends on failed")}
	}
	return x.run(ctx, a)
}

// prerequisites lists, for each action, the earlier actions it must wait for: a
// network or volume action (no service) waits for every earlier action since the last
// such one, and is waited for by every later action; a service's action waits for the
// last earlier action of its own service and of each service it depends on.
func prerequisites(plan Plan, desired Desired) [][]int {
	needs := make([][]int, len(plan.Actions))
	barrier := -1
	var since []int // actions after the last barrier
	last := map[string]int{}
	for i, a := range plan.Actions {
		if a.Service == "" {
			needs[i] = append(since, barrier)
			barrier, since = i, nil
			continue
		}
		needs[i] = []int{barrier}
		if j, ok := last[a.Service]; ok {
			needs[i] = append(needs[i], j)
		}
		if svc, ok := desired.Services[a.Service]; ok {
			for dep := range svc.Config.DependsOn {
				if j, ok := last[dep]; ok {
					needs[i] = append(needs[i], j)
				}
			}
		}
		last[a.Service] = i
		since = append(since, i)
	}
	for i := range needs { // -1 stands for "no barrier yet"
		needs[i] = slices.DeleteFunc(needs[i], func(j int) bool { return j < 0 })
	}
	return needs
}

type executor struct {
	engine  Engine
	desired Desired
	opts    ApplyOptions
	// slots bound the actions making Engine calls at once; an action waiting for its
	// container to become healthy gives its slot back meanwhile (nil: no bound).
	slots chan struct{}
	// starts are the slow starts of this run (container ID → when its start ended),
	// which the withdrawal of the container it replaces waits on (waitServed).
	starts sync.Map
}

// slowStart is how long a container start may take before the Engine's DNS has named
// the new container for longer than a client's connection attempt can wait: it names
// it as soon as the start begins, and the container's address answers only once the
// start is done (on this Engine ~0.6 s; 2–3 s under load). A client that resolved it
// meanwhile waits for the kernel's ARP retry (every second), then falls back to the
// other address, the old container's.
const slowStart = time.Second

// waitOutsideSlot runs a wait without holding an Engine slot, so that waits overlap
// freely while Engine calls stay bounded by --parallel. With one slot the plan runs
// strictly in order, waits included.
func (x *executor) waitOutsideSlot(wait func() error) error {
	if cap(x.slots) <= 1 {
		return wait()
	}
	<-x.slots
	defer func() { x.slots <- struct{}{} }()
	return wait()
}

func (x *executor) dependsOnFailed(service string, failed map[string]bool) bool {
	svc, ok := x.desired.Services[service]
	if !ok {
		return false
	}
	for dep := range svc.Config.DependsOn {
		if failed[dep] {
			return true
		}
	}
	return false
}

func (x *executor) run(ctx context.Context, a Action) ActionResult {
	start := time.Now()
	newID := ""
	if x.opts.Retire != nil && (strings.HasPrefix(a.Target, "network:") || strings.HasPrefix(a.Target, "volume:")) {
		// A network or volume an old container still uses cannot be removed: its
		// retirement ends first. (Every earlier action has ended, so no other
		// retirement can begin meanwhile.)
		x.opts.Retire.wg.Wait()
	}
	for i, step := range a.Steps {
		past := a.NoReturn > 0 && i >= a.NoReturn
		stepCtx := ctx
		if past {
			// The old container is gone: finish even if the run is being cancelled.
			stepCtx = context.WithoutCancel(ctx)
		} else if err := ctx.Err(); err != nil {
			return x.fail(a, newID, start, fmt.Errorf("interrupted before %s: %w", step.Op, err))
		} else if x.opts.Stop != nil && x.opts.Stop.Err() != nil {
			return x.fail(a, newID, start, fmt.Errorf("interrupted before %s: stopping", step.Op))
		}
		id, err := x.step(stepCtx, a, step, newID)
		if id != "" {
			newID = id // a container created before a later error must still be rolled back
		}
		if err != nil {
			if past {
				note := "the new container serves; the next run finishes the replace"
				if strings.HasPrefix(a.Target, "network:") {
					note = "the old network is gone; the next run creates it and reconnects its containers"
				}
				return ActionResult{Action: a, Outcome: OutcomeFailed, Duration: time.Since(start),
					Err: fmt.Errorf("%w (%s)", err, note)}
			}
			return x.fail(a, newID, start, err)
		}
	}
	if len(a.Retire) > 0 && x.opts.Retire != nil {
		x.opts.Retire.wg.Add(1)
		go func() {
			defer x.opts.Retire.wg.Done()
			if err := x.retire(ctx, a); err != nil {
				x.opts.Retire.mu.Lock()
				x.opts.Retire.errs = append(x.opts.Retire.errs, fmt.Errorf("%s: %w", a.Target, err))
				x.opts.Retire.mu.Unlock()
			}
		}()
	} else if err := x.retire(ctx, a); err != nil {
		return ActionResult{Action: a, Outcome: OutcomeFailed, Duration: time.Since(start), Err: err}
	}
	return ActionResult{Action: a, Outcome: OutcomeDone, Duration: time.Since(start)}
}

// retireTimeout bounds the withdrawal of one old container (its stop waits up to the
// container's stop timeout, 10 s by default), so a hung Engine call cannot hold the
// run that waits for it forever.
const retireTimeout = 2 * time.Minute

// retire runs an action's Retire steps to the end, even if the run is cancelled:
// the new container already serves under the service's name.
func (x *executor) retire(ctx context.Context, a Action) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), retireTimeout)
	defer cancel()
	for _, step := range a.Retire {
		if _, err := x.step(ctx, a, step, ""); err != nil {
			return fmt.Errorf("%w (the new container serves; the next run removes the old one)", err)
		}
	}
	return nil
}

// fail runs the rollback steps with a fresh bounded context (the run's own may be
// cancelled) and reports the action failed.
func (x *executor) fail(a Action, newID string, start time.Time, err error) ActionResult {
	r := ActionResult{Action: a, Outcome: OutcomeFailed, Err: err}
	if len(a.Rollback) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var rbErrs []error
		for _, step := range a.Rollback {
			if step.Container == SlotNew && newID == "" {
				continue // nothing was created
			}
			_, rbErr := x.step(ctx, a, step, newID)
			if rbErr != nil && (step.Op == OpRemove && cerrdefs.IsNotFound(rbErr) || step.Op == OpConnect && alreadyConnected(rbErr) || step.Op == OpRename && sameName(rbErr)) {
				continue // nothing to undo: already gone, never disconnected, never renamed
			}
			if rbErr != nil {
				rbErrs = append(rbErrs, rbErr)
			}
		}
		r.RolledBack = len(rbErrs) == 0
		if len(rbErrs) > 0 {
			r.Err = fmt.Errorf("%w; rollback failed: %w", err, errors.Join(rbErrs...))
		}
	}
	r.Duration = time.Since(start)
	return r
}

// step performs one Engine call; it returns the ID of a container it created.
func (x *executor) step(ctx context.Context, a Action, s Step, newID string) (string, error) {
	id := s.Container
	if id == SlotNew {
		id = newID
	}
	switch s.Op {
	case OpCreateNetwork:
		return "", x.createNetwork(ctx, s.Name)
	case OpCreateVolume:
		return "", x.createVolume(ctx, s.Name)
	case OpCreate:
		return x.create(ctx, a.Service, s.Name)
	case OpStart:
		began := time.Now()
		if err := x.engine.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
			return "", fmt.Errorf("start %s: %w", short(id), err)
		}
		if time.Since(began) >= slowStart {
			x.starts.Store(id, time.Now())
		}
	case OpStop:
		if err := x.engine.ContainerStop(ctx, id, container.StopOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("stop %s: %w", short(id), err)
		}
	case OpRemove:
		if err := x.engine.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("remove %s: %w", short(id), err)
		}
	case OpRename:
		if err := x.engine.ContainerRename(ctx, id, s.Name); err != nil {
			return "", fmt.Errorf("rename %s to %s: %w", short(id), s.Name, err)
		}
	case OpRemoveNetwork:
		if err := x.engine.NetworkRemove(ctx, id); err != nil && !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("remove network %s: %w", s.Name, err)
		}
	case OpRemoveVolume:
		if err := x.engine.VolumeRemove(ctx, s.Name, false); err != nil && !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("remove volume %s: %w", s.Name, err)
		}
	case OpWaitHealthy:
		return "", x.waitOutsideSlot(func() error { return x.waitHealthy(ctx, id, x.desired.Services[a.Service]) })
	case OpWaitServed:
		return "", x.waitOutsideSlot(func() error { return x.waitServed(ctx, id, newID) })
	case OpConnect:
		service := s.Service
		if service == "" {
			service = a.Service
		}
		return "", x.connect(ctx, service, id, s.Name)
	case OpDisconnect:
		if err := x.engine.NetworkDisconnect(ctx, s.Name, id, true); err != nil && !cerrdefs.IsNotFound(err) && !strings.Contains(err.Error(), "is not connected") {
			return "", fmt.Errorf("disconnect %s from %s: %w", short(id), s.Name, err)
		}
	default:
		return "", fmt.Errorf("unknown step %q", s.Op)
	}
	return "", nil
}

func (x *executor) create(ctx context.Context, service, name string) (string, error) {
	svc, ok := x.desired.Services[service]
	if !ok {
		return "", fmt.Errorf("service %s is not declared", service)
	}
	labels := compose.ContainerLabels(x.desired.Project, svc.Config, 1, compose.Hashes{Own: svc.Hash, Compose: svc.ComposeHash, ImageID: svc.ImageID}, x.desired.Revision)
	cfg, err := containerConfig(x.desired.Project, svc.Config, labels, apiVersionOf(x.engine))
	if err != nil {
		return "", err
	}
	resp, err := x.engine.ContainerCreate(ctx, cfg.Config, cfg.Host, cfg.Networking, cfg.Platform, name)
	// The name may be taken: by a container of ours that the Engine was still creating
	// when an earlier run lost its answer (an Engine restart mid-create), or by someone
	// else's. Ours is removed and the create retried; someone else's is never touched.
	for attempt := 0; err != nil && cerrdefs.IsConflict(err) && attempt < 20; attempt++ {
		rmErr := x.removeOwn(ctx, name)
		if rmErr != nil && !cerrdefs.IsNotFound(rmErr) {
			return "", fmt.Errorf("create %s: %w", name, rmErr)
		}
		if rmErr != nil { // still being created: give the Engine a moment
			select {
			case <-ctx.Done():
				return "", fmt.Errorf("create %s: %w", name, ctx.Err())
			case <-time.After(250 * time.Millisecond):
			}
		}
		resp, err = x.engine.ContainerCreate(ctx, cfg.Config, cfg.Host, cfg.Networking, cfg.Platform, name)
	}
	if err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	for _, n := range cfg.MoreNetworks {
		if err := x.engine.NetworkConnect(ctx, n.Network, resp.ID, n.Endpoint); err != nil {
			return resp.ID, fmt.Errorf("connect %s to %s: %w", name, n.Network, err)
		}
	}
	return resp.ID, nil
}

// connect connects a container to one of its service's networks, with the aliases
// its creation would have given it. A container of a service no longer declared (kept:
// prune off, or frozen) gets the service name as its alias, the one Compose always gives.
func (x *executor) connect(ctx context.Context, service, id, networkName string) error {
	ep := &network.EndpointSettings{Aliases: []string{service}}
	if svc, ok := x.desired.Services[service]; ok {
		cfg, err := containerConfig(x.desired.Project, svc.Config, nil, apiVersionOf(x.engine))
		if err != nil {
			return err
		}
		ep = endpointFor(cfg, networkName)
	} else if service == "" {
		return fmt.Errorf("connect %s to %s: no service", short(id), networkName)
	}
	if err := x.engine.NetworkConnect(ctx, networkName, id, ep); err != nil {
		return fmt.Errorf("connect %s to %s: %w", short(id), networkName, err)
	}
	return nil
}

// sameName says a rename failed because the container has that name already (the
// Engine answers 400 "Renaming a container with the same name as its current name").
func sameName(err error) bool {
	return cerrdefs.IsInvalidArgument(err) && strings.Contains(strings.ToLower(err.Error()), "same name")
}

// alreadyConnected says a connect failed because the container is on the network
// already (the Engine answers 403 "endpoint with name … already exists in network …").
func alreadyConnected(err error) bool {
	return strings.Contains(err.Error(), "already exists")
}

// endpointFor finds the endpoint settings a create config gives one network.
func endpointFor(cfg createConfig, networkName string) *network.EndpointSettings {
	if cfg.Networking != nil {
		if ep, ok := cfg.Networking.EndpointsConfig[networkName]; ok {
			return ep
		}
	}
	for _, n := range cfg.MoreNetworks {
		if n.Network == networkName {
			return n.Endpoint
		}
	}
	return &network.EndpointSettings{}
}

// removeOwn removes the container called name if it is a managed container of this
// project, and refuses otherwise.
func (x *executor) removeOwn(ctx context.Context, name string) error {
	info, err := x.engine.ContainerInspect(ctx, name)
	if err != nil {
		return err
	}
	if info.Config == nil || info.Config.Labels[compose.LabelManaged] != "true" || info.Config.Labels[compose.LabelProject] != x.desired.Project.Name {
		return fmt.Errorf("the name is taken by container %s, which rasa-gitops does not manage: remove or rename it", short(info.ID))
	}
	if err := x.engine.ContainerRemove(ctx, info.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// resourceLabels are the labels of a network or volume: Compose's (so `docker compose`
// knows it), ours (so only we touch it), and the declaration's own.
func resourceLabels(project, keyLabel, key string, own map[string]string) map[string]string {
	labels := map[string]string{compose.LabelProject: project, keyLabel: key, compose.LabelManaged: "true", compose.LabelComposeVersion: compose.ComposeVersion}
	for k, v := range own {
		labels[k] = v
	}
	return labels
}

func (x *executor) createNetwork(ctx context.Context, name string) error {
	p := x.desired.Project
	for key, n := range p.Networks {
		if n.Name != name {
			continue
		}
		// The label holds the hash of exactly what is created here, so a later change
		// of the declaration is seen (MakePlan recreates the network).
		hash, err := compose.NetworkHash(n)
		if err != nil {
			return err
		}
		labels := resourceLabels(p.Name, "com.docker.compose.network", key, n.Labels)
		labels[compose.LabelConfigHash] = hash
		opts := network.CreateOptions{Driver: n.Driver, Options: n.DriverOpts, Labels: labels, Internal: n.Internal, Attachable: n.Attachable,
			EnableIPv4: n.EnableIPv4, EnableIPv6: n.EnableIPv6, IPAM: ipamOf(n.Ipam)}
		_, err = x.engine.NetworkCreate(ctx, name, opts)
		if err != nil {
			if cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "already exists") {
				return nil // created meanwhile, or by plain Compose: use it
			}
			return fmt.Errorf("create network %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("network %s is not declared", name)
}

// ipamOf maps a declared ipam section to the Engine's, as Compose does; nil when none
// is declared (the Engine's default pool).
func ipamOf(c types.IPAMConfig) *network.IPAM {
	if c.Driver == "" && len(c.Config) == 0 && len(c.Options) == 0 {
		return nil
	}
	out := &network.IPAM{Driver: c.Driver, Options: c.Options}
	for _, pool := range c.Config {
		if pool == nil {
			continue
		}
		out.Config = append(out.Config, network.IPAMConfig{Subnet: pool.Subnet, IPRange: pool.IPRange, Gateway: pool.Gateway, AuxAddress: pool.AuxiliaryAddresses})
	}
	return out
}

func (x *executor) createVolume(ctx context.Context, name string) error {
	p := x.desired.Project
	for key, v := range p.Volumes {
		if v.Name != name {
			continue
		}
		hash, err := compose.VolumeHash(v)
		if err != nil {
			return err
		}
		labels := resourceLabels(p.Name, "com.docker.compose.volume", key, v.Labels)
		labels[compose.LabelConfigHash] = hash
		if _, err := x.engine.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: labels}); err != nil {
			return fmt.Errorf("create volume %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("volume %s is not declared", name)
}

// waitHealthy waits until a container is healthy: its Docker health check says so; or,
// for a Rasa server, GET / answers 200; or it has run StableFor without restarting.
// A container that exits, or is not healthy within HealthTimeout, fails the step.
func (x *executor) waitHealthy(ctx context.Context, id string, svc DesiredService) error {
	ctx, cancel := context.WithTimeout(ctx, x.opts.HealthTimeout)
	defer cancel()
	var restarts = -1
	// Poll quickly at first (a server is often listening a few milliseconds after its
	// start returns, and a replace's critical path waits on this), then back off so a
	// slow Rasa server loading a big model costs few Engine calls.
	interval := 5 * time.Millisecond
	for {
		info, err := x.engine.ContainerInspect(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("not healthy within %s", x.opts.HealthTimeout)
			}
			return fmt.Errorf("inspect %s: %w", short(id), err)
		}
		st := info.State
		if restarts < 0 {
			restarts = info.RestartCount
		}
		switch {
		case st == nil:
		case st.Status == container.StateExited && st.ExitCode == 0 && svc.Config.Restart == "no" && svc.HealthPort == 0:
			return nil // a one-shot job that finished
		case st.Status == container.StateExited || st.Status == container.StateDead:
			return fmt.Errorf("container exited with code %d", st.ExitCode)
		case info.RestartCount > restarts:
			return fmt.Errorf("container exited and its restart policy restarted it (%d restarts)", info.RestartCount-restarts)
		case st.Health != nil && st.Health.Status != container.NoHealthcheck:
			if st.Health.Status == container.Healthy {
				return nil
			}
			if st.Health.Status == container.Unhealthy {
				return errors.New("container is unhealthy")
			}
		case svc.HealthPort > 0 && st.Running:
			if x.probe(ctx, info, svc.HealthPort) {
				return nil
			}
		case st.Running:
			started, _ := time.Parse(time.RFC3339Nano, st.StartedAt)
			if !started.IsZero() && time.Since(started) >= x.opts.StableFor {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not healthy within %s", x.opts.HealthTimeout)
		case <-time.After(interval):
		}
		interval = min(interval*3/2, 500*time.Millisecond)
	}
}

// waitServed waits until a running container has run StableFor, before a side-by-side
// replace withdraws it. The Engine's DNS names a container as soon as its endpoint
// exists, a moment before its address answers: a client that resolved it then (its
// ARP request or SYN lost) connects on its retry, a second or two later, and finds it
// gone if it was replaced right after starting — when changes come one after another.
// The same holds for its replacement (next): when its start was slow, the old one also
// serves until StableFor after that start ended, for the clients that resolved the new
// one meanwhile (until its address answered) and fall back to the old one. A container that is not running (or
// that has run long enough) costs no wait.
func (x *executor) waitServed(ctx context.Context, id, next string) error {
	info, err := x.engine.ContainerInspect(ctx, id)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", short(id), err)
	}
	if info.State == nil || !info.State.Running || info.State.Paused {
		return nil
	}
	started, err := time.Parse(time.RFC3339Nano, info.State.StartedAt)
	if err != nil {
		return nil
	}
	left := x.opts.StableFor - time.Since(started)
	if ended, ok := x.starts.Load(next); ok {
		left = max(left, x.opts.StableFor-time.Since(ended.(time.Time)))
	}
	if left <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s to serve %s: %w", short(id), x.opts.StableFor, ctx.Err())
	case <-time.After(left):
		return nil
	}
}

// probe asks a Rasa server for GET / on its container address.
func (x *executor) probe(ctx context.Context, info container.InspectResponse, port int) bool {
	if info.NetworkSettings == nil {
		return false
	}
	for _, ep := range info.NetworkSettings.Networks {
		if ep == nil || ep.IPAddress == "" {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ep.IPAddress+":"+strconv.Itoa(port)+"/", nil)
		if err != nil {
			return false
		}
		resp, err := x.opts.HTTPClient.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return true
		}
	}
	return false
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
