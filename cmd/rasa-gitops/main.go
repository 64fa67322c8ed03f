// Command rasa-gitops is the GitOps daemon for Rasa assistants on one Docker host.
// This file wires the CLI only; the work is done by the packages it calls.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/hostcfg"
)

// Exit codes shared by every command (README "Exit codes").
const (
	exitOK       = 0
	exitError    = 1 // invalid repository, or the command failed
	exitPending  = 2 // plan: changes are pending
	exitUsage    = 64
	exitCanceled = 130
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks errors in how the command was called, for exit status 64.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCodeError lets a command choose its exit status without printing anything more.
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes the CLI and returns the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// compose-go warns through logrus (e.g. about an obsolete top-level version:);
	// rasa-gitops reports problems itself.
	logrus.SetOutput(io.Discard)

	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SilenceUsage = true
	root.SilenceErrors = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var code exitCodeError
	if errors.As(err, &code) {
		return code.code
	}
	var problems compose.Problems
	if errors.As(err, &problems) {
		fmt.Fprintln(stderr, problems.Error())
		return exitError
	}
	fmt.Fprintln(stderr, "rasa-gitops: "+err.Error())
	var usage usageError
	var notDir *hostcfg.NotDirError
	switch {
	case errors.As(err, &usage) || errors.As(err, &notDir) || isCobraUsage(err):
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitCanceled
	}
	return exitError
}

// isCobraUsage recognises cobra's own usage errors (an unknown command or flag).
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "rasa-gitops",
		Short: "GitOps for Rasa assistants on one Docker host",
		Long: `rasa-gitops makes one Docker host run what a Git repository declares: one Rasa
server per environment, each serving the model the repository names.`,
	}
	root.AddCommand(newValidateCommand(), newRenderCommand(), newPlanCommand(), newApplyCommand(), newDownCommand(), newServeCommand(), newModelCommand(), newStatusCommand(), newHistoryCommand(), newAuditCommand(), newDaemonCommand(), newSyncCommand(), newPreviewCommand(), newPromoteCommand(), newVersionCommand())
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return bindEnv(cmd) }
	nameEnvVariables(root)
	return root
}

// envVariable is the environment variable a flag reads when it is not given:
// --git-token-file ← RASA_GITOPS_GIT_TOKEN_FILE.
func envVariable(flag string) string {
	return "RASA_GITOPS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// bindEnv gives every flag of cmd not set on the command line the value of its
// environment variable, for every command alike.
func bindEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil || f.Name == "help" {
			return
		}
		if v := os.Getenv(envVariable(f.Name)); v != "" { // set but empty counts as unset
			if serr := f.Value.Set(v); serr != nil {
				err = usageError{fmt.Errorf("%s: %w", envVariable(f.Name), serr)}
			}
		}
	})
	return err
}

// nameEnvVariables adds each flag's environment variable to its --help line, so the
// variables are listed where the flags are.
func nameEnvVariables(cmd *cobra.Command) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			f.Usage += " [$" + envVariable(f.Name) + "]"
		}
	})
	for _, c := range cmd.Commands() {
		nameEnvVariables(c)
	}
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the declaration format it reads",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "rasa-gitops %s (declaration format version %d)\n", version, compose.FormatVersion)
			return nil
		},
	}
}
