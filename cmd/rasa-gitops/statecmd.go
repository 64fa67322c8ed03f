package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rasa-gitops/rasa-gitops/state"
)

// stateFlags are shared by the commands that read the state database.
type stateFlags struct{ stateDir string }

func (f *stateFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.stateDir, "state-dir", defaultStateDir(), "the daemon's state directory; env RASA_GITOPS_STATE_DIR")
}

func newStatusCommand() *cobra.Command {
	var (
		flags     stateFlags
		asJSON    bool
		server    string
		tokenFile string
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every environment: revision, sync, health, declared and observed model",
		Long:  `status reads the state directory, or with --server asks a running daemon over its API.`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server != "" {
				c, err := flags.daemonClient(server, tokenFile)
				if err != nil {
					return err
				}
				var resp struct {
					Ready        bool              `json:"ready"`
					Reason       string            `json:"reason"`
					Environments []state.EnvStatus `json:"environments"`
				}
				if err := c.do(cmd.Context(), "GET", "/api/status", &resp); err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(resp)
				}
				if !resp.Ready {
					fmt.Fprintf(cmd.OutOrStdout(), "daemon not ready: %s\n", resp.Reason)
				}
				printStatus(cmd.OutOrStdout(), resp.Environments, time.Now())
				return nil
			}
			st, err := state.OpenReader(cmd.Context(), flags.stateDir)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, err := st.Statuses(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rows)
			}
			printStatus(cmd.OutOrStdout(), rows, time.Now())
			return nil
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&server, "server", "", "ask a running daemon at this address (e.g. http://127.0.0.1:8080)")
	cmd.Flags().StringVar(&tokenFile, "api-token-file", "", "file holding the daemon's API token (with --server)")
	return cmd
}

// printStatus writes the status table: one line per environment, then what was
// attempted when it differs from what is applied, and why sync or health is not fine.
func printStatus(w io.Writer, rows []state.EnvStatus, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENVIRONMENT\tSYNC\tHEALTH\tMODEL DECLARED / SERVED\tREVISION APPLIED\tSINCE\tOBSERVED")
	for _, r := range rows {
		observed := strings.TrimSuffix(r.ObservedModel, ".tar.gz")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s / %s\t%s\t%s\t%s\n", r.Name, r.Sync, r.Health, orNone(r.DesiredModel), orNone(observed), orNone(shortRevision(r.LastApplied)),
			ago(r.Since, now), ago(r.ObservedAt, now))
		if r.LastAttempted != r.LastApplied && r.LastAttempted != "" {
			fmt.Fprintf(tw, "  attempted %s\t\t\t\t\t\t\n", shortRevision(r.LastAttempted))
		}
		if r.SyncReason != "" {
			fmt.Fprintf(tw, "  %s: %s\t\t\t\t\t\t\n", r.Sync, firstLine(r.SyncReason))
		}
		if r.SourceError != "" {
			fmt.Fprintf(tw, "  source: %s\t\t\t\t\t\t\n", firstLine(r.SourceError))
		}
		if r.HealthReason != "" {
			fmt.Fprintf(tw, "  %s: %s\t\t\t\t\t\t\n", r.Health, firstLine(r.HealthReason))
		}
	}
	tw.Flush()
}

// shortRevision abbreviates the hash of main@sha1:<hash> to 12 characters.
func shortRevision(rev string) string {
	if i := strings.LastIndex(rev, ":"); i >= 0 && len(rev)-i-1 > 12 {
		return rev[:i+13]
	}
	return rev
}

// ago is a time as RFC 3339 with how long ago it was, or "never".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), now.Sub(t).Round(time.Second))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func newHistoryCommand() *cobra.Command {
	var (
		flags  stateFlags
		env    string
		since  string
		asJSON bool
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the audit log, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := state.Filter{Environment: env, Limit: limit}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return usageError{err}
				}
				f.Since = t
			}
			st, err := state.OpenReader(cmd.Context(), flags.stateDir)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, err := st.History(cmd.Context(), f)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(rows)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tREVISION\tENVIRONMENT\tACTION\tBEFORE → AFTER\tOUTCOME")
			for _, r := range rows {
				change := ""
				if r.Before != "" || r.After != "" {
					change = orNone(r.Before) + " → " + orNone(r.After)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Time.Format(time.RFC3339), r.Revision, orDash(r.Environment), r.Action, change, r.Outcome)
				if r.Error != "" {
					fmt.Fprintf(tw, "\t\t\t\t  error: %s\t\t\n", firstLine(r.Error))
				}
			}
			return tw.Flush()
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVar(&env, "env", "", "only this environment")
	cmd.Flags().StringVar(&since, "since", "", "only rows since a time (RFC 3339, or a duration such as 24h)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many rows, newest first (0: all)")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseSince reads an RFC 3339 time, a date, or a duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: give an RFC 3339 time, a date (2006-01-02) or a duration (24h)", s)
}

func newAuditCommand() *cobra.Command {
	audit := &cobra.Command{Use: "audit", Short: "Check or export the tamper-evident audit log"}
	var flags stateFlags
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain; exit 1 naming the first broken row",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := state.OpenReader(cmd.Context(), flags.stateDir)
			if err != nil {
				return err
			}
			defer st.Close()
			n, broken, err := st.Verify(cmd.Context())
			if err != nil {
				return err
			}
			if broken != nil {
				return fmt.Errorf("audit log %s is broken at %w (checked %d rows)", st.Path(), broken, n)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit log %s: %d rows, chain intact\n", st.Path(), n)
			return nil
		},
	}
	flags.register(verify)
	var exportFlags stateFlags
	var jsonl bool
	export := &cobra.Command{
		Use:   "export --jsonl",
		Short: "Write every audit row, oldest first, as JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !jsonl {
				return usageError{fmt.Errorf("audit export needs --jsonl (the one format it writes)")}
			}
			st, err := state.OpenReader(cmd.Context(), exportFlags.stateDir)
			if err != nil {
				return err
			}
			defer st.Close()
			return st.Export(cmd.Context(), cmd.OutOrStdout())
		},
	}
	exportFlags.register(export)
	export.Flags().BoolVar(&jsonl, "jsonl", false, "JSON lines")
	audit.AddCommand(verify, export)
	return audit
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
