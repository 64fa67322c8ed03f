package main

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rasa-gitops/rasa-gitops/internal/browser"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// TestStatusPageInBrowser opens the daemon's status page in headless chromium while
// the daemon runs examples/quickstart (three environments, two published ports) on the
// real Engine: without a token the page
// is the login form and no data; with the read-only UI token it shows every
// environment with its model; a signed promotion pushed to Git appears on the open
// page (no reload) within a poll, with its commit's subject; an unsigned change of
// production shows as refused with its reason, what it would change, the plan of
// applying it (an unaudited preview) and what would release it.
func TestStatusPageInBrowser(t *testing.T) {
	alice, alicePub := testgit.NewKey(t, "alice")
	uiToken := filepath.Join(t.TempDir(), "ui-token")
	writeFile(t, uiToken, "read-only-token-of-the-browser-test", 0o600)
	var published map[string]string
	f := startDaemonOf(t, func(project string, port int) map[string]string {
		var files map[string]string
		files, published = testengine.Quickstart(t, project, port)
		return files
	}, "@every 1s", func(dir string) string {
		writeFile(t, filepath.Join(dir, "alice.asc"), alicePub, 0o644)
		p := filepath.Join(dir, "policy.yaml")
		writeFile(t, p, "environments:\n  production:\n    signers: [alice.asc]\n", 0o644)
		return p
	}, testgit.CommitOptions{Sign: alice}, "--ui-token-file", uiToken)
	f.waitFor("the quickstart", func(s map[string]state.EnvStatus) bool {
		return s["production"].ObservedModel == "moodbot-v1.tar.gz" && s["experimental"].ObservedModel == "moodbot-v2.tar.gz" && s["worker"].Health == state.Healthy
	})
	tab := browser.New(t, 1280, 900)

	tab.Do(chromedp.Navigate(f.base + "/"))
	if text := tab.Text(); !strings.Contains(text, "Enter the API token") || strings.Contains(text, "production") || strings.Contains(text, "moodbot") {
		t.Fatalf("without a token the page shows:\n%s", text)
	}
	tab.Login(f.base, "read-only-token-of-the-browser-test")
	tab.WaitTextOf(10*time.Second, "#env-production", "production", "Synced", "Healthy", "moodbot-v1.tar.gz")
	tab.WaitTextOf(10*time.Second, "#env-experimental", "experimental", "moodbot-v2.tar.gz")
	tab.WaitTextOf(10*time.Second, "#env-worker .declared", "none")
	for env, addr := range published {
		if got := tab.TextOf("#env-" + env + " .address"); got != "http://"+addr {
			t.Errorf("%s's Rasa server address is %q, want http://%s", env, got, addr)
		}
	}

	setModel := func(env, model string) {
		name := "environments/" + env + ".yaml"
		f.files[name] = regexp.MustCompile(`(?m)^model: .*$`).ReplaceAllString(f.files[name], "model: "+model)
	}
	setModel("experimental", "moodbot-v1")
	promoted := f.remote.Commit(f.files, testgit.CommitOptions{Message: "promote v1 to experimental", Sign: alice})
	tab.WaitTextOf(60*time.Second, "#env-experimental .served", "moodbot-v1.tar.gz")
	if rev := tab.TextOf("#env-experimental .revision"); !strings.Contains(rev, promoted[:10]) || !strings.Contains(rev, "promote v1 to experimental") {
		t.Errorf("experimental's revision on the page is %q, want %s and its subject", rev, promoted[:10])
	}

	setModel("production", "moodbot-v2")
	unsigned := f.remote.Commit(f.files, testgit.CommitOptions{Message: "unsigned promotion"})
	card := tab.WaitTextOf(60*time.Second, "#env-production", "Refused:", unsigned[:10], "unsigned promotion",
		"What it changes: the model moodbot-v1 → moodbot-v2", "What applying it would do on this host", "To release:")
	reason := f.statuses()["production"].SyncReason
	if reason == "" || !strings.Contains(card, reason) || !strings.Contains(card, "moodbot-v1.tar.gz") {
		t.Errorf("production's card does not show its refusal %q and the model still served:\n%s", reason, card)
	}
	for _, p := range tab.Problems.List() {
		if !strings.Contains(p, "status of 401") {
			t.Errorf("the page raised an error: %q", p)
		}
	}
}

// checkServePage: serve's status page answers the login form without the API token
// and the environments with it.
func checkServePage(t *testing.T, base, apiToken string) {
	t.Helper()
	for token, want := range map[string]string{"": `action="/ui/login"`, apiToken: `id="env-production"`} {
		req, err := http.NewRequest(http.MethodGet, base+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), want) || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("serve's page with token %v: %d, lacks %s or its CSP", token != "", resp.StatusCode, want)
		}
		if token == "" && strings.Contains(string(body), "production") {
			t.Error("serve's page shows an environment without the token")
		}
	}
}
