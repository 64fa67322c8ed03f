package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/rasa-gitops/rasa-gitops/internal/hostcfg"
	"github.com/rasa-gitops/rasa-gitops/pipeline"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// convergeFlags are shared by plan and apply.
type convergeFlags struct {
	declarationFlags
	prune         bool
	healthTimeout time.Duration
	timeout       time.Duration
	parallel      positiveInt
}

func (f *convergeFlags) register(cmd *cobra.Command) {
	f.declarationFlags.register(cmd)
	cmd.Flags().BoolVar(&f.prune, "prune", true, "remove managed containers of services no longer declared")
	cmd.Flags().DurationVar(&f.healthTimeout, "health-timeout", 60*time.Second, "how long a new container may take to become healthy")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Minute, "bound on the whole run")
	f.parallel = reconcile.DefaultParallel
	cmd.Flags().Var(&f.parallel, "parallel", "how many container actions run at once (services without depends_on between them); 1 runs the plan in order")
}

func (f *convergeFlags) runOptions(progress io.Writer, dryRun bool) reconcile.RunOptions {
	opts := reconcile.RunOptions{
		Options:      reconcile.Options{Prune: f.prune},
		ApplyOptions: reconcile.ApplyOptions{HealthTimeout: f.healthTimeout, Parallel: int(f.parallel)},
		Timeout:      f.timeout,
		DryRun:       dryRun,
	}
	if progress != nil {
		opts.Progress = func(r reconcile.ActionResult) { fmt.Fprintln(progress, r.String()) }
	}
	return opts
}

func newPlanCommand() *cobra.Command {
	var flags convergeFlags
	cmd := &cobra.Command{
		Use:   "plan DIR",
		Short: "Print what apply would change on the Docker Engine; exit 2 when there is work",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			engine, err := hostcfg.ConnectEngine(cmd.Context())
			if err != nil {
				return err
			}
			defer engine.Close()
			if converged, _ := flags.config().StillConverged(cmd.Context(), engine, args[0], flags.prune); converged {
				fmt.Fprint(cmd.OutOrStdout(), reconcile.Plan{}.String())
				return nil
			}
			if err := hostcfg.CheckDir(args[0]); err != nil {
				return err
			}
			r, err := flags.config().Render(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			run, err := reconcile.Converge(cmd.Context(), engine, r.Rendered, "", flags.runOptions(nil, true))
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), run.Plan.String())
			if !run.Plan.Empty() {
				return exitCodeError{exitPending}
			}
			return nil
		},
	}
	flags.register(cmd)
	return cmd
}

