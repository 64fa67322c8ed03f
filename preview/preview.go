package preview

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/pipeline"
	"github.com/rasa-gitops/rasa-gitops/policy"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// Host is what a preview reads: the same parts a pipeline run uses, read only. Policy
// is optional (no policy: every change would be applied).
type Host struct {
	Render pipeline.RenderFunc
	Engine reconcile.Engine
	Store  *modelserver.Store
	Tags   *modelserver.Tags
	State  *state.Store
	Policy *policy.Policy
	// Options are the planner's options of the runs (Prune), so the plan is theirs.
	Options reconcile.Options
	Now     func() time.Time
}

// Verdict is what the policy would decide about one environment's change.
type Verdict string

// Verdicts.
const (
	VerdictApply     Verdict = "apply"     // the change would be applied at once
	VerdictHeld      Verdict = "held"      // a change window holds it until Until
	VerdictRefused   Verdict = "refused"   // not signed by a key the environment allows
	VerdictUnchanged Verdict = "unchanged" // the revision does not change the environment
)

// Environment is the preview of one environment: its model change and its verdict.
type Environment struct {
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	// Until is when a held change's window opens (zero: none within a year).
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason,omitempty"`
	Model  Model     `json:"model"`
	// Removed says the revision drops the environment (its container is pruned).
	Removed bool `json:"removed,omitempty"`
}

// Model is an environment's model change: what it serves now (the tag table) and what
// the revision declares.
type Model struct {
	From       string `json:"from"`
	To         string `json:"to"`
	FromDigest string `json:"from_sha256,omitempty"`
	ToDigest   string `json:"to_sha256,omitempty"`
	Changed    bool   `json:"changed"`
	// Size is the declared model's size in bytes (-1: unknown until it is fetched).
	Size int64 `json:"size"`
	// InStore says the declared model is already in the daemon's model store.
	InStore bool `json:"in_store"`
}

// Action is one planned action, as Plan.String prints it.
type Action struct {
	Target string `json:"target"`
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// Result is a preview: what applying Revision would do on the host now.
type Result struct {
	Revision string `json:"revision"`
	Author   string `json:"author,omitempty"`
	Project  string `json:"project,omitempty"`
	// Valid says the revision loads and renders; Problems say why not.
	Valid    bool     `json:"valid"`
	Problems []string `json:"problems,omitempty"`
	// Plan is what the apply would do to containers, networks and volumes; PlanError
	// why it could not be planned (a changed volume, an Engine that cannot be read).
	Plan         []Action      `json:"plan"`
	PlanError    string        `json:"plan_error,omitempty"`
	Pulls        []string      `json:"pulls,omitempty"`
	Environments []Environment `json:"environments"`
	// ProjectRefused says why the project's own services (compose.files) would be kept
	// as they run: a change to them not signed by a project signer.
	ProjectRefused string    `json:"project_refused,omitempty"`
	At             time.Time `json:"at"`
}

// Run previews the revision in (checked out in in.Dir) against the host as it runs
// now. A revision that does not render is a Result with Valid false, not an error;
// the error is for a host that cannot be read (state).
func Run(ctx context.Context, h Host, in pipeline.Input) (Result, error) {
	if h.Now == nil {
		h.Now = time.Now
	}
	res := Result{Revision: in.Revision, Author: in.Author, At: h.Now().UTC(), Plan: []Action{}, Environments: []Environment{}}
	rd, err := h.Render(ctx, in.Dir)
	if err != nil {
		res.Problems = problems(err)
		return res, nil
	}
	res.Valid, res.Project = true, rd.Rendered.Project.Name
	envs, err := verdicts(ctx, h, in, rd.Rendered)
	if err != nil {
		return res, err
	}
	for i := range envs {
		envs[i].Model = modelChange(h, rd.Rendered, envs[i].Name)
	}
	res.Environments = envs
	res.ProjectRefused = projectVerdict(ctx, h, in, rd.Rendered)
	res.Plan, res.Pulls, res.PlanError = plan(ctx, h, rd.Rendered, in.Revision, envs, res.ProjectRefused != "")
	return res, nil
}

// problems are a refusal's problems, one per line, as validate prints them.
func problems(err error) []string {
	var ps compose.Problems
	if errors.As(err, &ps) {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.String()
		}
		return out
	}
	return []string{err.Error()}
}

// plan is the apply's plan against the Engine now, with held and refused environments
// frozen as the run freezes them. The Engine is wrapped read-only.
func plan(ctx context.Context, h Host, r *compose.Rendered, revision string, envs []Environment, projectFrozen bool) ([]Action, []string, string) {
	engine := NewReadOnly(h.Engine)
	desired, err := reconcile.Prepare(ctx, engine, r, revision)
	if err != nil {
		return []Action{}, engine.Pulls(), "cannot plan: " + err.Error()
	}
	observed, err := reconcile.Observe(ctx, engine, r.Project.Name)
	if err != nil {
		return []Action{}, engine.Pulls(), "cannot plan: " + err.Error()
	}
	opts := h.Options
	opts.Frozen = map[string]bool{}
	for _, e := range envs {
		if e.Verdict == VerdictHeld || e.Verdict == VerdictRefused {
			opts.Frozen[compose.ServiceName(e.Name)] = true
		}
	}
	if projectFrozen {
		opts.Prune = false
		for _, name := range pipeline.ProjectServices(r) {
			opts.Frozen[name] = true
		}
	}
	p := reconcile.MakePlan(desired, observed, opts)
	out := make([]Action, len(p.Actions))
	for i, a := range p.Actions {
		out[i] = Action{Target: a.Target, Kind: string(a.Kind), Reason: a.Reason}
	}
	return out, engine.Pulls(), ""
}

// Summary is the preview in one line, for the audit log and logs.
func (r Result) Summary() string {
	if !r.Valid {
		return fmt.Sprintf("invalid: %d problem(s)", len(r.Problems))
	}
	parts := []string{fmt.Sprintf("%d action(s)", len(r.Plan))}
	for _, e := range r.Environments {
		if e.Verdict != VerdictUnchanged {
			parts = append(parts, e.Name+" "+string(e.Verdict))
		}
	}
	return strings.Join(parts, "; ")
}

// Entry is the audit row of a preview: recorded so that who looked at what before a
// merge is on the record, and never mistaken for a change (action "preview").
func (r Result) Entry() state.Entry {
	outcome := "previewed"
	if !r.Valid {
		outcome = "invalid"
	}
	return state.Entry{Time: r.At, Revision: r.Revision, Author: r.Author, Action: "preview", After: r.Revision, Outcome: outcome, Error: r.Summary()}
}
