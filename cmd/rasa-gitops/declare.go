package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/hostcfg"
)

// declarationFlags are shared by every command that reads a declaration directory.
type declarationFlags struct {
	envFile        string
	stateDir       string
	modelTokenFile string
}

func (f *declarationFlags) register(cmd *cobra.Command) {
	registerEnvFile(cmd, &f.envFile)
	cmd.Flags().StringVar(&f.stateDir, "state-dir", hostcfg.DefaultStateDir(), "the daemon's state directory (generated files, tokens)")
	cmd.Flags().StringVar(&f.modelTokenFile, "model-token-file", "", "file holding the model token; default: generated into the state dir")
}

// registerEnvFile adds --env-file, the variables ${VAR} in the declarations may name.
func registerEnvFile(cmd *cobra.Command, envFile *string) {
	cmd.Flags().StringVar(envFile, "env-file", "", "file of KEY=VALUE lines that ${VAR} in the declarations may name (besides the process environment)")
}

// config is the host these flags name; the CLI's version is its build.
func (f *declarationFlags) config() hostcfg.Config {
	return hostcfg.Config{StateDir: f.stateDir, EnvFile: f.envFile, ModelTokenFile: f.modelTokenFile, Build: version}
}

func newValidateCommand() *cobra.Command {
	var (
		envFile string
		listen  string
	)
	cmd := &cobra.Command{
		Use:   "validate DIR",
		Short: "Check a declaration repository; list every problem as file:line:col",
		Long: `validate checks every file of the declaration repository DIR and renders it, as the
daemon would, without touching the Docker Engine or the state directory. It exits 1
and lists every problem, one per line, sorted; made for a pull request's CI.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := hostcfg.Config{EnvFile: envFile}.Environment()
			if err != nil {
				return err
			}
			if err := hostcfg.CheckDir(args[0]); err != nil {
				return err
			}
			d, err := compose.Validate(cmd.Context(), args[0], compose.LoadOptions{Env: env})
			if err != nil {
				return err
			}
			if err := hostcfg.CheckModelServer(listen, d); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (project %s, %d environments, %d models)\n", args[0], d.Project, len(d.Environments), len(d.Models))
			return nil
		},
	}
	registerEnvFile(cmd, &envFile)
	cmd.Flags().StringVar(&listen, "listen", "", "also check that the daemon's --listen address serves modelServer.url to the containers")
	return cmd
}

func newRenderCommand() *cobra.Command {
	var (
		flags       declarationFlags
		format      string
		showSecrets bool
	)
	cmd := &cobra.Command{
		Use:   "render DIR",
		Short: "Print the Compose file (or Rasa X's environments.yml) a repository renders to",
		Long: `render prints the Compose project the daemon would run for DIR. The output is a
Compose file that 'docker compose -f - config' accepts. Tokens are printed as ********
unless --show-secrets is given; a generated endpoints.yml (when DIR has none) is written
under --state-dir so that the printed file runs as it is.
--format environments prints Rasa X's environments.yml instead.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "compose" && format != "environments" {
				return usageError{fmt.Errorf("--format must be compose or environments, not %q", format)}
			}
			out, err := flags.config().Preview(cmd.Context(), args[0], format == "environments", showSecrets)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVar(&format, "format", "compose", "compose (a Compose file) or environments (Rasa X's environments.yml)")
	cmd.Flags().BoolVar(&showSecrets, "show-secrets", false, "print tokens instead of ********")
	return cmd
}

// exactArgs is cobra.ExactArgs with an error marked as a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %d argument(s), got %d: see '%s --help'", cmd.Name(), n, len(args), cmd.CommandPath())}
		}
		return nil
	}
}
