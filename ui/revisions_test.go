package ui

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/gitsource"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// TestRevisionsFromCheckouts: with the daemon's clone and checkouts at hand, a card
// shows the commit's subject and what a held revision would change, and the models
// view lists models.yaml of the applied revision with its sources.
func TestRevisionsFromCheckouts(t *testing.T) {
	remote := testgit.New(t)
	files := testengine.QuickstartModels(t)
	files["rasa-gitops.yaml"] = "version: 1\nproject: uitest\nrasa:\n  image: rasa/rasa:3.6.20\nmodelServer:\n  url: http://host.docker.internal:8080\n"
	files["environments/production.yaml"] = "model: moodbot-v1\n"
	applied := remote.Commit(files, testgit.CommitOptions{Message: "first deploy of moodbot\n\nbody"})
	files["environments/production.yaml"] = "model: moodbot-v2\n"
	held := remote.Commit(files, testgit.CommitOptions{Message: "promote moodbot-v2 to production"})
	src, err := gitsource.Open(gitsource.Options{URL: remote.Bare, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := src.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, hash := range []string{applied, held} {
		if err := src.Checkout(gitsource.Revision{Branch: rev.Branch, Hash: hash}); err != nil {
			t.Fatal(err)
		}
	}
	p := newPage(t, func(c *Config) { c.Revisions = &Checkouts{Git: src, Path: "."} })
	st := state.EnvStatus{Name: "production", Project: "uitest", LastApplied: "main@sha1:" + applied, LastAttempted: "main@sha1:" + held,
		Sync: state.Pending, SyncReason: "held by a change window until 2026-12-01T08:00:00Z", Health: state.Healthy,
		DesiredModel: "moodbot-v1", ObservedModel: "moodbot-v1.tar.gz", Since: fixedNow.Add(-time.Hour)}
	if err := p.state.Commit(context.Background(), []state.EnvStatus{st}, nil); err != nil {
		t.Fatal(err)
	}
	c, _ := p.login(testToken)
	resp, body := p.get(c, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	for _, want := range []string{"“first deploy of moodbot”", "“promote moodbot-v2 to production”", "What it changes:</strong> the model moodbot-v1 → moodbot-v2"} {
		if !strings.Contains(body, want) {
			t.Errorf("the environments view lacks %q:\n%s", want, body)
		}
	}
	_, body = p.get(c, "/ui/models")
	for _, want := range []string{"In models.yaml", "yes, from <code>models/moodbot-v1.tar.gz</code>", "yes, from <code>models/moodbot-v2.tar.gz</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("the models view lacks %q:\n%s", want, body)
		}
	}
}

// TestChangeInWords: what a held or refused declaration changes of one environment.
func TestChangeInWords(t *testing.T) {
	for _, tc := range []struct{ env, now, want string }{
		{"production", "moodbot-v1", "the model moodbot-v1 → moodbot-v2"},
		{"worker", "", "its service (the model stays (none))"},
		{"gone", "moodbot-v1", "removes gone"},
	} {
		d := declaration(map[string]string{"production": "moodbot-v2", "worker": ""})
		if got := change(d, tc.env, tc.now); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.env, got, tc.want)
		}
	}
}

func declaration(models map[string]string) *compose.Declaration {
	d := &compose.Declaration{}
	for env, model := range models {
		d.Environments = append(d.Environments, compose.Environment{Name: env, Model: model})
	}
	return d
}
