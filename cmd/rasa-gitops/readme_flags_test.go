package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the README's flag reference from the commands")

const (
	flagsBegin = "<!-- flags:begin (generated: go test ./cmd/rasa-gitops -run TestREADMEFlags -update-readme) -->"
	flagsEnd   = "<!-- flags:end -->"
)

// TestREADMEFlags: the README's flag reference is every flag of every command as
// cobra has it (name, default, environment variable, help), so the two cannot drift
// apart; -update-readme rewrites it.
func TestREADMEFlags(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	begin, end := strings.Index(string(readme), flagsBegin), strings.Index(string(readme), flagsEnd)
	if begin < 0 || end < begin {
		t.Fatalf("README.md has no %q … %q section", flagsBegin, flagsEnd)
	}
	want := flagsBegin + "\n" + flagReference(newRootCommand()) + flagsEnd
	got := string(readme[begin : end+len(flagsEnd)])
	if got == want {
		return
	}
	if *updateREADME {
		out := string(readme[:begin]) + want + string(readme[end+len(flagsEnd):])
		if err := os.WriteFile("../../README.md", []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's flag reference differs from the commands' flags; run go test ./cmd/rasa-gitops -run TestREADMEFlags -update-readme\n%s", firstDiff(got, want))
}

// flagReference is one table per command that has flags, in command order.
func flagReference(root *cobra.Command) string {
	var b strings.Builder
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c != root && c.HasAvailableLocalFlags() {
			fmt.Fprintf(&b, "\n`%s`\n\n| flag | default | what it does |\n|---|---|---|\n", c.CommandPath())
			c.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if f.Name == "help" {
					return
				}
				fmt.Fprintf(&b, "| `--%s` | %s | %s |\n", f.Name, defaultCell(f), escapeCell(f.Usage))
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return b.String() + "\n"
}

func defaultCell(f *pflag.Flag) string {
	if f.Name == "state-dir" { // depends on the user and $RASA_GITOPS_STATE_DIR
		return "`/var/lib/rasa-gitops` (root), else `./.rasa-gitops`"
	}
	if f.DefValue == "" || f.DefValue == "[]" {
		return ""
	}
	return "`" + f.DefValue + "`"
}

var envSuffix = regexp.MustCompile(` \[\$(RASA_GITOPS_[A-Z0-9_]+)\]$`)

// escapeCell makes a help line a table cell, its variable in code.
func escapeCell(s string) string {
	s = envSuffix.ReplaceAllString(s, " (`$$$1`)")
	return strings.ReplaceAll(s, "|", `\|`)
}

func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) && i < len(lb); i++ {
		if la[i] != lb[i] {
			return fmt.Sprintf("line %d:\n README: %s\n flags:  %s", i+1, la[i], lb[i])
		}
	}
	return fmt.Sprintf("lengths differ: README %d lines, flags %d lines", len(la), len(lb))
}

// TestEveryFlagReadsItsVariable: each flag's help names its variable, and the
// variable sets the flag for any command (not only the daemon's).
func TestEveryFlagReadsItsVariable(t *testing.T) {
	root := newRootCommand()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" && !strings.HasSuffix(f.Usage, "[$"+envVariable(f.Name)+"]") {
				t.Errorf("%s --%s: help does not name %s", c.CommandPath(), f.Name, envVariable(f.Name))
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	dir := t.TempDir()
	t.Setenv("RASA_GITOPS_STATE_DIR", "")
	t.Setenv("RASA_GITOPS_LIMIT", "not-a-number")
	if code, _, errOut := runCLI(t, "history", "--state-dir", dir); code != exitUsage || !strings.Contains(errOut, "RASA_GITOPS_LIMIT") {
		t.Errorf("history did not read RASA_GITOPS_LIMIT: exit %d %s", code, errOut)
	}
	t.Setenv("RASA_GITOPS_LIMIT", "")
	t.Setenv("RASA_GITOPS_LISTEN", "127.0.0.1:8080")
	if code, _, errOut := runCLI(t, "validate", "../../examples/quickstart"); code != exitError || !strings.Contains(errOut, "loopback-only") {
		t.Errorf("validate did not read RASA_GITOPS_LISTEN: exit %d %s", code, errOut)
	}
}

// TestFlagsThatDidNothingAreGone: validate reads no state directory or model token,
// and model push no env file; offering those flags promised what was not done.
func TestFlagsThatDidNothingAreGone(t *testing.T) {
	for _, args := range [][]string{
		{"validate", "--state-dir", t.TempDir(), "../../examples/quickstart"},
		{"validate", "--model-token-file", "/dev/null", "../../examples/quickstart"},
		{"model", "push", "--env-file", "/dev/null", "x.tar.gz"},
		{"model", "push", "--model-token-file", "/dev/null", "x.tar.gz"},
		{"down", "--env-file", "/dev/null", "."},
	} {
		if code, _, errOut := runCLI(t, args...); code != exitUsage || !strings.Contains(errOut, "unknown flag") {
			t.Errorf("%v: exit %d %s", args, code, errOut)
		}
	}
}
