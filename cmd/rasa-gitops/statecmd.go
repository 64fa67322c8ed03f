package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rasa-gitops/rasa-gitops/internal/hostcfg"
	"github.com/rasa-gitops/rasa-gitops/internal/tables"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// stateFlags are shared by the commands that read the state database.
type stateFlags struct{ stateDir string }

func (f *stateFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.stateDir, "state-dir", hostcfg.DefaultStateDir(), "the daemon's state directory")
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
				resp, err := c.Status(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(resp)
				}
				if !resp.Ready {
					fmt.Fprintf(cmd.OutOrStdout(), "daemon not ready: %s\n", resp.Reason)
				}
				tables.Status(cmd.OutOrStdout(), resp.Environments, time.Now())
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
			tables.Status(cmd.OutOrStdout(), rows, time.Now())
			return nil
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&server, "server", "", "ask a running daemon at this address (e.g. http://127.0.0.1:8080)")
	cmd.Flags().StringVar(&tokenFile, "api-token-file", "", "file holding the daemon's API token (with --server)")
	return cmd
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
			return streamHistory(cmd.Context(), st, f, cmd.OutOrStdout(), asJSON)
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVar(&env, "env", "", "only this environment")
	cmd.Flags().StringVar(&since, "since", "", "only rows since a time (RFC 3339, or a duration such as 24h)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many rows, newest first (0: all)")
	return cmd
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
	var (
		flags  stateFlags
		anchor string
	)
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain (and, with --anchor, that it is complete); exit 1 naming the first broken row",
		Long: `verify walks the audit log's hash chain and names the first row that was edited,
deleted or reordered. The chain alone cannot tell a log truncated at its newest
rows, or edited and re-chained by someone who can write the database: --anchor FILE
compares the log with anchors exported by the daemon (the anchors.jsonl of
refs/rasa-gitops/audit, or the daemon's JSON log, whose "audit anchor" lines carry
them) and names the rows missing or changed since.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return verifyAudit(cmd, flags.stateDir, anchor)
		},
	}
	flags.register(verify)
	verify.Flags().StringVar(&anchor, "anchor", "", "also check the log against the anchors in this file (JSON lines; - for stdin)")
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

// verifyAudit checks the chain, then the anchors in anchorFile when one is given.
func verifyAudit(cmd *cobra.Command, stateDir, anchorFile string) error {
	st, err := state.OpenReader(cmd.Context(), stateDir)
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
	if anchorFile == "" {
		fmt.Fprintf(cmd.OutOrStdout(), "audit log %s: %d rows, chain intact (not checked against an anchor: truncation and re-chaining need --anchor)\n", st.Path(), n)
		return nil
	}
	anchors, err := readAnchorFile(cmd.InOrStdin(), anchorFile)
	if err != nil {
		return err
	}
	mismatch, err := st.CheckAnchors(cmd.Context(), anchors)
	if err != nil {
		return err
	}
	if mismatch != nil {
		return fmt.Errorf("audit log %s does not match its anchors: %w", st.Path(), mismatch)
	}
	newest := anchors[0]
	for _, a := range anchors {
		if a.Rows > newest.Rows {
			newest = a
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "audit log %s: %d rows, chain intact, matches %d anchors (the newest counted %d rows)\n", st.Path(), n, len(anchors), newest.Rows)
	return nil
}

// readAnchorFile reads anchors from a file, or from stdin for "-".
func readAnchorFile(stdin io.Reader, name string) ([]state.Anchor, error) {
	if name == "-" {
		return state.ReadAnchors(stdin)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("--anchor: %w", err)
	}
	defer f.Close()
	anchors, err := state.ReadAnchors(f)
	if err != nil {
		return nil, fmt.Errorf("--anchor %s: %w", name, err)
	}
	return anchors, nil
}

// streamHistory writes the rows of f as they are read: a JSON array, or the table.
func streamHistory(ctx context.Context, st *state.Store, f state.Filter, out io.Writer, asJSON bool) error {
	w := bufio.NewWriterSize(out, 64<<10)
	if asJSON {
		if err := writeJSONRows(ctx, st, f, w); err != nil {
			return err
		}
		return w.Flush()
	}
	table := tables.NewHistoryWriter(w)
	if err := eachRowOverlapped(ctx, st, f, table.Row); err != nil {
		return err
	}
	if err := table.Flush(); err != nil {
		return err
	}
	return w.Flush()
}

// writeJSONRows writes the rows of f as one JSON array, a row per line.
func writeJSONRows(ctx context.Context, st *state.Store, f state.Filter, w *bufio.Writer) error {
	var line []byte
	sep := byte('[')
	err := eachRowOverlapped(ctx, st, f, func(r state.Row) error {
		line = append(r.AppendJSON(append(line[:0], sep)), '\n')
		sep = ','
		_, err := w.Write(line)
		return err
	})
	if err != nil {
		return err
	}
	if sep == '[' {
		w.WriteByte('[')
	}
	_, err = w.WriteString("]\n")
	return err
}

// historyBatch is how many rows the reader hands the writer at a time.
const historyBatch = 512

// eachRowOverlapped calls fn with each row of f, newest first, reading the next rows
// in another goroutine while fn formats these: reading and formatting a long listing
// take about as long each, and overlap on two cores.
func eachRowOverlapped(ctx context.Context, st *state.Store, f state.Filter, fn func(state.Row) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []state.Row, 4)
	var readErr error
	go func() {
		defer close(batches)
		batch := make([]state.Row, 0, historyBatch)
		send := func() error {
			select {
			case batches <- batch:
				batch = make([]state.Row, 0, historyBatch)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		readErr = st.EachHistory(ctx, f, func(r state.Row) error {
			if batch = append(batch, r); len(batch) == historyBatch {
				return send()
			}
			return nil
		})
		if readErr == nil && len(batch) > 0 {
			readErr = send()
		}
	}()
	for b := range batches {
		for _, r := range b {
			if err := fn(r); err != nil {
				cancel()
				for range batches { // let the reader end
				}
				return err
			}
		}
	}
	return readErr
}
