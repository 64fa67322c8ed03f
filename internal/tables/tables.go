// Package tables prints the state's rows as the aligned text tables of `status` and
// `history`: one line per row, and under it, indented, only what needs a person's
// attention (a failed attempt, why sync or health is not fine, an error). Long texts
// are cut at their first line so the table stays readable; --json has them whole.
package tables

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rasa-gitops/rasa-gitops/state"
)

// Status writes the status table: one line per environment, then what was attempted
// when it differs from what is applied, and why sync or health is not fine. Times are
// shown with how long ago they were, measured from now.
func Status(w io.Writer, rows []state.EnvStatus, now time.Time) {
	// The rows are aligned on their own, then each is followed by its notes, which
	// would otherwise widen the first column.
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENVIRONMENT\tSYNC\tHEALTH\tMODEL DECLARED / SERVED\tREVISION APPLIED\tSINCE\tOBSERVED")
	for _, r := range rows {
		observed := strings.TrimSuffix(r.ObservedModel, ".tar.gz")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s / %s\t%s\t%s\t%s\n", r.Name, r.Sync, r.Health, orNone(r.DesiredModel), orNone(observed), orNone(shortRevision(r.LastApplied)),
			ago(r.Since, now), ago(r.ObservedAt, now))
	}
	tw.Flush()
	lines := strings.SplitAfter(table.String(), "\n")
	io.WriteString(w, lines[0])
	for i, r := range rows {
		io.WriteString(w, lines[i+1])
		for _, note := range notes(r) {
			fmt.Fprintf(w, "  %s\n", note)
		}
	}
}

// notes are what needs a person's attention about one environment, a line each.
func notes(r state.EnvStatus) []string {
	var out []string
	if r.LastAttempted != r.LastApplied && r.LastAttempted != "" {
		out = append(out, "attempted "+shortRevision(r.LastAttempted))
	}
	if r.SyncReason != "" {
		out = append(out, string(r.Sync)+": "+firstLine(r.SyncReason))
	}
	if r.SourceError != "" {
		out = append(out, "source: "+firstLine(r.SourceError))
	}
	if r.HealthReason != "" {
		out = append(out, string(r.Health)+": "+firstLine(r.HealthReason))
	}
	return out
}

// History writes the audit rows, in the order given, with an action's error under it.
func History(w io.Writer, rows []state.Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
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
}

// shortRevision abbreviates the hash of main@sha1:<hash> to 12 characters: enough to
// find the commit, short enough for the table.
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

// firstLine cuts a multi-line reason to its first line, which says what went wrong.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// orDash shows an empty cell as "-" so that the columns stay readable.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// orNone shows a missing model or revision as "(none)".
func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
