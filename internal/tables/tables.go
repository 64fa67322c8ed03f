// Package tables prints the state's rows as the aligned text tables of `status` and
// `history`: one line per row, and under it, indented, only what needs a person's
// attention (a failed attempt, why sync or health is not fine, an error). Long texts
// are cut at their first line so the table stays readable; --json has them whole.
package tables

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

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
	h := NewHistoryWriter(w)
	for _, r := range rows {
		if err := h.Row(r); err != nil {
			return err
		}
	}
	return h.Flush()
}

// historyBlock is how many rows a HistoryWriter aligns before it writes them out.
const historyBlock = 1000

// historyHeader are the history table's columns.
var historyHeader = [7]string{"ID", "TIME", "REVISION", "ENVIRONMENT", "ACTION", "BEFORE → AFTER", "OUTCOME"}

// HistoryWriter writes the history table as rows arrive, so a listing of the whole
// audit log streams: columns are aligned within blocks of historyBlock rows (the
// header with the first). It pads by hand: text/tabwriter cost more than reading.
type HistoryWriter struct {
	w     io.Writer
	cells [][7]string
	errs  []string // a row's error line, or ""
	width [7]int
	buf   []byte
	err   error
}

// NewHistoryWriter starts the table; the header is written with the first block.
func NewHistoryWriter(w io.Writer) *HistoryWriter {
	h := &HistoryWriter{w: w}
	h.add(historyHeader, "")
	return h
}

// Row adds one audit row (and its error, indented, under it).
func (h *HistoryWriter) Row(r state.Row) error {
	change := ""
	if r.Before != "" || r.After != "" {
		change = orNone(r.Before) + " → " + orNone(r.After)
	}
	errLine := ""
	if r.Error != "" {
		errLine = "error: " + firstLine(r.Error)
	}
	h.add([7]string{strconv.FormatInt(r.ID, 10), r.Time.Format(time.RFC3339), r.Revision, orDash(r.Environment), r.Action, change, r.Outcome}, errLine)
	if len(h.cells) >= historyBlock {
		return h.Flush()
	}
	return h.err
}

func (h *HistoryWriter) add(cells [7]string, errLine string) {
	for i, c := range cells {
		h.width[i] = max(h.width[i], utf8.RuneCountInString(c))
	}
	h.cells, h.errs = append(h.cells, cells), append(h.errs, errLine)
}

// Flush writes the rows buffered, aligned, and starts a new block.
func (h *HistoryWriter) Flush() error {
	indent := 0
	for _, w := range h.width[:4] {
		indent += w + 2
	}
	for i, cells := range h.cells {
		h.buf = h.buf[:0]
		for j, c := range cells {
			h.buf = append(h.buf, c...)
			if j < len(cells)-1 {
				h.buf = appendSpaces(h.buf, h.width[j]-utf8.RuneCountInString(c)+2)
			}
		}
		h.buf = append(bytes.TrimRight(h.buf, " "), '\n')
		if e := h.errs[i]; e != "" {
			h.buf = append(append(appendSpaces(h.buf, indent+2), e...), '\n')
		}
		if _, err := h.w.Write(h.buf); err != nil && h.err == nil {
			h.err = err
		}
	}
	h.cells, h.errs, h.width = h.cells[:0], h.errs[:0], [7]int{}
	return h.err
}

func appendSpaces(b []byte, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, ' ')
	}
	return b
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
