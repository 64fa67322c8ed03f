package main

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/daemon"
	"github.com/rasa-gitops/rasa-gitops/internal/hostcfg"
	"github.com/rasa-gitops/rasa-gitops/internal/logging"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/state"
	"github.com/rasa-gitops/rasa-gitops/ui"
)

// modelFlags configure the model side of apply and serve.
type modelFlags struct {
	listen      string
	nudge       bool
	syncTimeout time.Duration
	retention   int
	maxSize     byteSize
}

func (f *modelFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.listen, "listen", ":8080", "address of the model server (the host side of modelServer.url)")
	cmd.Flags().BoolVar(&f.nudge, "nudge", true, "after a retag, ask each Rasa server to load its model at once (PUT /model)")
	cmd.Flags().DurationVar(&f.syncTimeout, "model-timeout", 60*time.Second, "how long to wait until every environment serves its declared model")
	cmd.Flags().IntVar(&f.retention, "model-retention", 5, "unused models kept in the store for rollback")
	f.maxSize = modelserver.DefaultMaxModelSize
	cmd.Flags().Var(&f.maxSize, "max-model-size", "largest model accepted by an upload or a download (413 above it)")
}

// newLogger is logging.New with an unknown --log-format reported as a usage error, and
// every secret the state's masker knows (once masker holds one) masked before a line
// is encoded, and again in what is written.
func newLogger(format string, w io.Writer, masker *atomic.Pointer[state.Masker]) (*zap.Logger, error) {
	log, err := logging.New(format, state.MaskingWriter{W: w, M: masker})
	if errors.Is(err, logging.ErrUnknownFormat) {
		return nil, usageError{fmt.Errorf("--log-format must be json or console, not %q", format)}
	}
	if err != nil {
		return nil, err
	}
	return logging.Masked(log, func(s string) string {
		if m := masker.Load(); m != nil {
			return m.Apply(s)
		}
		return s
	}), nil
}

func newServeCommand() *cobra.Command {
	var (
		flags     convergeFlags
		models    modelFlags
		page      uiFlags
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
			var masker atomic.Pointer[state.Masker]
			log, err := newLogger(logFormat, cmd.ErrOrStderr(), &masker)
			if err != nil {
				return err
			}
			defer log.Sync()
			log = log.Named("serve")
			dir := args[0]
			if err := hostcfg.CheckDir(dir); err != nil {
				return err
			}
			h, err := openHost(cmd.Context(), &flags, func(msg string) { log.Warn(msg) })
			if err != nil {
				return err
			}
			defer h.Close()
			masker.Store(h.State.Masker())
			p := h.pipeline(&flags, models, flags.config().DirSource(dir, ""), nil, log)
			defer p.Close()
			mux := h.Side.Mux(func() bool { ok, _ := p.Ready(); return ok })
			if err := mountUI(mux, &page, uiSite{state: h.State, side: h.Side, apiToken: h.Side.Handler.UploadToken, listen: models.listen,
				ready: p.Ready, addresses: ui.EngineAddresses(h.Engine, p.Project)}, log); err != nil {
				return err
			}
			srv, err := hostcfg.Serve(models.listen, mux)
			if err != nil {
				return err
			}
			log.Info("serving", zap.String("listen", srv.Addr()), zap.String("dir", dir))
			d := daemon.New(daemon.Config{Pipeline: p, State: h.State, Poll: "@every " + interval.String(), Events: h.Engine, RunTimeout: flags.timeout, Log: log})
			err = srv.Supervise(cmd.Context(), d.Run)
			log.Info("stopping")
			return errors.Join(err, srv.Shutdown(10*time.Second))
		},
	}
	flags.register(cmd)
	models.register(cmd)
	page.register(cmd)
	cmd.Flags().DurationVar(&interval, "interval", 30*time.Second, "time between reconciles")
	cmd.Flags().StringVar(&logFormat, "log-format", "json", "json or console")
	return cmd
}

func newModelCommand() *cobra.Command {
	model := &cobra.Command{Use: "model", Short: "Manage the model store"}
	var flags stateFlags
	push := &cobra.Command{
		Use:   "push FILE",
		Short: "Put a model (.tar.gz) into the daemon's store and print the models.yaml entry to commit",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			snippet, err := hostcfg.PushModel(flags.stateDir, args[0])
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), snippet)
			return nil
		},
	}
	flags.register(push)
	model.AddCommand(push)
	return model
}

// byteSize is a size flag: "4GiB", "512m" or a plain number of bytes (go-units).
type byteSize int64

func (b *byteSize) String() string { return units.BytesSize(float64(*b)) }
func (b *byteSize) Type() string   { return "size" }

func (b *byteSize) Set(s string) error {
	n, err := units.RAMInBytes(s)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a size: write bytes or a number with a unit, such as 4GiB or 512MiB", s)
	}
	*b = byteSize(n)
	return nil
}
