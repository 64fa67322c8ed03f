package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/api"
	"github.com/rasa-gitops/rasa-gitops/daemon"
	"github.com/rasa-gitops/rasa-gitops/gitsource"
	"github.com/rasa-gitops/rasa-gitops/internal/hostcfg"
	"github.com/rasa-gitops/rasa-gitops/internal/redact"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/pipeline"
	"github.com/rasa-gitops/rasa-gitops/policy"
	"github.com/rasa-gitops/rasa-gitops/state"
	"github.com/rasa-gitops/rasa-gitops/ui"
)

func newDaemonCommand() *cobra.Command {
	var (
		flags  daemonFlags
		models modelFlags
	)
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Follow a Git repository and keep the host converged (the GitOps daemon)",
		Long: `daemon follows one branch of a Git repository (--repo, --branch, --path) and keeps the
host converged: it fetches on a schedule (--poll), on webhooks, on POST /api/sync and
'rasa-gitops sync', and heals containers on Docker events; it applies the signer policy
and change windows of --policy, serves the model server and the API on --listen, and
records every decision in the state directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd, &flags, models)
		},
	}
	flags.register(cmd)
	models.register(cmd)
	return cmd
}

// runDaemon wires the daemon: logger, Git source, policy, host, pipeline, scheduler
// and HTTP surface, then schedules runs until the command's context ends.
func runDaemon(cmd *cobra.Command, flags *daemonFlags, models modelFlags) error {
	// Every log line passes through the state's masker (set once it is open).
	var masker atomic.Pointer[state.Masker]
	log, err := newLogger(flags.logFormat, cmd.ErrOrStderr(), &masker)
	if err != nil {
		return err
	}
	defer log.Sync()
	log = log.Named("daemon")
	schedule, src, pol, err := flags.sources()
	if err != nil {
		return err
	}
	h, err := openHost(cmd.Context(), &flags.convergeFlags, func(msg string) { log.Warn(msg) })
	if err != nil {
		return err
	}
	defer h.Close()
	masker.Store(h.State.Masker())
	cfg := flags.config()
	cfg.ModelServerListen = models.listen
	secrets, err := cfg.DaemonSecrets(h.Side, h.State.Masker(), flags.apiTokenFile, flags.webhookSecret)
	if err != nil {
		return err
	}
	metrics := api.NewMetrics(func() float64 { return float64(h.Side.Handler.BytesServed.Load()) })
	pc := h.config(&flags.convergeFlags, models, &pipeline.GitSource{Git: src}, nil, log)
	pc.Render, pc.Policy, pc.Metrics, pc.Resync = cfg.MaskedRender(log, pol.Names(), secrets.Values), pol, metrics, flags.resync
	if flags.anchorRef != "" {
		pc.AnchorSink = anchorSink(src, flags.anchorRef)
	}
	previews, err := pullRequestLoop(cmd.Context(), flags, &pc, cfg.MaskedRender(log, pol.Names(), secrets.Values), log)
	if err != nil {
		return err
	}
	p := pipeline.New(pc)
	defer p.Close()
	dc := daemon.Config{Pipeline: p, State: h.State, Branch: flags.git.Branch, Schedule: schedule, RunTimeout: flags.timeout, Log: log}
	if flags.events {
		dc.Events = h.Engine
	}
	d := daemon.New(dc)
	metrics.CountDockerEvents(d.EventCounts)
	page, err := flags.ui.handler(uiSite{state: h.State, side: h.Side, apiToken: secrets.API, repo: flags.git.URL, listen: models.listen,
		ready: d.Ready, addresses: ui.EngineAddresses(h.Engine, p.Project), revisions: checkouts(cfg, src, flags.git.Path), planOf: planText(previews)}, log)
	if err != nil {
		return err
	}
	srv, err := hostcfg.Serve(models.listen, api.New(api.Config{
		Backend: d, Token: secrets.API, WebhookSecret: secrets.Webhook, MaxWebhookBody: int64(flags.maxWebhookBody), Metrics: metrics,
		Models: h.Side.Handler, ModelRoutes: modelserver.Routes(), Preview: previews, UI: page,
	}))
	if err != nil {
		return err
	}
	log.Info("serving", zap.String("listen", srv.Addr()), zap.String("repo", redact.URL(flags.git.URL)), zap.String("branch", flags.git.Branch), zap.String("path", flags.git.Path),
		zap.Strings("webhooks", api.WebhookProviders(secrets.Webhook)))
	err = srv.Supervise(cmd.Context(), d.Run)
	log.Info("stopping")
	return errors.Join(err, srv.Shutdown(2*time.Second))
}

// sources parses the poll schedule, opens the Git source and loads the policy: the
// flags' mistakes are found before anything is opened.
func (f *daemonFlags) sources() (cron.Schedule, *gitsource.Source, *policy.Policy, error) {
	schedule, err := cron.ParseStandard(f.poll)
	if err != nil {
		return nil, nil, nil, usageError{fmt.Errorf("--poll %q: %w", f.poll, err)}
	}
	if f.anchorRef != "" && (!strings.HasPrefix(f.anchorRef, "refs/") || strings.HasPrefix(f.anchorRef, "refs/heads/")) {
		return nil, nil, nil, usageError{fmt.Errorf("--audit-anchor-ref %q must be a ref outside the branches, such as %s", f.anchorRef, gitsource.AnchorRef)}
	}
	f.git.StateDir = f.stateDir
	src, err := gitsource.Open(f.git)
	if err != nil {
		return nil, nil, nil, usageError{err}
	}
	var pol *policy.Policy
	if f.policyFile != "" {
		if pol, err = policy.Load(f.policyFile); err != nil {
			return nil, nil, nil, err
		}
	}
	return schedule, src, pol, nil
}

// register adds the daemon's flags to cmd (the converge flags included).
func (f *daemonFlags) register(cmd *cobra.Command) {
	f.convergeFlags.register(cmd)
	f.forge.register(cmd)
	f.ui.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.git.URL, "repo", "", "Git repository URL (https://, ssh://, git://, or a path)")
	fl.StringVar(&f.git.Branch, "branch", "main", "branch to follow")
	fl.StringVar(&f.git.Path, "path", ".", "declaration directory inside the repository; changes elsewhere trigger nothing")
	fl.StringVar(&f.git.TokenFile, "git-token-file", "", "file holding an HTTPS token for the repository")
	fl.StringVar(&f.git.Username, "git-username", "", "user name for the token or SSH (default git)")
	fl.StringVar(&f.git.SSHKeyFile, "ssh-key", "", "SSH private key for the repository")
	fl.StringVar(&f.git.KnownHostsFile, "known-hosts", "", "known_hosts file the SSH host key is checked against")
	fl.StringVar(&f.poll, "poll", "@every 30s", "fetch schedule (cron expression or @every)")
	fl.StringVar(&f.policyFile, "policy", "", "signer policy and change windows (a daemon-side YAML file)")
	fl.StringVar(&f.apiTokenFile, "api-token-file", "", "file holding the API bearer token (default: generated into <state-dir>/secrets/api-token)")
	fl.StringVar(&f.webhookSecret, "webhook-secret-file", "", "file holding the webhook secret (HMAC key or GitLab token)")
	fl.StringVar(&f.logFormat, "log-format", "json", "json or console")
	fl.BoolVar(&f.events, "docker-events", true, "heal at once on Docker events of managed containers (die, stop, destroy, pause); polls heal either way")
	fl.StringVar(&f.anchorRef, "audit-anchor-ref", "", "push the audit chain's anchor after each run to this ref of --repo (such as "+gitsource.AnchorRef+"); needs push access")
	f.maxWebhookBody = api.DefaultMaxWebhookBody
	fl.Var(&f.maxWebhookBody, "max-webhook-body", "largest webhook body read (413 above it)")
	fl.DurationVar(&f.resync, "resync", 0, "longest time between two full runs (render + plan) when Git did not change; 0: every poll. Every poll observes the Engine and heals drift either way")
}

// daemonFlags are the converge flags plus the daemon's own.
type daemonFlags struct {
	convergeFlags
	git                                                      gitsource.Options
	poll, policyFile, apiTokenFile, webhookSecret, logFormat string
	resync                                                   time.Duration
	events                                                   bool
	maxWebhookBody                                           byteSize
	anchorRef                                                string
	forge                                                    forgeFlags
	ui                                                       uiFlags
}

// anchorSink pushes each audit anchor to ref of the declaration repository.
func anchorSink(src *gitsource.Source, ref string) func(context.Context, state.Anchor) error {
	return func(ctx context.Context, a state.Anchor) error {
		line, err := json.Marshal(a)
		if err != nil {
			return err
		}
		return src.PushAnchor(ctx, ref, append(line, '\n'), "audit anchor: "+a.String())
	}
}

// daemonClient is a client of the daemon at server, with the API token of
// --api-token-file, $RASA_GITOPS_API_TOKEN or the state directory beside it.
func (f *stateFlags) daemonClient(server, tokenFile string) (*api.Client, error) {
	token, err := hostcfg.ClientToken(f.stateDir, tokenFile)
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, usageError{errors.New("no API token: give --api-token-file, set RASA_GITOPS_API_TOKEN, or run beside the daemon's --state-dir")}
	}
	return api.NewClient(server, token), nil
}

func newSyncCommand() *cobra.Command {
	var (
		flags     stateFlags
		server    string
		tokenFile string
		force     bool
	)
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Ask a running daemon to fetch and reconcile now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := flags.daemonClient(server, tokenFile)
			if err != nil {
				return err
			}
			if err := c.Sync(cmd.Context(), force); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "sync requested from", c.Server())
			return nil
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVar(&server, "server", "http://127.0.0.1:8080", "the daemon's API address")
	cmd.Flags().StringVar(&tokenFile, "api-token-file", "", "file holding the API token")
	cmd.Flags().BoolVar(&force, "force-window", false, "apply changes held by change windows now (audited)")
	return cmd
}
