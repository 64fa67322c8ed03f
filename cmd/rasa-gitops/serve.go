package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/daemon"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
)

// modelFlags configure the model side of apply and serve.
type modelFlags struct {
	listen      string
	nudge       bool
	syncTimeout time.Duration
	retention   int
}

func (f *modelFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.listen, "listen", ":8080", "address of the model server (the host side of modelServer.url)")
	cmd.Flags().BoolVar(&f.nudge, "nudge", true, "after a retag, ask each Rasa server to load its model at once (PUT /model)")
	cmd.Flags().DurationVar(&f.syncTimeout, "model-timeout", 60*time.Second, "how long to wait until every environment serves its declared model")
	cmd.Flags().IntVar(&f.retention, "model-retention", 5, "unused models kept in the store for rollback")
}

// hostSide holds what the model side of a run needs: the store, the tag table and
// the handler that serves them.
type hostSide struct {
	store    *modelserver.Store
	tags     *modelserver.Tags
	observed *modelserver.Observed
	handler  *modelserver.Handler
}

func openHostSide(stateDir, modelToken, apiToken string) (*hostSide, error) {
	store, err := modelserver.NewStore(stateDir)
	if err != nil {
		return nil, err
	}
	tags, err := modelserver.OpenTags(stateDir)
	if err != nil {
		return nil, err
	}
	obs := modelserver.NewObserved()
	return &hostSide{store: store, tags: tags, observed: obs,
		handler: &modelserver.Handler{Tags: tags, Store: store, Token: modelToken, UploadToken: apiToken, Observed: obs, CheckName: compose.CheckModelName}}, nil
}

// mux is the HTTP surface of serve: health, the model server and the upload.
func (h *hostSide) mux(ready func() bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready: no revision applied yet", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	for _, p := range modelserver.Routes() {
		mux.Handle(p, h.handler)
	}
	return mux
}

// listenModelServer serves the model side on addr while a one-shot apply waits for
// the environments to load their models. When the address is taken (a `serve` or the
// daemon runs), that process serves the same store and tag table, and nil is returned.
func listenModelServer(addr string, h *hostSide) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return func() {}, nil
		}
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h.mux(func() bool { return true }), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// newLogger builds the named zap logger of long-running commands: JSON by default,
// console for humans.
func newLogger(format string, w io.Writer) (*zap.Logger, error) {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	switch format {
	case "json":
		encoder = zapcore.NewJSONEncoder(enc)
	case "console":
		enc.EncodeLevel = zapcore.CapitalColorLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	default:
		return nil, usageError{fmt.Errorf("--log-format must be json or console, not %q", format)}
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.AddSync(w), zapcore.InfoLevel)), nil
}

func newServeCommand() *cobra.Command {
	var (
		flags     convergeFlags
		models    modelFlags
		interval  time.Duration
		logFormat string
	)
	cmd := &cobra.Command{
		Use:   "serve DIR",
		Short: "Apply a declaration directory, then keep serving its models and reconciling",
		Long: `serve applies the plain declaration directory DIR (no Git), then stays in the
foreground: it serves the model server and the model upload on --listen and reconciles
every --interval, healing containers stopped by hand and following edits of DIR.
SIGTERM or SIGINT finishes the run in progress and exits 0.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(logFormat, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync()
			log = log.Named("serve")
			dir := args[0]
			if err := checkDir(dir); err != nil {
				return err
			}
			h, err := openHost(cmd.Context(), &flags, func(msg string) { log.Warn(msg) })
			if err != nil {
				return err
			}
			defer h.close()
			p := h.pipeline(&flags, models, flags.dirSource(dir, ""), nil, log)
			defer p.Close()
			ln, err := net.Listen("tcp", models.listen)
			if err != nil {
				return fmt.Errorf("listen %s: %w", models.listen, err)
			}
			srv := &http.Server{Handler: h.side.mux(func() bool { ok, _ := p.Ready(); return ok }), ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(ln)
			log.Info("serving", zap.String("listen", ln.Addr().String()), zap.String("dir", dir))
			d := daemon.New(daemon.Config{Pipeline: p, State: h.st, Poll: "@every " + interval.String(), Events: h.engine, RunTimeout: flags.timeout, Log: log})
			err = d.Run(cmd.Context())
			log.Info("stopping")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return errors.Join(err, srv.Shutdown(ctx))
		},
	}
	flags.register(cmd)
	models.register(cmd)
	cmd.Flags().DurationVar(&interval, "interval", 30*time.Second, "time between reconciles")
	cmd.Flags().StringVar(&logFormat, "log-format", "json", "json or console")
	return cmd
}

func newModelCommand() *cobra.Command {
	model := &cobra.Command{Use: "model", Short: "Manage the model store"}
	var flags declarationFlags
	push := &cobra.Command{
		Use:   "push FILE",
		Short: "Put a model (.tar.gz) into the daemon's store and print the models.yaml entry to commit",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := modelserver.NewStore(flags.stateDir)
			if err != nil {
				return err
			}
			if !strings.HasSuffix(args[0], ".tar.gz") {
				return fmt.Errorf("model push: %s is not a .tar.gz model archive", args[0])
			}
			if err := compose.CheckModelName(strings.TrimSuffix(filepath.Base(args[0]), ".tar.gz")); err != nil {
				return fmt.Errorf("model push: %w", err)
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("model push: %w", err)
			}
			defer f.Close()
			digest, _, err := store.PutNamed(filepath.Base(args[0]), f)
			if err != nil {
				return fmt.Errorf("model push: %w", err)
			}
			fmt.Fprint(cmd.OutOrStdout(), modelserver.Snippet(strings.TrimSuffix(filepath.Base(args[0]), ".tar.gz"), digest))
			return nil
		},
	}
	flags.register(push)
	model.AddCommand(push)
	return model
}
