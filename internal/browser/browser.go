// Package browser drives Debian's headless chromium from tests (chromedp): the status
// page is tested as people use it, in a real browser that enforces its
// Content-Security-Policy and runs its script. A machine without chromium skips those
// tests, and fails them in CI (internal/needs).
package browser

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rasa-gitops/rasa-gitops/internal/needs"
)

// Path finds chromium: $CHROMIUM, else chromium or chromium-browser on PATH.
func Path() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Tab is one headless browser tab; every console error and page exception it sees is
// kept, so a test can assert the page ran cleanly (a CSP violation is one).
type Tab struct {
	Ctx      context.Context
	t        testing.TB
	Problems *problems
}

// New starts a headless chromium with one tab of width×height CSS pixels, closed at
// the test's end.
func New(t testing.TB, width, height int) *Tab {
	t.Helper()
	path := Path()
	if path == "" {
		needs.Missing(t, "the browser tests need chromium (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(width, height), chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tab := &Tab{Ctx: ctx, t: t, Problems: &problems{}}
	// The first call starts the browser, with the tab's own (untimed) context.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				tab.Problems.add(string(m.Type) + ": " + m.Text)
			}
		}
	}()
	t.Cleanup(func() { cancel(); cancelAlloc(); <-done })
	return tab
}

// Do runs actions in the tab, failing the test on an error; each call is bounded by
// a minute.
func (tab *Tab) Do(actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.t.Fatalf("browser: %v", err)
	}
}

// Text is the visible text of the page's body.
func (tab *Tab) Text() string {
	tab.t.Helper()
	return tab.WaitTextOf(time.Minute, "body")
}

// TextOf is the visible text of the first element matching a CSS selector, waiting
// (up to a minute) for one to be there.
func (tab *Tab) TextOf(selector string) string {
	tab.t.Helper()
	return tab.WaitTextOf(time.Minute, selector)
}

// WaitTextOf polls the text of selector (without reloading the page) until it holds
// every want, within timeout.
func (tab *Tab) WaitTextOf(timeout time.Duration, selector string, want ...string) string {
	tab.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		text, ok, err := tab.textOf(selector)
		if ok && containsAll(text, want) {
			return text
		}
		if time.Now().After(deadline) {
			tab.t.Fatalf("%s did not show %q within %s; it shows %q (found: %v, %v)", selector, want, timeout, text, ok, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// textOf reads an element's text in one evaluation, so that the page's refresh
// swapping the element meanwhile cannot split the query from the read; ok is false
// while there is no such element (or the page is between two documents).
func (tab *Tab) textOf(selector string) (text string, ok bool, err error) {
	quoted, err := json.Marshal(selector)
	if err != nil {
		return "", false, err
	}
	ctx, cancel := context.WithTimeout(tab.Ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[*string]("(function(){var e=document.querySelector("+string(quoted)+");return e?e.innerText:null})()"))
	if err != nil || v == nil {
		return "", false, err
	}
	return *v, true, nil
}

// Screenshot is a PNG of the whole page.
func (tab *Tab) Screenshot() []byte {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, time.Minute)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tab.t.Fatalf("browser: screenshot: %v", err)
	}
	return png
}

// WaitText polls the page's text (without reloading it) until it holds every want,
// within timeout; it returns the last text read.
func (tab *Tab) WaitText(timeout time.Duration, want ...string) string {
	tab.t.Helper()
	return tab.WaitTextOf(timeout, "body", want...)
}

// Login opens base+"/", fills the login form with token and waits for the page.
func (tab *Tab) Login(base, token string) {
	tab.t.Helper()
	tab.Do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Submit(chromedp.CSS("#token")))
	// Polled by evaluation: a query waiting on the login page's document can miss
	// the document the form's navigation brings.
	tab.WaitTextOf(time.Minute, "nav", "Environments")
}

func containsAll(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}
