package reconcile

import (
	"fmt"
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
}

// DesiredService is one service to run, with what decides recreation.
type DesiredService struct {
	Config  types.ServiceConfig
	Hash    string // compose.ConfigHash over the service, mount digests and image ID
	ImageID string
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
	ID         string
	Name       string // without the leading /
	Service    string
	Number     string
	State      string // created, running, paused, restarting, removing, exited, dead
	ConfigHash string
	Revision   string
}

// Resource is an observed network or volume.
type Resource struct {
	ID, Name string
}

// Options change what the planner may do.
type Options struct {
	// Prune removes managed containers of services no longer declared (default on).
	Prune bool
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
)

// Reasons, in words, as Plan.String prints them.
const (
	ReasonMissing     = "missing"
	ReasonHashChanged = "config hash changed"
	ReasonExited      = "container %s (self-heal)"
	ReasonPrune       = "not declared any more (prune)"
	ReasonDuplicate   = "duplicate container %s"
	ReasonInterrupted = "left over from an interrupted replace"
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
	OpRemoveNetwork Op = "remove-network"
	OpRemoveVolume  Op = "remove-volume"
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

// MakePlan compares desired with observed. It is pure: the same inputs always give
// the same plan.
func MakePlan(desired Desired, observed Observed, opts Options) Plan {
	p := Plan{Project: desired.Project.Name}
	for _, name := range sortedKeys(desired.Project.Networks) {
		n := desired.Project.Networks[name]
		if bool(n.External) {
			continue
		}
		if _, ok := observed.Networks[n.Name]; !ok {
			p.Actions = append(p.Actions, Action{Kind: KindCreateNetwork, Target: "network:" + n.Name, Reason: ReasonMissing,
				Steps: []Step{{Op: OpCreateNetwork, Name: n.Name}}})
		}
	}
	for _, name := range sortedKeys(desired.Project.Volumes) {
		v := desired.Project.Volumes[name]
		if bool(v.External) {
			continue
		}
		if _, ok := observed.Volumes[v.Name]; !ok {
			p.Actions = append(p.Actions, Action{Kind: KindCreateVolume, Target: "volume:" + v.Name, Reason: ReasonMissing,
				Steps: []Step{{Op: OpCreateVolume, Name: v.Name}}})
		}
	}
	for _, name := range dependencyOrder(desired.Project) {
		svc := desired.Services[name]
		if a, ok := planService(desired.Project.Name, name, svc, observed.Containers[name]); ok {
			p.Actions = append(p.Actions, a...)
		}
	}
	if opts.Prune {
		for _, name := range sortedKeys(observed.Containers) {
			if _, declared := desired.Services[name]; declared {
				continue
			}
			for _, c := range sortedContainers(observed.Containers[name]) {
				p.Actions = append(p.Actions, removeAction(name, c, ReasonPrune))
			}
		}
	}
	return p
}

// planService decides what one declared service needs.
func planService(project, name string, svc DesiredService, containers []Container) ([]Action, bool) {
	target := "service:" + name
	final := ContainerName(project, name)
	var current *Container
	var extras []Container
	for _, c := range sortedContainers(containers) {
		switch {
		case c.Name == final && current == nil:
			c := c
			current = &c
		default:
			extras = append(extras, c)
		}
	}
	var actions []Action
	for _, c := range extras {
		reason := fmt.Sprintf(ReasonDuplicate, c.Name)
		if c.Name == nextName(project, name) {
			reason = ReasonInterrupted
		}
		// A replacement left by an interrupted run: if there is no container under the
		// final name, it is removed all the same and the service created afresh.
		actions = append(actions, removeAction(name, c, reason))
	}
	create := []Step{{Op: OpCreate, Container: SlotNew, Name: final}, {Op: OpStart, Container: SlotNew}, {Op: OpWaitHealthy, Container: SlotNew}}
	switch {
	case current == nil:
		// A container removed by hand and one never created look alike: both are missing.
		actions = append(actions, Action{Kind: KindCreate, Target: target, Service: name, Reason: ReasonMissing,
			Before: "(no container)", After: "config " + shortHash(svc.Hash),
			Steps: create, Rollback: []Step{{Op: OpRemove, Container: SlotNew}}})
	case current.ConfigHash != svc.Hash:
		actions = append(actions, replaceAction(project, name, svc, *current))
	case current.State != "running":
		state := current.State
		if state == "" {
			state = "stopped"
		}
		if state == "restarting" || state == "removing" {
			return actions, len(actions) > 0 // the Engine is already acting on it
		}
		steps := []Step{{Op: OpStart, Container: current.ID}, {Op: OpWaitHealthy, Container: current.ID}}
		if state == "paused" || state == "dead" {
			// A paused or dead container cannot simply be started: replace it.
			a := replaceAction(project, name, svc, *current)
			a.Reason = fmt.Sprintf(ReasonExited, state)
			return append(actions, a), true
		}
		actions = append(actions, Action{Kind: KindStart, Target: target, Service: name, Reason: fmt.Sprintf(ReasonExited, state),
			Before: state, After: "running", Steps: steps})
	}
	return actions, len(actions) > 0
}

// replaceAction swaps a container for a new one so that a failure leaves the old one
// serving. Without host ports the new one starts beside the old one (same network
// alias) and the old one is removed once the new one is healthy; with host ports the
// old one must stop first, and is started again if the new one fails.
func replaceAction(project, name string, svc DesiredService, old Container) Action {
	a := Action{Kind: KindRecreate, Target: "service:" + name, Service: name, Reason: ReasonHashChanged,
		Before: "config " + shortHash(old.ConfigHash), After: "config " + shortHash(svc.Hash)}
	next := nextName(project, name)
	final := ContainerName(project, name)
	if len(svc.Config.Ports) == 0 {
		a.Steps = []Step{
			{Op: OpCreate, Container: SlotNew, Name: next},
			{Op: OpStart, Container: SlotNew},
			{Op: OpWaitHealthy, Container: SlotNew},
			{Op: OpStop, Container: old.ID},
			{Op: OpRemove, Container: old.ID},
			{Op: OpRename, Container: SlotNew, Name: final},
		}
		a.Rollback = []Step{{Op: OpRemove, Container: SlotNew}}
		return a
	}
	a.Steps = []Step{
		{Op: OpStop, Container: old.ID},
		{Op: OpCreate, Container: SlotNew, Name: next},
		{Op: OpStart, Container: SlotNew},
		{Op: OpWaitHealthy, Container: SlotNew},
		{Op: OpRemove, Container: old.ID},
		{Op: OpRename, Container: SlotNew, Name: final},
	}
	a.Rollback = []Step{{Op: OpRemove, Container: SlotNew}, {Op: OpStart, Container: old.ID}, {Op: OpWaitHealthy, Container: old.ID}}
	return a
}

func removeAction(service string, c Container, reason string) Action {
	return Action{Kind: KindRemove, Target: "service:" + service, Service: service, Reason: reason,
		Before: "config " + shortHash(c.ConfigHash), After: "(no container)",
		Steps: []Step{{Op: OpStop, Container: c.ID}, {Op: OpRemove, Container: c.ID, Name: c.Name}}}
}

// dependencyOrder lists services so that each comes after what it depends_on; ties
// (and cycles, which compose-go already refuses) are broken by name.
func dependencyOrder(p *types.Project) []string {
	names := sortedKeys(p.Services)
	done := make(map[string]bool, len(names))
	visiting := map[string]bool{}
	var order []string
	var visit func(string)
	visit = func(n string) {
		if done[n] || visiting[n] {
			return
		}
		visiting[n] = true
		for _, dep := range sortedKeys(p.Services[n].DependsOn) {
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
	for _, name := range sortedKeys(observed.Containers) {
		for _, c := range sortedContainers(observed.Containers[name]) {
			p.Actions = append(p.Actions, removeAction(name, c, "down"))
		}
	}
	for _, name := range sortedKeys(observed.Networks) {
		n := observed.Networks[name]
		p.Actions = append(p.Actions, Action{Kind: KindRemove, Target: "network:" + name, Reason: "down",
			Steps: []Step{{Op: OpRemoveNetwork, Container: n.ID, Name: name}}})
	}
	if volumes {
		for _, name := range sortedKeys(observed.Volumes) {
			p.Actions = append(p.Actions, Action{Kind: KindRemove, Target: "volume:" + name, Reason: "down --volumes",
				Steps: []Step{{Op: OpRemoveVolume, Name: name}}})
		}
	}
	return p
}
