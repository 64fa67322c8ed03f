package reconcile

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Desired is what the host should run: the rendered project with every service's
// config hash already computed (see Prepare).
type Desired struct {
	Project *types.Project
	// Services are the project's services by name, with their hashes.
	Services map[string]DesiredService
	// Revision labels new containers (e.g. main@sha1:<hash>); kept out of the hash.
	Revision string
	// NetworkHashes and VolumeHashes are the config hashes (compose.NetworkHash,
	// compose.VolumeHash) of the declared networks and volumes, by their key in the
	// project. A missing hash is unknown: the planner then only creates what is missing.
	NetworkHashes map[string]string
	VolumeHashes  map[string]string
}

// DesiredService is one service to run, with what decides recreation.
type DesiredService struct {
	Config types.ServiceConfig
	Hash   string // compose.ConfigHash over the service, mount digests and image ID
	// ComposeHash is Compose's hash of the service (compose.ComposeServiceHash).
	ComposeHash string
	ImageID     string
	// HealthPort, when non-zero, is the container port whose GET / must answer 200
	// before the container counts as healthy (the Rasa services).
	HealthPort int
}

// Observed is the project's managed objects as the Engine lists them now.
type Observed struct {
	// Containers by service name; a service may have several (leftovers of a crash).
	Containers map[string][]Container
	// Networks and Volumes by their Engine names.
	Networks map[string]Resource
	Volumes  map[string]Resource
}

// Container is one observed managed container.
type Container struct {
	ID   string
	Name string // without the leading /
	// Address is its IP address on the first of its networks (by name) that gave it
	// one: where a Rasa server is asked what it serves, without an inspect.
	Address string
	Service string
	Number  string
	State   string // created, running, paused, restarting, removing, exited, dead
	// ConfigHash is Compose's com.docker.compose.config-hash label; OwnHash is
	// rasa-gitops' own (empty on a container made by docker compose or by a build
	// that kept its hash in Compose's label); ImageID is the image it runs.
	ConfigHash string
	OwnHash    string
	ImageID    string
	Revision   string
	ExitCode   int // of an exited container
	// Networks are the Engine names of the networks it is connected to.
	Networks []string
	// Unhealthy says its Docker health check fails.
	Unhealthy bool
}

// Resource is an observed network or volume.
type Resource struct {
	ID, Name string
	// ConfigHash is its com.docker.compose.config-hash label: empty when an older
	// rasa-gitops (or someone else) created it without one.
	ConfigHash string
	Labels     map[string]string
}

// Options change what the planner may do.
type Options struct {
	// Prune removes managed containers of services no longer declared (default on).
	Prune bool
	// Frozen services keep the container they run: a change refused by the signer
	// policy or held by a change window is not applied (no create, recreate or prune),
	// but a frozen container stopped by hand is still started again.
	Frozen map[string]bool
}

// Kind is what an action does, in one word.
type Kind string

// Action kinds.
const (
	KindCreateNetwork Kind = "create"
	KindCreateVolume  Kind = "create"
	KindCreate        Kind = "create"
	KindRecreate      Kind = "recreate"
	KindStart         Kind = "start"
	KindRemove        Kind = "remove"
	KindRename        Kind = "rename"
	KindConnect       Kind = "connect"
)

// Reasons, in words, as Plan.String prints them.
const (
	ReasonMissing     = "missing"
	ReasonHashChanged = "config hash changed"
	ReasonExited      = "container %s (self-heal)"
	ReasonPrune       = "not declared any more (prune)"
	ReasonDuplicate   = "duplicate container %s"
	ReasonInterrupted = "left over from an interrupted replace"
	ReasonAdopt       = "finish an interrupted replace"
	ReasonDisconnect  = "disconnected from network %s (self-heal)"
	ReasonReconnects  = " (reconnects %s)"
)

// Op is one Engine call (or a health wait) of an action.
type Op string

// Step operations.
const (
	OpCreateNetwork Op = "create-network"
	OpCreateVolume  Op = "create-volume"
	OpCreate        Op = "create-container"
	OpStart         Op = "start"
	OpStop          Op = "stop"
	OpRemove        Op = "remove"
	OpRename        Op = "rename"
	OpWaitHealthy   Op = "wait-healthy"
	OpWaitServed    Op = "wait-served"
	OpRemoveNetwork Op = "remove-network"
	OpRemoveVolume  Op = "remove-volume"
	OpConnect       Op = "connect-network"
	OpDisconnect    Op = "disconnect-network"
)

