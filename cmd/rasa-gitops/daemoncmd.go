package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/api"
	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/daemon"
	"github.com/rasa-gitops/rasa-gitops/gitsource"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/pipeline"
	"github.com/rasa-gitops/rasa-gitops/policy"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// bindEnv gives every flag not set on the command line the value of its environment
// variable: --git-token-file ← RASA_GITOPS_GIT_TOKEN_FILE.
func bindEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := "RASA_GITOPS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if serr := f.Value.Set(v); serr != nil {
				err = usageError{fmt.Errorf("%s: %w", name, serr)}
			}
		}
	})
	return err
}

// readSecretFile reads a token file (trimmed); empty path gives "".
func readSecretFile(path, what string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("%s file %s is empty", what, path)
	}
	return v, nil
}

func newDaemonCommand() *cobra.Command {
	var (
		flags         daemonFlags
		models        modelFlags
		git           gitsource.Options
		poll          string
		policyFile    string
		apiTokenFile  string
		webhookSecret string
		logFormat     string
	)
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Follow a Git repository and keep the host converged (the GitOps daemon)",
		Long: `daemon follows one branch of a Git repository (--repo, --branch, --path) and keeps the
host converged: it fetches on a schedule (--poll), on webhooks, on POST /api/sync and
'rasa-gitops sync', and heals containers on Docker events; it applies the signer policy
and change windows of --policy, serves the model server and the API on --listen, and
records every decision in the state directory. Every flag also reads an environment
variable: --git-token-file from RASA_GITOPS_GIT_TOKEN_FILE, and so on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			// Every log line passes through the state's masker (set once it is open).
			var masker atomic.Pointer[state.Masker]
			log, err := newLogger(logFormat, maskWriter{w: cmd.ErrOrStderr(), m: &masker})
			if err != nil {
				return err
			}
			defer log.Sync()
			log = log.Named("daemon")
			schedule, err := cron.ParseStandard(poll)
			if err != nil {
				return usageError{fmt.Errorf("--poll %q: %w", poll, err)}
			}
			git.StateDir = flags.stateDir
			src, err := gitsource.Open(git)
			if err != nil {
				return usageError{err}
			}
			var pol *policy.Policy
			if policyFile != "" {
				if pol, err = policy.Load(policyFile); err != nil {
					return err
				}
			}
			h, err := openHost(cmd.Context(), &flags.convergeFlags, func(msg string) { log.Warn(msg) })
			if err != nil {
				return err
			}
			defer h.close()
			masker.Store(h.st.Masker())
			secrets, err := flags.secrets(h, apiTokenFile, webhookSecret)
			if err != nil {
				return err
			}
			metrics := api.NewMetrics(func() float64 { return float64(h.side.handler.BytesServed.Load()) })
			cfg := h.config(&flags.convergeFlags, models, &pipeline.GitSource{Git: src}, nil, log)
			cfg.Render, cfg.Policy, cfg.Metrics, cfg.Resync = flags.maskedRender(log, pol.Names(), secrets.values), pol, metrics, flags.resync
			p := pipeline.New(cfg)
			defer p.Close()
			d := daemon.New(daemon.Config{Pipeline: p, State: h.st, Branch: git.Branch, Schedule: schedule, Events: h.engine, RunTimeout: flags.timeout, Log: log})
			ln, err := net.Listen("tcp", models.listen)
			if err != nil {
				return fmt.Errorf("listen %s: %w", models.listen, err)
			}
			srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: api.New(api.Config{
				Backend: d, Token: secrets.api, WebhookSecret: secrets.webhook, Metrics: metrics,
				Models: h.side.handler, ModelRoutes: modelserver.Routes(),
			})}
			go srv.Serve(ln)
			log.Info("serving", zap.String("listen", ln.Addr().String()), zap.String("repo", gitsource.RedactURL(git.URL)), zap.String("branch", git.Branch), zap.String("path", git.Path))
			err = d.Run(cmd.Context())
			log.Info("stopping")
			shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return errors.Join(err, srv.Shutdown(shutdown))
		},
	}
	flags.register(cmd)
	models.register(cmd)
	f := cmd.Flags()
	f.StringVar(&git.URL, "repo", "", "Git repository URL (https://, ssh://, git://, or a path)")
	f.StringVar(&git.Branch, "branch", "main", "branch to follow")
	f.StringVar(&git.Path, "path", ".", "declaration directory inside the repository; changes elsewhere trigger nothing")
	f.StringVar(&git.TokenFile, "git-token-file", "", "file holding an HTTPS token for the repository")
	f.StringVar(&git.Username, "git-username", "", "user name for the token or SSH (default git)")
	f.StringVar(&git.SSHKeyFile, "ssh-key", "", "SSH private key for the repository")
	f.StringVar(&git.KnownHostsFile, "known-hosts", "", "known_hosts file the SSH host key is checked against")
	f.StringVar(&poll, "poll", "@every 30s", "fetch schedule (cron expression or @every)")
	f.StringVar(&policyFile, "policy", "", "signer policy and change windows (a daemon-side YAML file)")
	f.StringVar(&apiTokenFile, "api-token-file", "", "file holding the API bearer token (default: generated into <state-dir>/secrets/api-token)")
	f.StringVar(&webhookSecret, "webhook-secret-file", "", "file holding the webhook secret (HMAC key or GitLab token)")
	f.StringVar(&logFormat, "log-format", "json", "json or console")
	f.DurationVar(&flags.resync, "resync", 0, "longest time between two full runs (render + plan) when Git did not change; 0: every poll. Every poll observes the Engine and heals drift either way")
	return cmd
}

// daemonFlags are the converge flags plus the daemon's own.
type daemonFlags struct {
	convergeFlags
	resync time.Duration
}

// daemonSecrets are the API token, the webhook secret and the values treated as
// secret in logs and the state.
type daemonSecrets struct {
	api, webhook string
	values       []string
}

// secrets reads the daemon's secrets and registers every one with the state's masker.
func (f *daemonFlags) secrets(h *host, apiTokenFile, webhookFile string) (daemonSecrets, error) {
	var s daemonSecrets
	env, err := f.environment()
	if err != nil {
		return s, err
	}
	s.values = secretValues(env, f.envFile)
	if s.api, err = readSecretFile(apiTokenFile, "API token"); err != nil {
		return s, err
	}
	if s.api != "" {
		h.side.handler.UploadToken = s.api
	} else {
		s.api = h.side.handler.UploadToken
	}
	if s.webhook, err = readSecretFile(webhookFile, "webhook secret"); err != nil {
		return s, err
	}
	h.st.Masker().Add(s.values...)
	h.st.Masker().Add(s.api, s.webhook, h.side.handler.Token)
	return s, nil
}

// maskedRender renders like every command, warns about policy entries naming no
// environment, and masks every secret-looking value in a refusal (compose-go may
// quote one).
func (f *daemonFlags) maskedRender(log *zap.Logger, policyNames, secrets []string) pipeline.RenderFunc {
	return func(ctx context.Context, dir string) (pipeline.Rendering, error) {
		r, err := f.render(ctx, dir)
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

// maskWriter masks secrets in what the logger writes.
type maskWriter struct {
	w io.Writer
	m *atomic.Pointer[state.Masker]
}

func (mw maskWriter) Write(p []byte) (int, error) {
	if m := mw.m.Load(); m != nil {
		if _, err := io.WriteString(mw.w, m.Apply(string(p))); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return mw.w.Write(p)
}

// secretValues are the values the daemon treats as secret before any revision is
// read: every value of the --env-file, and process variables whose names say they
// are secret (TOKEN, SECRET, PASSWORD, PASS, KEY, CREDENTIAL).
func secretValues(env map[string]string, envFile string) []string {
	fromFile := map[string]bool{}
	if envFile != "" {
		if extra, err := compose.ReadEnvFile(envFile); err == nil {
			for k := range extra {
				fromFile[k] = true
			}
		}
	}
	var out []string
	for k, v := range env {
		upper := strings.ToUpper(k)
		secretName := false
		for _, word := range []string{"TOKEN", "SECRET", "PASSWORD", "PASS", "KEY", "CREDENTIAL"} {
			if strings.Contains(upper, word) {
				secretName = true
			}
		}
		if (fromFile[k] || secretName) && len(v) >= 6 {
			out = append(out, v)
		}
	}
	return out
}

// daemonClient talks to a running daemon's API.
type daemonClient struct {
	server, token string
}

func (f *stateFlags) daemonClient(server, tokenFile string) (daemonClient, error) {
	token, err := readSecretFile(tokenFile, "API token")
	if err != nil {
		return daemonClient{}, err
	}
	if token == "" {
		token = os.Getenv("RASA_GITOPS_API_TOKEN")
	}
	if token == "" {
		token, _ = readSecretFile(f.stateDir+"/secrets/api-token", "API token")
	}
	if token == "" {
		return daemonClient{}, usageError{errors.New("no API token: give --api-token-file, set RASA_GITOPS_API_TOKEN, or run beside the daemon's --state-dir")}
	}
	return daemonClient{server: strings.TrimRight(server, "/"), token: token}, nil
}

func (c daemonClient) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("reach the daemon at %s: %w", c.server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("daemon at %s answered %s: %s", c.server, resp.Status, strings.TrimSpace(string(body)))
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
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
			if err := bindEnv(cmd); err != nil {
				return err
			}
			c, err := flags.daemonClient(server, tokenFile)
			if err != nil {
				return err
			}
			path := "/api/sync"
			if force {
				path += "?forceWindow=true"
			}
			if err := c.do(cmd.Context(), http.MethodPost, path, nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "sync requested from", c.server)
			return nil
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVar(&server, "server", "http://127.0.0.1:8080", "the daemon's API address")
	cmd.Flags().StringVar(&tokenFile, "api-token-file", "", "file holding the API token")
	cmd.Flags().BoolVar(&force, "force-window", false, "apply changes held by change windows now (audited)")
	return cmd
}
