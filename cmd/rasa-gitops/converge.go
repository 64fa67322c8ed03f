package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/docker/client"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/daemon"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
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

// hostRender is a declaration rendered exactly as the host will run it, with the
// fingerprint of its inputs.
type hostRender struct {
	decl        *compose.Declaration
	opts        compose.RenderOptions
	rendered    *compose.Rendered
	fingerprint string
	// converged is where the snapshot of the last full apply of DIR is kept.
	converged string
}

// renderInputs loads the environment and the daemon's secrets for DIR, and fingerprints
// them with the repository, without parsing anything yet.
func (f *convergeFlags) renderInputs(dir string) (map[string]string, compose.RenderOptions, hostRender, error) {
	var h hostRender
	if err := checkDir(dir); err != nil {
		return nil, compose.RenderOptions{}, h, err
	}
	env, err := f.environment()
	if err != nil {
		return nil, compose.RenderOptions{}, h, err
	}
	tokens := tokenStore{dir: f.stateDir, env: env, modelTokenFile: f.modelTokenFile}
	var opts compose.RenderOptions
	if opts.ModelToken, err = tokens.modelToken(); err != nil {
		return nil, opts, h, err
	}
	if opts.DefaultToken, err = tokens.rasaToken(); err != nil {
		return nil, opts, h, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, opts, h, err
	}
	state, err := filepath.Abs(f.stateDir)
	if err != nil {
		return nil, opts, h, err
	}
	sum := sha256.Sum256([]byte(abs))
	h.converged = filepath.Join(state, "converged", hex.EncodeToString(sum[:8])+".json")
	// The generated directory depends on the project name, which is only known after
	// parsing; the fingerprint covers the state directory instead.
	fpOpts := opts
	fpOpts.GeneratedDir = state
	if h.fingerprint, err = compose.Fingerprint(dir, env, fpOpts, version); err != nil {
		return nil, opts, h, err
	}
	opts.GeneratedDir = filepath.Join(state, "generated")
	return env, opts, h, nil
}

// renderForHost renders DIR with the daemon's real tokens and generated-file directory.
func (f *convergeFlags) renderForHost(ctx context.Context, dir string) (hostRender, error) {
	env, opts, h, err := f.renderInputs(dir)
	if err != nil {
		return h, err
	}
	d, err := compose.Load(dir, compose.LoadOptions{Env: env})
	if err != nil {
		return h, err
	}
	opts.GeneratedDir = filepath.Join(opts.GeneratedDir, d.Project)
	h.decl, h.opts = d, opts
	h.rendered, err = compose.Render(ctx, d, opts)
	return h, err
}

// hostSide opens the model store and tag table with the daemon's tokens.
func (f *convergeFlags) hostSide() (*hostSide, error) {
	env, err := f.environment()
	if err != nil {
		return nil, err
	}
	tokens := tokenStore{dir: f.stateDir, env: env, modelTokenFile: f.modelTokenFile}
	modelToken, err := tokens.modelToken()
	if err != nil {
		return nil, err
	}
	apiToken, err := tokens.apiToken()
	if err != nil {
		return nil, err
	}
	return openHostSide(f.stateDir, modelToken, apiToken)
}

