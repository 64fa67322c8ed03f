package ui

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rasa-gitops/rasa-gitops/internal/browser"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// TestBrowserLoginRefreshAndCSP drives the page in headless chromium: without a
// session it shows the login form and no data; the form logs in; the environments
// view shows each environment, its model and a refusal's reason; a change of the
// state appears without a reload (the embedded script's refresh, allowed by the CSP);
// and the page raised no error (a CSP violation is one).
func TestBrowserLoginRefreshAndCSP(t *testing.T) {
	t.Parallel()
	p := newPage(t, func(c *Config) { c.Refresh = 300 * time.Millisecond; c.Now = time.Now })
	p.seed()
	tab := browser.New(t, 1280, 900)
	tab.Do(chromedp.Navigate(p.srv.URL + "/ui/history"))
	text := tab.Text()
	if !strings.Contains(text, "Enter the API token") {
		t.Fatalf("without a session the page shows:\n%s", text)
	}
	for _, data := range []string{"production", "moodbot", "Alice"} {
		if strings.Contains(text, data) {
			t.Errorf("without a session the page shows %q", data)
		}
	}
	tab.Login(p.srv.URL, readToken)
	tab.WaitText(10*time.Second, "production", "moodbot-v2", "experimental", "Refused: revision 2222222 not signed", "worker", "Pending: held by a change window until 2026-12-01T08:00:00Z")

	st, err := p.state.Status(context.Background(), "production")
	if err != nil {
		t.Fatal(err)
	}
	st.DesiredModel, st.Health, st.HealthReason = "moodbot-v3", state.Progressing, "loading moodbot-v3"
	if err := p.state.Commit(context.Background(), []state.EnvStatus{st}, nil); err != nil {
		t.Fatal(err)
	}
	tab.WaitText(10*time.Second, "moodbot-v3", "loading moodbot-v3")
	for _, prob := range tab.Problems.List() {
		// The login form is answered 401 (no session), which the console reports.
		if !strings.Contains(prob, "status of 401") {
			t.Errorf("the page raised an error: %q", prob)
		}
	}
}

// TestScreenshots writes the docs' screenshots of each view at 360 px and 1920 px
// into $UI_SCREENSHOTS (make screenshots), or into a temporary directory, so that
// every run checks that each view renders to a PNG at both widths.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("UI_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	p := newPage(t, func(c *Config) {
		c.PlanOf = func(context.Context, string) (string, error) {
			return "service:rasa-worker  recreate  config hash changed\n", nil
		}
	})
	p.seed()
	for _, width := range []int{360, 1920} {
		tab := browser.New(t, width, 900)
		tab.Login(p.srv.URL, testToken)
		for name, path := range map[string]string{"environments": "/", "models": "/ui/models", "history": "/ui/history", "login": "/ui/login"} {
			tab.Do(chromedp.Navigate(p.srv.URL+path), chromedp.WaitVisible(chromedp.CSS("main")))
			file := filepath.Join(dir, name+"-"+map[int]string{360: "360", 1920: "1920"}[width]+".png")
			shot := tab.Screenshot()
			if !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
				t.Fatalf("%s at %d px is not a PNG (%d bytes)", path, width, len(shot))
			}
			if err := os.WriteFile(file, shot, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
