package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/forge"
	"github.com/rasa-gitops/rasa-gitops/gitsource"
	"github.com/rasa-gitops/rasa-gitops/internal/hostcfg"
	"github.com/rasa-gitops/rasa-gitops/notify"
	"github.com/rasa-gitops/rasa-gitops/pipeline"
	"github.com/rasa-gitops/rasa-gitops/policy"
	"github.com/rasa-gitops/rasa-gitops/preview"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// forgeFlags say where the daemon posts commit statuses: the forge hosting --repo.
type forgeFlags struct {
	provider, apiURL, repo, tokenFile, targetURL string
}

func (f *forgeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.provider, "forge", "", "post a commit status per environment (rasa-gitops/<env>) on each applied, held or refused commit: github, gitlab or gitea")
	fl.StringVar(&f.apiURL, "forge-api-url", "", "the forge's API URL (default https://api.github.com, https://gitlab.com/api/v4; gitea: https://gitea.example/api/v1)")
	fl.StringVar(&f.repo, "forge-repo", "", "the repository on the forge: owner/name (GitLab: the project path or ID)")
	fl.StringVar(&f.tokenFile, "forge-token-file", "", "file holding the forge API token that may set commit statuses")
	fl.StringVar(&f.targetURL, "forge-status-url", "", "link of every commit status (such as the daemon's /api/status behind a proxy)")
}

// notifier is the commit-status notifier the flags ask for (nil: none). The token
// joins the masked secrets.
func (f *forgeFlags) notifier(masker *state.Masker, log *zap.Logger) (*notify.Notifier, error) {
	if f.provider == "" {
		return nil, nil
	}
	token, err := hostcfg.ReadSecretFile(f.tokenFile, "forge token")
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, usageError{errors.New("--forge needs --forge-token-file")}
	}
	masker.Add(token)
	client, err := forge.New(forge.Config{Provider: f.provider, APIURL: f.apiURL, Repo: f.repo, Token: token})
	if err != nil {
		return nil, usageError{err}
	}
	return notify.New(client, notify.Options{TargetURL: f.targetURL, Mask: masker.Apply, Log: log.Named("notify")}), nil
}

// pullRequestLoop wires the pull-request half of the daemon: the commit-status
// notifier (when --forge is set; it runs until ctx ends and gets the pipeline's
// statuses through pc.StatusHook) and the preview service of POST /api/preview.
func pullRequestLoop(ctx context.Context, flags *daemonFlags, pc *pipeline.Config, render pipeline.RenderFunc, log *zap.Logger) (*preview.Service, error) {
	notifier, err := flags.forge.notifier(pc.State.Masker(), log)
	if err != nil {
		return nil, err
	}
	if notifier != nil {
		pc.StatusHook = notifier.Observe
		go notifier.Run(ctx)
	}
	return previewService(flags, *pc, render, pc.Policy, log)
}

// planText is what applying a revision would do, as the status page shows it: a
// preview that is not audited.
func planText(previews *preview.Service) func(context.Context, string) (string, error) {
	return func(ctx context.Context, hash string) (string, error) {
		res, err := previews.Look(ctx, hash)
		if err != nil {
			return "", err
		}
		return res.PlanText(), nil
	}
}

// previewService previews revisions of the daemon's repository with a clone of its
// own (<state-dir>/preview) and the pipeline's host, read only.
func previewService(flags *daemonFlags, pc pipeline.Config, render pipeline.RenderFunc, pol *policy.Policy, log *zap.Logger) (*preview.Service, error) {
	opts := flags.git
	opts.StateDir = filepath.Join(flags.stateDir, "preview")
	src, err := gitsource.Open(opts)
	if err != nil {
		return nil, err
	}
	host := preview.Host{Render: render, Engine: pc.Engine, Store: pc.Store, Tags: pc.Tags, State: pc.State, Policy: pol, Options: pc.Run.Options}
	return &preview.Service{Git: src, Host: host, Log: log.Named("preview")}, nil
}

func newPreviewCommand() *cobra.Command {
	var (
		flags     stateFlags
		server    string
		tokenFile string
		format    string
		timeout   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "preview REVISION",
		Short: "Ask a running daemon what applying a revision would do (for a pull request's CI job)",
		Long: `preview asks the daemon (--server) what applying REVISION of its repository would do on
its host as it runs now, and changes nothing there: whether the revision is valid, the
plan (containers to create, recreate or remove, with reasons), each environment's model
change (with its size and whether the model is already in the store), and each
environment's policy verdict (applied, held until a window opens, refused for want of
an allowed signature). REVISION is a commit the daemon can fetch: a hash, a branch, or
a ref such as refs/pull/7/head (GitHub, Gitea) or refs/merge-requests/7/head (GitLab).
--format markdown writes a pull request comment. The daemon audits every preview.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" && format != "markdown" {
				return usageError{fmt.Errorf("--format %q: text, json or markdown", format)}
			}
			c, err := flags.daemonClient(server, tokenFile)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			res, err := c.Preview(ctx, args[0])
			if err != nil {
				return err
			}
			return writePreview(cmd, res, format)
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVar(&server, "server", "http://127.0.0.1:8080", "the daemon's API address")
	cmd.Flags().StringVar(&tokenFile, "api-token-file", "", "file holding the API token")
	cmd.Flags().StringVar(&format, "format", "text", "text, json, or markdown (a pull request comment)")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the daemon's answer")
	return cmd
}

func writePreview(cmd *cobra.Command, res preview.Result, format string) error {
	out := cmd.OutOrStdout()
	switch format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	case "markdown":
		res.Markdown(out)
	default:
		res.Text(out)
	}
	return nil
}