func newApplyCommand() *cobra.Command {
	var (
		flags    convergeFlags
		models   modelFlags
		revision string
	)
	cmd := &cobra.Command{
		Use:   "apply DIR",
		Short: "Make the Docker Engine run DIR once, printing each action as it happens",
		Long: `apply makes the host run DIR once: it converges the containers (printing each action
with its outcome as it happens), then the models: it fetches missing models into the
store, swaps the tag table, nudges each Rasa server whose model changed or that serves
another model than declared, and waits until every environment is model-synced. While
it waits it serves the model server on --listen, unless another rasa-gitops (serve,
daemon) already does.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, out, dir, cfg := cmd.Context(), cmd.OutOrStdout(), args[0], flags.config()
			if err := hostcfg.CheckDir(dir); err != nil {
				return err
			}
			// The no-op check reads the Engine, the Rasa servers and the snapshot only:
			// it needs neither the state nor its lock (a run holding them has removed
			// the snapshot, so the check answers false and this run waits its turn).
			converged, asked, err := stillConverged(ctx, cfg, dir, flags.prune)
			if err != nil || converged {
				if converged {
					fmt.Fprintln(out, "nothing to do: the host runs", dir)
				}
				return err
			}
			h, err := openHost(ctx, &flags, func(msg string) { fmt.Fprintln(out, msg) })
			if err != nil {
				return err
			}
			defer h.Close()
			release, err := listenUntilSettled(models.listen, h.Side)
			if err != nil {
				return err
			}
			defer release()
			snapshot := cfg.SnapshotPath(dir)
			os.Remove(snapshot) // until this run has fully succeeded
			pc := h.config(&flags, models, cfg.DirSource(dir, revision), out, nil)
			pc.ModelsSettled = func() { go release() }
			p := pipeline.New(pc)
			defer p.Close()
			rep := p.Run(ctx, pipeline.Request{Reasons: []string{"apply"}, Fetch: true, WaitModels: true, Asked: asked})
			if err := applyErr(ctx, rep); err != nil {
				return err
			}
			// Remember the converged state so the next no-op apply needs no render, under
			// the fingerprint taken before the render: a file edited during the run
			// makes the next apply render again, instead of passing for applied.
			if err := reconcile.SaveConverged(snapshot, reconcile.Snapshot(*rep.Desired, rep.Rendered, rep.InputID, h.Side.Tags.FileDigest(), rep.Models)); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "rasa-gitops: warning:", err)
			}
			if rep.Plan.Empty() {
				fmt.Fprintln(out, "containers: nothing to do")
			}
			return nil
		},
	}
	flags.register(cmd)
	models.register(cmd)
	cmd.Flags().StringVar(&revision, "revision", "", "revision to label the containers with, e.g. main@sha1:<hash>")
	return cmd
}

// listenUntilSettled serves the model server on addr for a one-shot run (unless
// another rasa-gitops already does) and returns release, which stops it and closes
// this process's idle connections to the Rasa servers it asked. The run calls it as
// soon as its models are settled (pipeline.Config.ModelsSettled), while the old
// containers of its replaces stop, so the process has little left to close when
// they have: about 35 ms less at the end of a 100-environment apply. Calls after the
// first wait for it and do nothing.
func listenUntilSettled(addr string, side *hostcfg.Side) (release func(), err error) {
	stop, err := hostcfg.ListenModelServer(addr, side)
	if err != nil {
		return nil, err
	}
	return sync.OnceFunc(func() {
		stop()
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			t.CloseIdleConnections() // the questions to the Rasa servers are over
		}
	}), nil
}

// stillConverged is Config.StillConverged on an Engine connection of its own.
func stillConverged(ctx context.Context, cfg hostcfg.Config, dir string, prune bool) (bool, *reconcile.Recorded, error) {
	engine, err := hostcfg.ConnectEngine(ctx)
	if err != nil {
		return false, nil, err
	}
	defer engine.Close()
	converged, asked := cfg.StillConverged(ctx, engine, dir, prune)
	return converged, asked, nil
}

// applyErr is the error a one-shot run ends with, in the order a person should fix
// things: the declaration, the containers, the record, the models.
func applyErr(ctx context.Context, rep pipeline.Report) error {
	switch {
	case rep.RefusalErr() != nil:
		return rep.RefusalErr()
	case rep.SourceErr != nil:
		return rep.SourceErr
	case rep.Err != nil:
		return rep.Err
	case rep.Result.Err() != nil && ctx.Err() != nil:
		return fmt.Errorf("apply interrupted: %w", ctx.Err())
	case rep.Result.Err() != nil:
		return errors.New("some actions failed; the previous containers keep serving where a change failed")
	case rep.RecordErr != nil:
		return rep.RecordErr
	case ctx.Err() != nil:
		return fmt.Errorf("apply interrupted: %w", ctx.Err())
	case rep.ModelsErr() != nil:
		return fmt.Errorf("models: %w", rep.ModelsErr())
	}
	return nil
}

func newDownCommand() *cobra.Command {
	var (
		flags   stateFlags
		volumes bool
	)
	cmd := &cobra.Command{
		Use:   "down DIR",
		Short: "Remove the project's managed containers and networks (volumes only with --volumes)",
		Long: `down removes the project's managed containers and networks (volumes only with
--volumes) and records every environment as Missing in the state directory. It needs
only the project's name, so it works on a declaration that no longer validates.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			project, err := hostcfg.ProjectOf(args[0])
			if err != nil {
				return err
			}
			engine, err := hostcfg.ConnectEngine(cmd.Context())
			if err != nil {
				return err
			}
			defer engine.Close()
			out := cmd.OutOrStdout()
			// The snapshot of the last apply describes what down removes: without it, the
			// next apply looks afresh (and records where the servers are then) even if
			// something else, such as docker compose up, has brought the project back.
			os.Remove(hostcfg.Config{StateDir: flags.stateDir}.SnapshotPath(args[0]))
			st, err := pipeline.OpenState(cmd.Context(), flags.stateDir, func(msg string) { fmt.Fprintln(out, msg) })
			if errors.Is(err, state.ErrInUse) {
				fmt.Fprintln(out, "warning: a daemon or serve holds", flags.stateDir, "and will start the containers again; stop it first")
			} else if err != nil {
				return err
			} else {
				defer st.Close()
			}
			plan, err := pipeline.Down(cmd.Context(), engine, st, project, volumes, func(r reconcile.ActionResult) { fmt.Fprintln(out, r.String()) })
			if plan.Empty() && err == nil {
				fmt.Fprintln(out, "nothing to do: project", project, "has no managed objects")
			}
			return err
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&volumes, "volumes", false, "also remove the project's managed volumes (their data is lost)")
	return cmd
}

// positiveInt is a count flag that must be at least 1.
type positiveInt int

func (p *positiveInt) String() string { return strconv.Itoa(int(*p)) }
func (p *positiveInt) Type() string   { return "int" }

func (p *positiveInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("%q is not a whole number of at least 1", s)
	}
	*p = positiveInt(n)
	return nil
}