// Step is one Engine call. Steps that act on a container created earlier in the same
// action refer to it by Slot "new" instead of an ID.
type Step struct {
	Op Op
	// Container is the ID of an existing container, or SlotNew for the one this
	// action creates.
	Container string
	// Name is the container name (create, rename) or network/volume name.
	Name string
	// Service is the service of Container when the action is not that service's own
	// (the connect steps of a network's recreation): its aliases come from there.
	Service string
}

// SlotNew stands for the container an action creates.
const SlotNew = "<new>"

// Action is one change to one target, with the steps that make it and the steps that
// undo a failure halfway (so the previous container keeps serving).
type Action struct {
	Kind    Kind
	Target  string // service:rasa-production, network:demo_default, volume:demo_db
	Service string // for container actions
	Reason  string
	// Before and After describe the change for the audit log: config hashes of the old
	// and new container, or states.
	Before, After string
	Steps         []Step
	Rollback      []Step
	// Retire are the steps that withdraw the old container once the new one serves
	// under the service's name (a side-by-side replace): the action is done before
	// they run, so a run may let them finish beside its model stage
	// (ApplyOptions.Retire); a failure there leaves the old container to the next run.
	Retire []Step
	// NoReturn, when positive, is the number of steps after which the action is past
	// its point of no return (the old container is gone): the rest runs to the end
	// even if the run is cancelled, and a failure there is not rolled back — the new
	// container keeps serving and the next run finishes the job.
	NoReturn int
}

// shortHash abbreviates a config hash for humans.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// Plan is the ordered list of actions that makes observed match desired.
type Plan struct {
	Project string
	Actions []Action
}

// Empty reports whether there is nothing to do.
func (p Plan) Empty() bool { return len(p.Actions) == 0 }

// String prints one line per action: target, kind and reason. It is deterministic, so
// tests compare it and `rasa-gitops plan` prints it.
func (p Plan) String() string {
	if p.Empty() {
		return "nothing to do\n"
	}
	width := 0
	for _, a := range p.Actions {
		width = max(width, len(a.Target))
	}
	var b strings.Builder
	for _, a := range p.Actions {
		fmt.Fprintf(&b, "%-*s  %-8s  %s\n", width, a.Target, a.Kind, a.Reason)
	}
	return b.String()
}

// ContainerName is Compose's name for container number 1 of a service.
func ContainerName(project, service string) string { return project + "-" + service + "-1" }

// nextName is the temporary name of a replacement container while the old one runs.
func nextName(project, service string) string { return ContainerName(project, service) + "-next" }

// oldName is the name a side-by-side replace gives the old container, once the new
// one is healthy, to free the service's name while both still serve.
func oldName(project, service string) string { return ContainerName(project, service) + "-old" }