// stillConverged answers whether the host still runs DIR as last applied, without
// rendering: same inputs (fingerprint), same image IDs, and nothing for the planner.
func (f *convergeFlags) stillConverged(ctx context.Context, engine reconcile.Engine, dir string) bool {
	_, _, h, err := f.renderInputs(dir)
	if err != nil {
		return false
	}
	c, ok := reconcile.LoadConverged(h.converged)
	if !ok || c.Fingerprint != h.fingerprint {
		return false
	}
	tags, err := modelserver.OpenTags(f.stateDir)
	if err != nil {
		return false
	}
	return reconcile.StillConverged(ctx, engine, c, reconcile.Options{Prune: f.prune}, tags.FileDigest(), &http.Client{Timeout: 5 * time.Second})
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
			engine, err := connectEngine()
			if err != nil {
				return err
			}
			defer engine.Close()
			if flags.stillConverged(cmd.Context(), engine, args[0]) {
				fmt.Fprint(cmd.OutOrStdout(), reconcile.Plan{}.String())
				return nil
			}
			h, err := flags.renderForHost(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			run, err := reconcile.Converge(cmd.Context(), engine, h.rendered, "", flags.runOptions(nil, true))
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
store, swaps the tag table, nudges each retagged Rasa server and waits until every
environment is model-synced. While it waits it serves the model server on --listen,
unless another rasa-gitops (serve, daemon) already does.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			if err := checkDir(args[0]); err != nil {
				return err
			}
			st, err := daemon.OpenState(ctx, flags.stateDir, func(msg string) { fmt.Fprintln(out, msg) })
			if err != nil {
				return err
			}
			defer st.Close()
			engine, err := connectEngine()
			if err != nil {
				return err
			}
			defer engine.Close()
			if flags.stillConverged(ctx, engine, args[0]) {
				fmt.Fprintln(out, "nothing to do: the host runs", args[0])
				return nil
			}
			h, err := flags.renderForHost(ctx, args[0])
			if err != nil {
				var problems compose.Problems
				if errors.As(err, &problems) {
					// The refusal is audited; the last applied state keeps running.
					_ = st.Record(ctx, state.Entry{Revision: revision, Author: daemon.LocalAuthor(), Action: "validate", Outcome: "refused", Error: problems.Error()})
				}
				return err
			}
			os.Remove(h.converged) // until this run has fully succeeded
			rev := revision
			if rev == "" {
				rev = "local@sha256:" + h.fingerprint[:12]
			}
			rec := daemon.NewRecorder(st, h.decl, h.rendered, h.opts, rev, "", "")
			opts := flags.runOptions(out, false)
			opts.BeforeApply = func(p reconcile.Plan) error { return rec.Begin(ctx, p) }
			run, err := reconcile.Converge(ctx, engine, h.rendered, rev, opts)
			if err != nil {
				if rerr := rec.Finish(ctx, engine, run, nil, err); rerr != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "rasa-gitops: warning:", rerr)
				}
				return err
			}
			if err := run.Result.Err(); err != nil {
				if rerr := rec.Finish(ctx, engine, run, nil, nil); rerr != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "rasa-gitops: warning:", rerr)
				}
				if ctx.Err() != nil {
					return fmt.Errorf("apply interrupted: %w", ctx.Err())
				}
				return errors.New("some actions failed; the previous containers keep serving where a change failed")
			}
			side, err := flags.hostSide()
			if err != nil {
				return err
			}
			stop, err := listenModelServer(models.listen, side)
			if err != nil {
				return err
			}
			statuses, modelErr := side.convergeModels(ctx, engine, h, run, models, func(st reconcile.ModelStatus) { fmt.Fprintln(out, st.String()) })
			stop()
			var needsPerson *reconcile.NeedsPersonError
			var recordErr error
			if errors.As(modelErr, &needsPerson) {
				recordErr = rec.Finish(ctx, engine, run, statuses, modelErr)
			} else {
				recordErr = rec.Finish(ctx, engine, run, statuses, nil)
			}
			if recordErr != nil {
				return fmt.Errorf("record the run: %w", recordErr)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("apply interrupted: %w", ctx.Err())
			}
			if modelErr != nil {
				return fmt.Errorf("models: %w", modelErr)
			}
			// Remember the converged state so the next no-op apply needs no render.
			if err := reconcile.SaveConverged(h.converged, reconcile.Snapshot(run.Desired, h.rendered, h.fingerprint, side.tags.FileDigest())); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "rasa-gitops: warning:", err)
			}
			if run.Plan.Empty() {
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

// connectEngine connects to the local Docker Engine (DOCKER_HOST, API negotiated).
func connectEngine() (*client.Client, error) {
	engine, err := reconcile.NewClient()
	if err != nil {
		return nil, fmt.Errorf("connect to the Docker Engine: %w", err)
	}
	return engine, nil
}

// projectOf reads only the project name of a declaration directory, so that `down`
// works on a repository that no longer validates (or lacks its ${VAR}s).
func projectOf(dir string) (string, error) {
	if err := checkDir(dir); err != nil {
		return "", err
	}
	data, err := os.ReadFile(filepath.Join(dir, compose.SettingsFile))
	if err != nil {
		return "", fmt.Errorf("read the project name: %w", err)
	}
	var settings struct {
		Project string `yaml:"project"`
	}
	if err := yaml.Unmarshal(data, &settings); err != nil || settings.Project == "" {
		return "", fmt.Errorf("%s has no readable 'project:'", filepath.Join(dir, compose.SettingsFile))
	}
	return settings.Project, nil
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
			project, err := projectOf(args[0])
			if err != nil {
				return err
			}
			engine, err := connectEngine()
			if err != nil {
				return err
			}
			defer engine.Close()
			observed, err := reconcile.Observe(cmd.Context(), engine, project)
			if err != nil {
				return err
			}
			plan := reconcile.DownPlan(project, observed, volumes)
			out := cmd.OutOrStdout()
			if plan.Empty() {
				fmt.Fprintln(out, "nothing to do: project", project, "has no managed objects")
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
