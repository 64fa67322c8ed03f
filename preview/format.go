package preview

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/go-units"
)

// Marker opens every Markdown preview, so a CI job can find its earlier comment on the
// pull request and edit it instead of adding another.
const Marker = "<!-- rasa-gitops preview -->"

// WindowTime is how a held change's opening time is written: day and time, in UTC.
func WindowTime(t time.Time) string { return t.UTC().Format("Mon 2 Jan 15:04 MST") }

// Text writes the preview for a terminal or a CI log.
func (r Result) Text(w io.Writer) {
	fmt.Fprintf(w, "preview of %s (against the host at %s)\n", r.Revision, r.At.Format(time.RFC3339))
	if !r.Valid {
		fmt.Fprintln(w, "\nINVALID: the revision would be refused:")
		for _, p := range r.Problems {
			fmt.Fprintln(w, "  "+p)
		}
		return
	}
	fmt.Fprintf(w, "valid (project %s)\n\nenvironments:\n", r.Project)
	for _, e := range r.Environments {
		fmt.Fprintf(w, "  %-14s %-46s %s\n", e.Name, e.modelText(false), e.verdictText())
	}
	if r.ProjectRefused != "" {
		fmt.Fprintln(w, "\nproject services refused: "+r.ProjectRefused)
	}
	r.planText(w, "\nplan:\n", "  ")
}

// PlanText is the plan alone, one action per line (the status page shows it for a
// held or refused revision); for an invalid revision, its problems.
func (r Result) PlanText() string {
	var b strings.Builder
	if !r.Valid {
		for _, p := range r.Problems {
			b.WriteString(p + "\n")
		}
		return b.String()
	}
	r.planText(&b, "", "")
	return b.String()
}

func (r Result) planText(w io.Writer, title, indent string) {
	fmt.Fprint(w, title)
	if r.PlanError != "" {
		fmt.Fprintln(w, indent+r.PlanError)
		return
	}
	if len(r.Plan) == 0 {
		fmt.Fprintln(w, indent+"nothing to do")
	}
	width := 0
	for _, a := range r.Plan {
		width = max(width, len(a.Target))
	}
	for _, a := range r.Plan {
		fmt.Fprintf(w, "%s%-*s  %-8s  %s\n", indent, width, a.Target, a.Kind, a.Reason)
	}
	for _, ref := range r.Pulls {
		fmt.Fprintf(w, "%sthe apply pulls image %s first\n", indent, ref)
	}
}

// Markdown writes the preview as a pull request comment.
func (r Result) Markdown(w io.Writer) {
	fmt.Fprintln(w, Marker)
	fmt.Fprintf(w, "### rasa-gitops preview of `%s`\n\n", r.Revision)
	if !r.Valid {
		fmt.Fprintln(w, "**Invalid**: the daemon would refuse this revision.")
		text := strings.Join(r.Problems, "\n")
		fence := codeFence(text)
		fmt.Fprintf(w, "\n%s\n%s\n%s\n", fence, text, fence)
		return
	}
	fmt.Fprintf(w, "Valid. Project `%s`, against the host as it ran at %s.\n\n", r.Project, r.At.Format("2006-01-02 15:04 MST"))
	fmt.Fprintln(w, "| environment | model | policy |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, e := range r.Environments {
		fmt.Fprintf(w, "| %s | %s | %s |\n", e.Name, e.modelText(true), mdCell(e.verdictText()))
	}
	if r.ProjectRefused != "" {
		fmt.Fprintln(w, "\n**Project services refused**: "+r.ProjectRefused)
	}
	var plan strings.Builder
	r.planText(&plan, "", "")
	fence := codeFence(plan.String())
	fmt.Fprintf(w, "\n**Plan** (%d action(s)):\n\n%s\n%s%s\n", len(r.Plan), fence, plan.String(), fence)
}

// codeFence is a Markdown code fence longer than any run of backticks in text, so
// text from the pull request (a problem quoting a file) cannot close it and write
// Markdown of its own into the comment.
func codeFence(text string) string {
	longest, run := 0, 0
	for _, c := range text {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// modelText is the environment's model change: "a → b (1.2MB, in the store)".
func (e Environment) modelText(md bool) string {
	q := func(s string) string {
		if s == "" {
			s = "none"
		}
		if md {
			return "`" + s + "`"
		}
		return s
	}
	if e.Removed {
		return "removed"
	}
	if !e.Model.Changed {
		return q(e.Model.To) + " (unchanged)"
	}
	s := q(e.Model.From) + " → " + q(e.Model.To)
	if e.Model.To == "" {
		return s
	}
	var notes []string
	if e.Model.Size >= 0 {
		notes = append(notes, units.HumanSize(float64(e.Model.Size)))
	}
	if e.Model.InStore {
		notes = append(notes, "in the store")
	} else {
		notes = append(notes, "not in the store yet")
	}
	return s + " (" + strings.Join(notes, ", ") + ")"
}

// verdictText says what the policy would do with the environment's change.
func (e Environment) verdictText() string {
	switch e.Verdict {
	case VerdictHeld:
		if e.Until.IsZero() {
			return "held: " + e.Reason
		}
		return "held until " + WindowTime(e.Until)
	case VerdictRefused:
		return "refused: " + e.Reason
	case VerdictUnchanged:
		return "unchanged"
	}
	if e.Removed {
		return "would be removed"
	}
	return "would be applied"
}

// mdCell keeps a table cell on one row.
func mdCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}