// MakePlan compares desired with observed. It is pure: the same inputs always give
// the same plan.
func MakePlan(desired Desired, observed Observed, opts Options) Plan {
	p := Plan{Project: desired.Project.Name}
	var changed []string // networks whose configuration changed, by key
	for _, name := range slices.Sorted(maps.Keys(desired.Project.Networks)) {
		n := desired.Project.Networks[name]
		if bool(n.External) {
			continue
		}
		obs, ok := observed.Networks[n.Name]
		if !ok {
			p.Actions = append(p.Actions, Action{Kind: KindCreateNetwork, Target: "network:" + n.Name, Reason: ReasonMissing,
				Steps: []Step{{Op: OpCreateNetwork, Name: n.Name}}})
			continue
		}
		// As docker compose does, a network without a hash label is kept as it is: an
		// older rasa-gitops created it, and what it was created with is not known.
		if want := desired.NetworkHashes[name]; want != "" && obs.ConfigHash != "" && obs.ConfigHash != want {
			changed = append(changed, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(desired.Project.Volumes)) {
		v := desired.Project.Volumes[name]
		if bool(v.External) {
			continue
		}
		if _, ok := observed.Volumes[v.Name]; !ok {
			p.Actions = append(p.Actions, Action{Kind: KindCreateVolume, Target: "volume:" + v.Name, Reason: ReasonMissing,
				Steps: []Step{{Op: OpCreateVolume, Name: v.Name}}})
		}
	}
	// A volume whose configuration changed has no action: Prepare refuses the
	// revision (RefuseChangedVolumes), since recreating a volume deletes its data.
	// Services no longer declared go first: they may hold a host port or a name a
	// new service needs (as Compose removes orphans before it creates).
	pruned := map[string]bool{}
	if opts.Prune {
		for _, name := range slices.Sorted(maps.Keys(observed.Containers)) {
			if _, declared := desired.Services[name]; declared || opts.Frozen[name] {
				continue
			}
			for _, c := range sortedContainers(observed.Containers[name]) {
				p.Actions = append(p.Actions, removeAction(name, c, ReasonPrune))
				pruned[c.ID] = true
			}
		}
	}
	// Changed networks are recreated before the services, so a service created or
	// recreated next lands on the new network.
	for _, key := range changed {
		if a, ok := recreateNetwork(desired, key, observed, pruned, opts.Frozen); ok {
			p.Actions = append(p.Actions, a)
		}
	}
	for _, name := range dependencyOrder(desired.Project) {
		svc := desired.Services[name]
		a, ok := planService(desired.Project, name, svc, observed.Containers[name])
		if !ok {
			continue
		}
		if opts.Frozen[name] {
			a = keepStarts(a)
		}
		p.Actions = append(p.Actions, a...)
	}
	return p
}

// planService decides what one declared service needs.
func planService(p *types.Project, name string, svc DesiredService, containers []Container) ([]Action, bool) {
	current, extras := splitCurrent(ContainerName(p.Name, name), containers)
	var actions []Action
	if current == nil {
		current, extras, actions = adoptInterrupted(p.Name, name, svc, extras)
	}
	next, old := nextName(p.Name, name), oldName(p.Name, name)
	for _, c := range extras {
		reason := fmt.Sprintf(ReasonDuplicate, c.Name)
		if c.Name == next || c.Name == old {
			reason = ReasonInterrupted
		}
		// A replacement left by an interrupted run: if there is no container under the
		// final name, it is removed all the same and the service created afresh.
		actions = append(actions, removeAction(name, c, reason))
	}
	actions = append(actions, currentActions(p, name, svc, current)...)
	return actions, len(actions) > 0
}

// splitCurrent finds the container under the service's final name; every other
// container of the service is an extra.
func splitCurrent(final string, containers []Container) (current *Container, extras []Container) {
	for _, c := range sortedContainers(containers) {
		if c.Name == final && current == nil {
			c := c
			current = &c
			continue
		}
		extras = append(extras, c)
	}
	return current, extras
}

// adoptInterrupted handles a run that died (or a rename that failed) in the middle of
// a side-by-side replace, after the old container was renamed away: a replacement
// that was healthy then serves, so it is kept; failing that, the old container, if it
// still runs, takes its name back (and is replaced as usual if out of date).
func adoptInterrupted(project, name string, svc DesiredService, extras []Container) (*Container, []Container, []Action) {
	final := ContainerName(project, name)
	for _, cand := range []struct {
		name string
		ok   func(Container) bool
	}{
		{nextName(project, name), func(c Container) bool { return upToDate(c, svc) }},
		{oldName(project, name), func(Container) bool { return true }},
	} {
		for i, c := range extras {
			if c.Name == cand.name && c.State == "running" && cand.ok(c) {
				rest := append(extras[:i:i], extras[i+1:]...)
				rename := Action{Kind: KindRename, Target: "service:" + name, Service: name, Reason: ReasonAdopt,
					Before: c.Name, After: final, Steps: []Step{{Op: OpRename, Container: c.ID, Name: final}}}
				return &c, rest, []Action{rename}
			}
		}
	}
	return nil, extras, nil
}

// currentActions brings the service's current container (nil: none) to the desired
// state: create, replace, reconnect, start, or nothing.
func currentActions(p *types.Project, name string, svc DesiredService, current *Container) []Action {
	target := "service:" + name
	// Only an explicit restart: "no" marks a one-shot job; a service without a policy is
	// long-running, and healed when stopped by hand.
	oneShot := svc.Config.Restart == "no"
	switch {
	case current == nil:
		// A container removed by hand and one never created look alike: both are missing.
		create := []Step{{Op: OpCreate, Container: SlotNew, Name: ContainerName(p.Name, name)}, {Op: OpStart, Container: SlotNew}, {Op: OpWaitHealthy, Container: SlotNew}}
		return []Action{{Kind: KindCreate, Target: target, Service: name, Reason: ReasonMissing,
			Before: "(no container)", After: "config " + shortHash(svc.Hash),
			Steps: create, Rollback: []Step{{Op: OpRemove, Container: SlotNew}}}}
	case !upToDate(*current, svc):
		return []Action{replaceAction(p.Name, name, svc, *current)}
	case current.State == "exited" && current.ExitCode == 0 && oneShot:
		return nil // a one-shot job (restart: no) that finished successfully is done, not down
	case current.State == "running":
		return reconnect(p, name, svc, *current)
	}
	state := current.State
	if state == "" {
		state = "stopped"
	}
	switch state {
	case "restarting", "removing":
		return nil // the Engine is already acting on it
	case "paused", "dead":
		// A paused or dead container cannot simply be started: replace it.
		a := replaceAction(p.Name, name, svc, *current)
		a.Reason = fmt.Sprintf(ReasonExited, state)
		return []Action{a}
	}
	return []Action{{Kind: KindStart, Target: target, Service: name, Reason: fmt.Sprintf(ReasonExited, state),
		Before: state, After: "running", Steps: []Step{{Op: OpStart, Container: current.ID}, {Op: OpWaitHealthy, Container: current.ID}}}}
}

// Hash is the container's hash of rasa-gitops when it has one, else Compose's.
func (c Container) Hash() string {
	if c.OwnHash != "" {
		return c.OwnHash
	}
	return c.ConfigHash
}

// upToDate says whether a container runs its service's configuration: by rasa-gitops'
// own hash; or, for a container an older rasa-gitops made, the same hash under
// Compose's label; or, for one `docker compose up` made from the rendered file (no
// hash of ours), Compose's hash and the image ID — it is adopted, not recreated.
func upToDate(c Container, svc DesiredService) bool {
	switch {
	case c.OwnHash != "":
		return c.OwnHash == svc.Hash
	case c.ConfigHash == svc.Hash:
		return true
	default:
		return svc.ComposeHash != "" && c.ConfigHash == svc.ComposeHash && c.ImageID != "" && c.ImageID == svc.ImageID
	}
}

// reconnect connects a running container again to each declared network it was
// disconnected from (docker network disconnect), without restarting it.
func reconnect(p *types.Project, name string, svc DesiredService, c Container) []Action {
	if svc.Config.NetworkMode != "" || c.Networks == nil {
		return nil // not observed (a snapshot), or not on project networks
	}
	on := map[string]bool{}
	for _, n := range c.Networks {
		on[n] = true
	}
	var out []Action
	for _, key := range slices.Sorted(maps.Keys(svc.Config.Networks)) {
		n, ok := p.Networks[key]
		if !ok || on[n.Name] {
			continue
		}
		out = append(out, Action{Kind: KindConnect, Target: "service:" + name, Service: name, Reason: fmt.Sprintf(ReasonDisconnect, n.Name),
			Before: "disconnected", After: "connected to " + n.Name, Steps: []Step{{Op: OpConnect, Container: c.ID, Name: n.Name}}})
	}
	return out
}

// recreateNetwork replaces a network whose configuration changed, as docker compose
// does: every project container attached to it is disconnected, the network removed
// and created again with the new configuration, and each container reconnected with
// the aliases its service gives it — containers keep running (a service whose own
// config changed is recreated by its own action afterwards). A failure before the
// removal reconnects the containers to the old network; once it is removed the rest
// runs to the end, and if it fails the next run creates the missing network and
// reconnects the containers (self-heal). A network that a frozen service uses is left
// as it is: its change waits with the service's.
func recreateNetwork(desired Desired, key string, observed Observed, pruned, frozen map[string]bool) (Action, bool) {
	n := desired.Project.Networks[key]
	obs := observed.Networks[n.Name]
	for name, s := range desired.Services {
		if _, on := s.Config.Networks[key]; on && frozen[name] {
			return Action{}, false
		}
	}
	var attached []Container
	for _, service := range slices.Sorted(maps.Keys(observed.Containers)) {
		for _, c := range sortedContainers(observed.Containers[service]) {
			if pruned[c.ID] || c.State == "removing" || c.State == "dead" || !slices.Contains(c.Networks, n.Name) {
				continue
			}
			if frozen[service] {
				return Action{}, false
			}
			attached = append(attached, c)
		}
	}
	a := Action{Kind: KindRecreate, Target: "network:" + n.Name, Reason: ReasonHashChanged,
		Before: "config " + shortHash(obs.ConfigHash), After: "config " + shortHash(desired.NetworkHashes[key])}
	var names []string
	for _, c := range attached {
		names = append(names, c.Name)
		a.Steps = append(a.Steps, Step{Op: OpDisconnect, Container: c.ID, Name: n.Name})
	}
	if len(names) > 0 {
		a.Reason += fmt.Sprintf(ReasonReconnects, strings.Join(names, ", "))
	}
	a.Steps = append(a.Steps, Step{Op: OpRemoveNetwork, Container: obs.ID, Name: n.Name}, Step{Op: OpCreateNetwork, Name: n.Name})
	a.NoReturn = len(attached) + 1 // from the create on: the old network is gone
	for _, c := range attached {
		connect := Step{Op: OpConnect, Container: c.ID, Name: n.Name, Service: c.Service}
		a.Steps = append(a.Steps, connect)
		a.Rollback = append(a.Rollback, connect)
	}
	return a, true
}

// keepStarts keeps only the self-heal starts of a frozen service's actions.
func keepStarts(actions []Action) []Action {
	var out []Action
	for _, a := range actions {
		if a.Kind == KindStart || a.Kind == KindConnect {
			out = append(out, a)
		}
	}
	return out
}

// replaceAction swaps a container for a new one so that a failure leaves the old one
// serving. Without host ports the new one starts beside the old one (same network
// alias); once it is healthy, and once the old one has served StableFor (wait-served),
// the old one is renamed away and the new one takes the service's name — each rename
// while the other container answers the alias, since the Engine's DNS forgets a
// container's aliases for a moment while it renames it — and only then is the old one
// stopped and removed (an old container that serves nothing, paused or dead, is
// removed first). With host ports the new one is created first, then the old one
// stops and the new one starts at once (the shortest gap the Engine allows), and the
// old one is started again if the new one fails.
func replaceAction(project, name string, svc DesiredService, old Container) Action {
	a := Action{Kind: KindRecreate, Target: "service:" + name, Service: name, Reason: ReasonHashChanged,
		Before: "config " + shortHash(old.Hash()), After: "config " + shortHash(svc.Hash)}
	next := nextName(project, name)
	final := ContainerName(project, name)
	if SideBySide(svc.Config) && old.State == "running" {
		a.Steps = []Step{
			{Op: OpCreate, Container: SlotNew, Name: next},
			{Op: OpStart, Container: SlotNew},
			{Op: OpWaitHealthy, Container: SlotNew},
			{Op: OpWaitServed, Container: old.ID},
			{Op: OpRename, Container: old.ID, Name: oldName(project, name)},
			{Op: OpRename, Container: SlotNew, Name: final},
		}
		a.Retire = []Step{{Op: OpStop, Container: old.ID}, {Op: OpRemove, Container: old.ID}}
		// Until the new container has the name, a failure brings the old one back under
		// its name (a rename to the name it has already is no change).
		a.Rollback = []Step{{Op: OpRemove, Container: SlotNew}, {Op: OpRename, Container: old.ID, Name: final},
			{Op: OpStart, Container: old.ID}, {Op: OpWaitHealthy, Container: old.ID}}
		return a
	}
	// A failure before the old container is removed brings it back.
	a.Rollback = []Step{{Op: OpRemove, Container: SlotNew}, {Op: OpStart, Container: old.ID}, {Op: OpWaitHealthy, Container: old.ID}}
	if SideBySide(svc.Config) {
		// The old container serves nothing (paused, dead, stopped): the new one takes
		// its name once it is gone.
		a.Steps = []Step{
			{Op: OpCreate, Container: SlotNew, Name: next},
			{Op: OpStart, Container: SlotNew},
			{Op: OpWaitHealthy, Container: SlotNew},
			{Op: OpStop, Container: old.ID},
			{Op: OpRemove, Container: old.ID},
			{Op: OpRename, Container: SlotNew, Name: final},
		}
		a.NoReturn = 5
		return a
	}
	// The new container is created (its image and config checked by the Engine) while
	// the old one still serves: between stop and start nothing else happens.
	a.Steps = []Step{
		{Op: OpCreate, Container: SlotNew, Name: next},
		{Op: OpStop, Container: old.ID},
		{Op: OpStart, Container: SlotNew},
		{Op: OpWaitHealthy, Container: SlotNew},
		{Op: OpRemove, Container: old.ID},
		{Op: OpRename, Container: SlotNew, Name: final},
	}
	a.NoReturn = 5
	return a
}

// SideBySide says whether a service's replacement may run beside the old container
// (no downtime): only when two copies cannot conflict — no host ports, no writable
// volume or bind mount (two databases on one data directory corrupt it), no fixed IP.
// Otherwise the old container stops first and is started again if the new one fails.
func SideBySide(s types.ServiceConfig) bool {
	if len(s.Ports) > 0 || s.NetworkMode != "" {
		return false
	}
	for _, v := range s.Volumes {
		if (v.Type == types.VolumeTypeVolume || v.Type == types.VolumeTypeBind) && !v.ReadOnly {
			return false
		}
	}
	for _, n := range s.Networks {
		if n != nil && (n.Ipv4Address != "" || n.Ipv6Address != "") {
			return false
		}
	}
	return true
}

func removeAction(service string, c Container, reason string) Action {
	return Action{Kind: KindRemove, Target: "service:" + service, Service: service, Reason: reason,
		Before: "config " + shortHash(c.Hash()), After: "(no container)",
		Steps: []Step{{Op: OpStop, Container: c.ID}, {Op: OpRemove, Container: c.ID, Name: c.Name}}}
}

// dependencyOrder lists services so that each comes after what it depends_on; ties
// (and cycles, which compose-go already refuses) are broken by name.
func dependencyOrder(p *types.Project) []string {
	names := slices.Sorted(maps.Keys(p.Services))
	done := make(map[string]bool, len(names))
	visiting := map[string]bool{}
	var order []string
	var visit func(string)
	visit = func(n string) {
		if done[n] || visiting[n] {
			return
		}
		visiting[n] = true
		for _, dep := range slices.Sorted(maps.Keys(p.Services[n].DependsOn)) {
			if _, ok := p.Services[dep]; ok {
				visit(dep)
			}
		}
		visiting[n] = false
		done[n] = true
		order = append(order, n)
	}
	for _, n := range names {
		visit(n)
	}
	return order
}

func sortedContainers(cs []Container) []Container {
	out := append([]Container(nil), cs...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// DownPlan removes every managed container of the project, then its networks, and its
// volumes only when asked (they hold data).
func DownPlan(project string, observed Observed, volumes bool) Plan {
	p := Plan{Project: project}
	for _, name := range slices.Sorted(maps.Keys(observed.Containers)) {
		for _, c := range sortedContainers(observed.Containers[name]) {
			p.Actions = append(p.Actions, removeAction(name, c, "down"))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(observed.Networks)) {
		n := observed.Networks[name]
		p.Actions = append(p.Actions, Action{Kind: KindRemove, Target: "network:" + name, Reason: "down",
			Steps: []Step{{Op: OpRemoveNetwork, Container: n.ID, Name: name}}})
	}
	if volumes {
		for _, name := range slices.Sorted(maps.Keys(observed.Volumes)) {
			p.Actions = append(p.Actions, Action{Kind: KindRemove, Target: "volume:" + name, Reason: "down --volumes",
				Steps: []Step{{Op: OpRemoveVolume, Name: name}}})
		}
	}
	return p
}
