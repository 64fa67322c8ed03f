package hostcfg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/pipeline"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
)

// RenderInputs loads the environment and the host's tokens for DIR, and fingerprints
// them with the repository without parsing anything yet, so that an unchanged
// directory costs no render. It returns the environment, the render options (with the
// generated-file root <state>/generated) and the fingerprint.
func (c Config) RenderInputs(dir string) (map[string]string, compose.RenderOptions, string, error) {
	env, err := c.Environment()
	if err != nil {
		return nil, compose.RenderOptions{}, "", err
	}
	tokens := c.Tokens(env)
	var opts compose.RenderOptions
	if opts.ModelToken, err = tokens.ModelToken(); err != nil {
		return nil, opts, "", err
	}
	if opts.DefaultToken, err = tokens.RasaToken(); err != nil {
		return nil, opts, "", err
	}
	stateDir, err := filepath.Abs(c.StateDir)
	if err != nil {
		return nil, opts, "", err
	}
	// The generated directory depends on the project name, which is only known after
	// parsing; the fingerprint covers the state directory instead.
	fpOpts := opts
	fpOpts.GeneratedDir = stateDir
	fp, err := compose.Fingerprint(dir, env, fpOpts, c.Build)
	opts.GeneratedDir = filepath.Join(stateDir, "generated")
	return env, opts, fp, err
}

// FingerprintOf is the fingerprint of DIR's inputs ("" when they cannot be read, which
// matches no snapshot and so forces a render that reports why).
func (c Config) FingerprintOf(dir string) string {
	_, _, fp, _ := c.RenderInputs(dir)
	return fp
}

// SnapshotPath is where the snapshot of the last full apply of DIR is kept: one file
// per absolute directory, so that applies of two directories do not mix.
func (c Config) SnapshotPath(dir string) string {
	abs, _ := filepath.Abs(dir)
	stateDir, _ := filepath.Abs(c.StateDir)
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(stateDir, "converged", hex.EncodeToString(sum[:8])+".json")
}

// DirSource is DIR as a pipeline source, labelled revision when given; it notices
// changes through the fingerprint, so an edit of the env file or a token counts too.
func (c Config) DirSource(dir, revision string) *pipeline.DirSource {
	return &pipeline.DirSource{Dir: dir, Revision: revision, Fingerprint: func() (string, error) {
		_, _, fp, err := c.RenderInputs(dir)
		return fp, err
	}}
}

// Render renders DIR with the host's real tokens and generated-file directory: it is
// the pipeline.RenderFunc of every converging command.
func (c Config) Render(ctx context.Context, dir string) (pipeline.Rendering, error) {
	env, opts, _, err := c.RenderInputs(dir)
	if err != nil {
		return pipeline.Rendering{}, err
	}
	return c.renderWith(ctx, dir, env, opts)
}

// CachedRender is Render remembering its last result by directory and by the
// fingerprint of every input (files, environment, tokens, build): a poll whose inputs
// did not change reuses it instead of rendering again, which at 100 environments was
// most of a no-change poll's CPU. A changed file, variable or token renders anew.
func (c Config) CachedRender() pipeline.RenderFunc {
	var mu sync.Mutex
	var last struct {
		dir, fp string
		r       pipeline.Rendering
		err     error
	}
	return func(ctx context.Context, dir string) (pipeline.Rendering, error) {
		env, opts, fp, err := c.RenderInputs(dir)
		if err != nil {
			return pipeline.Rendering{}, err
		}
		mu.Lock()
		defer mu.Unlock()
		if last.fp != "" && last.dir == dir && last.fp == fp {
			return last.r, last.err
		}
		r, err := c.renderWith(ctx, dir, env, opts)
		if ctx.Err() == nil { // a cancelled render says nothing about the inputs
			last.dir, last.fp, last.r, last.err = dir, fp, r, err
		}
		return r, err
	}
}

// renderWith loads and renders DIR with its inputs.
func (c Config) renderWith(ctx context.Context, dir string, env map[string]string, opts compose.RenderOptions) (pipeline.Rendering, error) {
	d, err := compose.Load(dir, compose.LoadOptions{Env: env})
	if err != nil {
		return pipeline.Rendering{}, err
	}
	if err := CheckModelServer(c.ModelServerListen, d); err != nil {
		return pipeline.Rendering{}, err
	}
	opts.GeneratedDir = filepath.Join(opts.GeneratedDir, d.Project)
	r, err := compose.Render(ctx, d, opts)
	return pipeline.Rendering{Decl: d, Opts: opts, Rendered: r}, err
}

