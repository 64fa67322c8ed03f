package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/rasa-gitops/rasa-gitops/promote"
	"github.com/spf13/cobra"
)

// newPromoteCommand is `rasa-gitops promote`: its flags make a promote.Options, and
// promote.Run does the work; a *promote.OptionError is a usage error (exit 64).
func newPromoteCommand() *cobra.Command {
	var o promote.Options
	cmd := &cobra.Command{
		Use:   "promote MODEL --to ENV",
		Short: "Commit a promotion of MODEL to ENV on a new branch, ready for a pull request",
		Long: `promote changes the model: line of environments/ENV.yaml to MODEL and commits that
one change on a new branch promote/ENV/MODEL, started from HEAD and checked out. Every
other line of the file is kept byte for byte. Push the branch and open a pull request:
merging it is the deployment.

MODEL must be a key of models.yaml and ENV must have environments/ENV.yaml, both as
committed at HEAD. No git binary is needed.`,
		Example: `  rasa-gitops promote moodbot-v2 --to production
  rasa-gitops promote moodbot-v2 --to production --repo ~/src/rasa-deploy --path deploy --sign key.asc`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Model = args[0]
			res, err := promote.Run(o)
			var optErr *promote.OptionError
			if errors.As(err, &optErr) {
				return usageError{err}
			} else if err != nil {
				return err
			}
			printPromotion(cmd.OutOrStdout(), res)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Env, "to", "", "the environment to promote to (required): environments/ENV.yaml")
	cmd.Flags().StringVar(&o.Repo, "repo", ".", "the Git repository (a directory inside its work tree)")
	cmd.Flags().StringVar(&o.Path, "path", ".", "the declaration directory, relative to --repo")
	cmd.Flags().StringVar(&o.SignKeyFile, "sign", "", "sign the commit with this armored OpenPGP private key")
	cmd.Flags().StringVar(&o.PassphraseFile, "sign-passphrase-file", "", "file holding the passphrase of the --sign key, if it is encrypted")
	cmd.Flags().StringVar(&o.Author, "author", "", `commit author "Name <email>" (default: user.name and user.email of the Git configuration, else "rasa-gitops <rasa-gitops@localhost>")`)
	return cmd
}

// printPromotion reports the new branch and commit and how to turn them into a pull request.
func printPromotion(out io.Writer, r *promote.Result) {
	was := "no model"
	if r.OldModel != "" {
		was = r.OldModel
	}
	signed := ""
	if r.Signer != "" {
		signed = " (signed by key " + r.Signer + ")"
	}
	into := ""
	if r.BaseBranch != "" {
		into = " into " + r.BaseBranch
	}
	fmt.Fprintf(out, "branch:  %s (checked out)\n", r.Branch)
	fmt.Fprintf(out, "commit:  %s promote(%s): %s%s\n", r.Commit, r.Env, r.Model, signed)
	fmt.Fprintf(out, "changed: %s: model %s -> %s\n", r.File, was, r.Model)
	fmt.Fprintf(out, "\nNext: git push %s %s\n      then open a pull request%s; merging it deploys %s to %s.\n",
		r.Remote, r.Branch, into, r.Model, r.Env)
}
