package reconcile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/atomicfile"
)

// RunOptions combine the planner's and the executor's options for one run.
type RunOptions struct {
	Options
	ApplyOptions
	// Timeout bounds the whole run (default 10 minutes).
	Timeout time.Duration
	// DryRun stops after planning.
	DryRun bool
	// BeforeApply, when set, runs once a non-empty plan is made and before its first
	// Engine call (the state journal writes the intent here); an error stops the run
	// with nothing changed.
	BeforeApply func(Plan) error
	// Observed, when set, is given the observation the plan is made from as soon as
	// it is taken (the model stage asks the running Rasa servers at its addresses
	// while the plan is applied, without listing the containers again).
	Observed func(Observed)
}

// Run is what one reconcile decided and did.
type Run struct {
	Desired Desired
	Plan    Plan
	Result  Result
	// Observed is what the plan was made from, while it is still what the Engine runs
	// (nil once an action ran).
	Observed *Observed
}

// Converge runs one reconcile: write the generated files, prepare (images, hashes),
// observe, plan and — unless DryRun — apply. An error means nothing was applied; the
// Result carries the outcome of each action otherwise.
func Converge(ctx context.Context, engine Engine, r *compose.Rendered, revision string, opts RunOptions) (Run, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if !opts.DryRun {
		if err := WriteGenerated(r.Files); err != nil {
			return Run{}, err
		}
	}
	desired, err := Prepare(ctx, engine, r, revision)
	if err != nil {
		return Run{}, err
	}
	return planAndApply(ctx, engine, desired, opts)
}

// WriteGenerated writes the files a rendered project mounts but the repository lacks
// (through a temp file and a rename), leaving files whose content is unchanged alone.
func WriteGenerated(files []compose.GeneratedFile) error {
	for _, f := range files {
		if old, err := os.ReadFile(f.Path); err == nil && string(old) == string(f.Content) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			return fmt.Errorf("write generated file: %w", err)
		}
		if err := atomicfile.Write(f.Path, f.Content, 0o644); err != nil {
			return fmt.Errorf("write generated file %s: %w", f.Path, err)
		}
	}
	return nil
}

// ConvergeDesired runs the observe → plan → apply half of Converge on a desired state
// prepared earlier (a run that heals drift without rendering again).
func ConvergeDesired(ctx context.Context, engine Engine, desired Desired, opts RunOptions) (Run, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	return planAndApply(ctx, engine, desired, opts)
}

func planAndApply(ctx context.Context, engine Engine, desired Desired, opts RunOptions) (Run, error) {
	observed, err := Observe(ctx, engine, desired.Project.Name)
	if err != nil {
		return Run{Desired: desired}, err
	}
	if opts.Observed != nil {
		opts.Observed(observed)
	}
	run := Run{Desired: desired, Plan: MakePlan(desired, observed, opts.Options), Observed: &observed}
	if opts.DryRun || run.Plan.Empty() {
		return run, nil
	}
	if opts.BeforeApply != nil {
		if err := opts.BeforeApply(run.Plan); err != nil {
			return run, err
		}
	}
	run.Result = Apply(ctx, engine, desired, run.Plan, opts.ApplyOptions)
	run.Observed = nil // the Engine changed since
	return run, nil
}
