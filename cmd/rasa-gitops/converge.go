package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
)

// convergeFlags are shared by plan and apply.
type convergeFlags struct {
	declarationFlags
	prune         bool
	healthTimeout time.Duration
	timeout       time.Duration
}

func (f *convergeFlags) register(cmd *cobra.Command) {
	f.declarationFlags.register(cmd)
	cmd.Flags().BoolVar(&f.prune, "prune", true, "remove managed containers of services no longer declared")
	cmd.Flags().DurationVar(&f.healthTimeout, "health-timeout", 60*time.Second, "how long a new container may take to become healthy")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Minute, "bound on the whole run")
}

// renderForHost renders DIR with the daemon's real tokens and generated-file directory,
// exactly as the host will run it.
func (f *convergeFlags) renderForHost(ctx context.Context, dir string) (*compose.Rendered, error) {
	d, env, err := f.load(dir)
	if err != nil {
		return nil, err
	}
	tokens := tokenStore{dir: f.stateDir, env: env}
	opts := compose.RenderOptions{GeneratedDir: filepath.Join(f.stateDir, "generated", d.Project)}
	if opts.GeneratedDir, err = filepath.Abs(opts.GeneratedDir); err != nil {
		return nil, err
	}
	if opts.ModelToken, err = tokens.modelToken(); err != nil {
		return nil, err
	}
	if opts.DefaultToken, err = tokens.rasaToken(); err != nil {
		return nil, err
	}
	return compose.Render(ctx, d, opts)
}

func (f *convergeFlags) runOptions(progress io.Writer, dryRun bool) reconcile.RunOptions {
	opts := reconcile.RunOptions{
		Options:      reconcile.Options{Prune: f.prune},
		ApplyOptions: reconcile.ApplyOptions{HealthTimeout: f.healthTimeout},
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
			r, err := flags.renderForHost(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			engine, err := reconcile.NewClient()
			if err != nil {
				return fmt.Errorf("connect to the Docker Engine: %w", err)
			}
			defer engine.Close()
			plan, _, err := reconcile.Converge(cmd.Context(), engine, r, "", flags.runOptions(nil, true))
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), plan.String())
			if !plan.Empty() {
				return exitCodeError{exitPending}
			}
			return nil
		},
	}
	flags.register(cmd)
	return cmd
}

func newApplyCommand() *cobra.Command {
	var flags convergeFlags
	var revision string
	cmd := &cobra.Command{
		Use:   "apply DIR",
		Short: "Make the Docker Engine run DIR once, printing each action as it happens",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := flags.renderForHost(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			engine, err := reconcile.NewClient()
			if err != nil {
				return fmt.Errorf("connect to the Docker Engine: %w", err)
			}
			defer engine.Close()
			out := cmd.OutOrStdout()
			plan, res, err := reconcile.Converge(cmd.Context(), engine, r, revision, flags.runOptions(out, false))
			if err != nil {
				return err
			}
			if plan.Empty() {
				fmt.Fprintln(out, "nothing to do: the host runs", args[0])
				return nil
			}
			if err := res.Err(); err != nil {
				return errors.New("some actions failed; the previous containers keep serving where a change failed")
			}
			return nil
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVar(&revision, "revision", "", "revision to label the containers with, e.g. main@sha1:<hash>")
	return cmd
}

func newDownCommand() *cobra.Command {
	var (
		flags   declarationFlags
		volumes bool
	)
	cmd := &cobra.Command{
		Use:   "down DIR",
		Short: "Remove the project's managed containers and networks (volumes only with --volumes)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, _, err := flags.load(args[0])
			if err != nil {
				return err
			}
			engine, err := reconcile.NewClient()
			if err != nil {
				return fmt.Errorf("connect to the Docker Engine: %w", err)
			}
			defer engine.Close()
			observed, err := reconcile.Observe(cmd.Context(), engine, d.Project)
			if err != nil {
				return err
			}
			plan := reconcile.DownPlan(d.Project, observed, volumes)
			out := cmd.OutOrStdout()
			if plan.Empty() {
				fmt.Fprintln(out, "nothing to do: project", d.Project, "has no managed objects")
				return nil
			}
			res := reconcile.Apply(cmd.Context(), engine, reconcile.Desired{Project: nil}, plan, reconcile.ApplyOptions{
				Progress: func(r reconcile.ActionResult) { fmt.Fprintln(out, r.String()) },
			})
			return res.Err()
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&volumes, "volumes", false, "also remove the project's managed volumes (their data is lost)")
	return cmd
}
