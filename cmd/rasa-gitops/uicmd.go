package main

import (
	"context"
	"net"
	"net/http"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/gitsource"
	"github.com/rasa-gitops/rasa-gitops/internal/hostcfg"
	"github.com/rasa-gitops/rasa-gitops/state"
	"github.com/rasa-gitops/rasa-gitops/ui"
)

// uiFlags configure the status page of daemon and serve.
type uiFlags struct {
	enabled   bool
	tokenFile string
}

func (f *uiFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.enabled, "ui", true, "serve the read-only status page at / (login with the API token or --ui-token-file's)")
	cmd.Flags().StringVar(&f.tokenFile, "ui-token-file", "", "file holding a read-only token that logs in to the status page and nothing else")
}

// uiSite is what the page of one command reads.
type uiSite struct {
	state     *state.Store
	side      *hostcfg.Side
	apiToken  string
	repo      string
	listen    string
	ready     func() (bool, string)
	addresses func(context.Context) map[string]string
	revisions ui.Revisions
	// planOf previews a held or refused revision for its card (daemon only).
	planOf func(ctx context.Context, hash string) (string, error)
}

// handler is the status page, or nil with --ui=false. The read-only token joins the
// secrets masked in logs and the state.
func (f *uiFlags) handler(s uiSite, log *zap.Logger) (http.Handler, error) {
	if !f.enabled {
		return nil, nil
	}
	readToken, err := hostcfg.ReadSecretFile(f.tokenFile, "UI token")
	if err != nil {
		return nil, err
	}
	s.state.Masker().Add(readToken)
	return ui.New(ui.Config{State: s.state, Models: s.side.Store, Token: s.apiToken, ReadToken: readToken, RepoURL: s.repo,
		Server: serverAddress(s.listen), Ready: s.ready, Addresses: s.addresses, Revisions: s.revisions, PlanOf: s.planOf, Log: log}), nil
}

// serverAddress is the API address a command on this host sends to, from --listen.
func serverAddress(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://127.0.0.1:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// mountUI adds the status page to serve's mux (at /, beside the model server).
func mountUI(mux *http.ServeMux, f *uiFlags, s uiSite, log *zap.Logger) error {
	page, err := f.handler(s, log)
	if err != nil || page == nil {
		return err
	}
	mux.Handle("/", page)
	return nil
}

// checkouts reads the followed repository's revisions for the page: subjects from the
// clone, declarations from the checkouts, loaded with the daemon's variables. Without
// the variables (an unreadable --env-file) the page shows what the state records.
func checkouts(cfg hostcfg.Config, src *gitsource.Source, path string) ui.Revisions {
	env, err := cfg.Environment()
	if err != nil {
		return nil
	}
	return &ui.Checkouts{Git: src, Path: path, Env: env}
}