// MaskedRender renders like CachedRender, warns about policy entries naming no environment,
// and masks every secret value in a refusal: compose-go may quote one, and a refusal
// is logged and stored.
func (c Config) MaskedRender(log *zap.Logger, policyNames, secrets []string) pipeline.RenderFunc {
	render := c.CachedRender()
	return func(ctx context.Context, dir string) (pipeline.Rendering, error) {
		r, err := render(ctx, dir)
		if err == nil {
			warnUnknownPolicyNames(log, policyNames, r.Rendered)
			return r, nil
		}
		var problems compose.Problems
		if errors.As(err, &problems) {
			return r, problems.Masked(secrets)
		}
		return r, errors.New(compose.MaskValues(err.Error(), secrets))
	}
}

// warnUnknownPolicyNames logs policy entries that name no declared environment: a
// typo there would leave the real environment unprotected.
func warnUnknownPolicyNames(log *zap.Logger, names []string, r *compose.Rendered) {
	declared := map[string]bool{}
	for _, env := range r.Environments {
		declared[env.Name] = true
	}
	for _, n := range names {
		if !declared[n] {
			log.Warn("the policy names an environment the repository does not declare", zap.String("environment", n))
		}
	}
}

// Preview renders DIR for a person to read (the render command): as a Compose file
// that runs as it is (its generated files are written under <state>/generated), or
// with environments as Rasa X's environments.yml. Unless showSecrets, the tokens
// and every value the repository interpolates are masked wherever they appear.
func (c Config) Preview(ctx context.Context, dir string, environments, showSecrets bool) ([]byte, error) {
	d, env, err := c.Load(dir)
	if err != nil {
		return nil, err
	}
	opts, err := c.previewOptions(d.Project, env, showSecrets)
	if err != nil {
		return nil, err
	}
	r, err := compose.Render(ctx, d, opts)
	if err != nil {
		return nil, err
	}
	if environments {
		return r.EnvironmentsYAML(!showSecrets), nil
	}
	if err := reconcile.WriteGenerated(r.Files); err != nil {
		return nil, err
	}
	if showSecrets {
		return r.ComposeYAML()
	}
	return r.ComposeYAMLMasked(d.SecretValues())
}

// previewOptions are Preview's render options: the tokens masked unless showSecrets.
// The generated directory is made absolute (a relative --state-dir, the default
// ./.rasa-gitops of a non-root user, included), so the printed file runs from anywhere.
func (c Config) previewOptions(project string, env map[string]string, showSecrets bool) (compose.RenderOptions, error) {
	stateDir, err := filepath.Abs(c.StateDir)
	if err != nil {
		return compose.RenderOptions{}, fmt.Errorf("state directory %s: %w", c.StateDir, err)
	}
	opts := compose.RenderOptions{
		ModelToken:   compose.Mask,
		DefaultToken: compose.Mask,
		GeneratedDir: filepath.Join(stateDir, "generated", project),
	}
	if !showSecrets {
		return opts, nil
	}
	tokens := c.Tokens(env)
	if opts.ModelToken, err = tokens.ModelToken(); err != nil {
		return opts, err
	}
	opts.DefaultToken, err = tokens.RasaToken()
	return opts, err
}

// StillConverged answers whether the host still runs DIR as last applied, without
// rendering: same inputs (fingerprint), same image IDs, same tag table, and nothing
// for the planner. It lets a no-op plan or apply finish in milliseconds. Unless the
// last apply left no snapshot, it also gives the questions it put to the Rasa servers
// at their recorded addresses (asked under ctx): a run that follows uses the answers
// its own observation confirms.
func (c Config) StillConverged(ctx context.Context, engine reconcile.Engine, dir string, prune bool) (bool, *reconcile.Recorded) {
	snap, ok := reconcile.LoadConverged(c.SnapshotPath(dir))
	if !ok {
		return false, nil
	}
	client := &http.Client{Timeout: 5 * time.Second}
	early := reconcile.AskRecorded(ctx, snap, client)
	if snap.Fingerprint != c.FingerprintOf(dir) {
		return false, early
	}
	tags, err := modelserver.OpenTags(c.StateDir)
	if err != nil {
		return false, early
	}
	return reconcile.StillConverged(ctx, engine, snap, reconcile.Options{Prune: prune}, tags.FileDigest(), early, client), early
}
