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
	"github.com/rasa-gitops/rasa-gitops/modelserver"
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
}

func (f *convergeFlags) register(cmd *cobra.Command) {
	f.declarationFlags.register(cmd)
	cmd.Flags().BoolVar(&f.prune, "prune", true, "remove managed containers of services no longer declared")
	cmd.Flags().DurationVar(&f.healthTimeout, "health-timeout", 60*time.Second, "how long a new container may take to become healthy")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Minute, "bound on the whole run")
}

// renderInputs loads the environment and the daemon's secrets for DIR, and fingerprints
// them with the repository, without parsing anything yet.
func (f *convergeFlags) renderInputs(dir string) (map[string]string, compose.RenderOptions, string, error) {
	env, err := f.environment()
	if err != nil {
		return nil, compose.RenderOptions{}, "", err
	}
	tokens := tokenStore{dir: f.stateDir, env: env, modelTokenFile: f.modelTokenFile}
	var opts compose.RenderOptions
	if opts.ModelToken, err = tokens.modelToken(); err != nil {
		return nil, opts, "", err
	}
	if opts.DefaultToken, err = tokens.rasaToken(); err != nil {
		return nil, opts, "", err
	}
	stateDir, err := filepath.Abs(f.stateDir)
	if err != nil {
		return nil, opts, "", err
	}
	// The generated directory depends on the project name, which is only known after
	// parsing; the fingerprint covers the state directory instead.
	fpOpts := opts
	fpOpts.GeneratedDir = stateDir
	fp, err := compose.Fingerprint(dir, env, fpOpts, version)
	opts.GeneratedDir = filepath.Join(stateDir, "generated")
	return env, opts, fp, err
}

// fingerprintOf is the fingerprint of DIR's inputs ("" when they cannot be read).
func (f *convergeFlags) fingerprintOf(dir string) string {
	_, _, fp, _ := f.renderInputs(dir)
	return fp
}

// snapshotPath is where the snapshot of the last full apply of DIR is kept.
func (f *convergeFlags) snapshotPath(dir string) string {
	abs, _ := filepath.Abs(dir)
	stateDir, _ := filepath.Abs(f.stateDir)
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(stateDir, "converged", hex.EncodeToString(sum[:8])+".json")
}

// dirSource is DIR as a pipeline source, labelled revision when given.
func (f *convergeFlags) dirSource(dir, revision string) *pipeline.DirSource {
	return &pipeline.DirSource{Dir: dir, Revision: revision, Fingerprint: func() (string, error) {
		_, _, fp, err := f.renderInputs(dir)
		return fp, err
	}}
}

// render renders DIR with the daemon's real tokens and generated-file directory.
func (f *convergeFlags) render(_ context.Context, dir string) (pipeline.Rendering, error) {
	env, opts, _, err := f.renderInputs(dir)
	if err != nil {
		return pipeline.Rendering{}, err
	}
	d, err := compose.Load(dir, compose.LoadOptions{Env: env})
	if err != nil {
		return pipeline.Rendering{}, err
	}
	opts.GeneratedDir = filepath.Join(opts.GeneratedDir, d.Project)
	r, err := compose.Render(context.Background(), d, opts)
	return pipeline.Rendering{Decl: d, Opts: opts, Rendered: r}, err
}

// stillConverged answers whether the host still runs DIR as last applied, without
// rendering: same inputs (fingerprint), same image IDs, and nothing for the planner.
func (f *convergeFlags) stillConverged(ctx context.Context, engine reconcile.Engine, dir string) bool {
	c, ok := reconcile.LoadConverged(f.snapshotPath(dir))
	if !ok || c.Fingerprint != f.fingerprintOf(dir) {
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
			if err := checkDir(args[0]); err != nil {
				return err
			}
			r, err := flags.render(cmd.Context(), args[0])
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
			ctx, out, dir := cmd.Context(), cmd.OutOrStdout(), args[0]
			if err := checkDir(dir); err != nil {
				return err
			}
			h, err := openHost(ctx, &flags, func(msg string) { fmt.Fprintln(out, msg) })
			if err != nil {
				return err
			}
			defer h.close()
			if flags.stillConverged(ctx, h.engine, dir) {
				fmt.Fprintln(out, "nothing to do: the host runs", dir)
				return nil
			}
			stop, err := listenModelServer(models.listen, h.side)
			if err != nil {
				return err
			}
			defer stop()
			snapshot := flags.snapshotPath(dir)
			os.Remove(snapshot) // until this run has fully succeeded
			p := h.pipeline(&flags, models, flags.dirSource(dir, revision), out, nil)
			defer p.Close()
			rep := p.Run(ctx, pipeline.Request{Reasons: []string{"apply"}, Fetch: true, WaitModels: true})
			if err := applyErr(ctx, rep); err != nil {
				return err
			}
			// Remember the converged state so the next no-op apply needs no render.
			if err := reconcile.SaveConverged(snapshot, reconcile.Snapshot(*rep.Desired, rep.Rendered, flags.fingerprintOf(dir), h.side.tags.FileDigest())); err != nil {
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
			project, err := projectOf(args[0])
			if err != nil {
				return err
			}
			engine, err := connectEngine()
			if err != nil {
				return err
			}
			defer engine.Close()
			out := cmd.OutOrStdout()
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
