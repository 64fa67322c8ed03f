package ui

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/state"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// TestWithoutTokenOnlyTheLoginForm: every view answers the login form and none of the
// state; the fragment answers 401; a wrong token is refused.
func TestWithoutTokenOnlyTheLoginForm(t *testing.T) {
	p := newPage(t, nil)
	p.seed()
	for _, path := range []string{"/", "/ui/models", "/ui/history", "/ui/history?before=3"} {
		resp, body := p.get(p.client(), path)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `action="/ui/login"`) {
			t.Errorf("%s without a session: %d, login form %v", path, resp.StatusCode, strings.Contains(body, "/ui/login"))
		}
		for _, data := range []string{"production", "moodbot", "Alice", shaA[:10]} {
			if strings.Contains(body, data) {
				t.Errorf("%s without a session shows %q", path, data)
			}
		}
	}
	if resp, _ := p.get(p.client(), "/ui/environments"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("fragment without a session: %d", resp.StatusCode)
	}
	c, resp := p.login("wrong-token")
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("a wrong token: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if resp, _ := p.get(c, "/"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after a refused login: %d", resp.StatusCode)
	}
}

// TestLoginSession: either token logs in; the cookie is HttpOnly, SameSite=Strict and
// holds no token; it opens the views until it expires; logout ends it.
func TestLoginSession(t *testing.T) {
	now := fixedNow
	p := newPage(t, func(c *Config) { c.Now = func() time.Time { return now }; c.SessionTTL = time.Hour })
	p.seed()
	for _, token := range []string{testToken, readToken} {
		c, resp := p.login(token)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/history" {
			t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		ck := resp.Cookies()[0]
		if ck.Name != CookieName || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.MaxAge != 3600 {
			t.Errorf("cookie %+v", ck)
		}
		if strings.Contains(ck.Value, token) || strings.Contains(ck.Value, testToken[:8]) {
			t.Errorf("the cookie holds the token")
		}
		if resp, body := p.get(c, "/"); resp.StatusCode != 200 || !strings.Contains(body, "production") {
			t.Errorf("with the session: %d", resp.StatusCode)
		}
	}
	c, _ := p.login(testToken)
	now = now.Add(time.Hour)
	if resp, _ := p.get(c, "/"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an expired session: %d", resp.StatusCode)
	}
	now = fixedNow
	c, _ = p.login(testToken)
	if resp, err := c.Post(p.srv.URL+"/ui/logout", "", nil); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %v %v", resp, err)
	}
	if resp, _ := p.get(c, "/"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after logout: %d", resp.StatusCode)
	}
}

// TestForgedSessionRefused: a cookie not made with this daemon's tokens, or with its
// expiry edited, opens nothing; a session ends when the token changes.
func TestForgedSessionRefused(t *testing.T) {
	s := newSessions(time.Hour, func() time.Time { return fixedNow }, testToken)
	good := s.value(fixedNow.Add(time.Minute))
	other := newSessions(time.Hour, func() time.Time { return fixedNow }, "another-token-entirely")
	if !s.valid(good) || other.valid(good) {
		t.Fatalf("valid here %v, valid with another token %v", s.valid(good), other.valid(good))
	}
	edited := strings.Replace(good, ".", ".9", 1)
	for _, v := range []string{edited, "", "v1..", "v1.99999999999.00", good + "0"} {
		if s.valid(v) {
			t.Errorf("%q accepted", v)
		}
	}
	if none := newSessions(time.Hour, time.Now); none.validToken("") || none.valid(none.value(fixedNow.Add(time.Hour))) {
		t.Error("with no token configured, something logs in")
	}
}

// TestSecurityHeadersAndNoInlineCode: every answer has the strict CSP; pages hold no
// inline script or style and never the tokens, nor the repository URL's credentials.
func TestSecurityHeadersAndNoInlineCode(t *testing.T) {
	p := newPage(t, nil)
	p.seed()
	c, _ := p.login(testToken)
	inline := regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]|<script>|\sstyle=|<style|\son[a-z]+=|javascript:`)
	for _, path := range []string{"/", "/ui/environments", "/ui/models", "/ui/history", "/ui/history?verify=1", "/ui/login", "/ui/static/ui.css", "/ui/static/refresh.js", "/nothing-here"} {
		resp, body := p.get(c, path)
		if got := resp.Header.Get("Content-Security-Policy"); got != CSP {
			t.Errorf("%s: CSP %q", path, got)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
		for _, secret := range []string{testToken, readToken, "secret-in-url", "sig=secret", "user:pw"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s shows a secret", path)
			}
		}
		if strings.HasSuffix(path, ".js") || strings.HasSuffix(path, ".css") {
			continue
		}
		if m := inline.FindString(body); m != "" {
			t.Errorf("%s has inline code: %q", path, m)
		}
	}
	if resp, _ := p.get(c, "/ui/static/refresh.js"); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("script served as %q", resp.Header.Get("Content-Type"))
	}
}

// TestViewsGolden renders each view of the fixture and compares it with its golden
// file (go test ./ui -run TestViewsGolden -update rewrites them).
func TestViewsGolden(t *testing.T) {
	p := newPage(t, nil)
	p.seed()
	c, _ := p.login(testToken)
	for name, path := range map[string]string{"environments": "/", "fragment": "/ui/environments", "models": "/ui/models",
		"history": "/ui/history", "history-filtered": "/ui/history?env=production&action=retag+model", "login": "/ui/login"} {
		resp, body := p.get(c, path)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
		golden := filepath.Join("testdata", name+".html")
		if *update {
			if err := os.WriteFile(golden, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if body != string(want) {
			t.Errorf("%s differs from %s (-update rewrites it):\n%s", path, golden, body)
		}
	}
}

// TestHistoryVerifiesTheChain: the history view shows the anchor; verifying says the
// chain is intact, and after a row is edited in the database, where it breaks; the
// last outcome stays on the page until the next verification.
func TestHistoryVerifiesTheChain(t *testing.T) {
	p := newPage(t, nil)
	p.seed()
	c, _ := p.login(testToken)
	head, err := p.state.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, body := p.get(c, "/ui/history")
	if !strings.Contains(body, "Not verified since the daemon started") || !strings.Contains(body, head.Hash) || !strings.Contains(body, "<strong>4 rows</strong>") {
		t.Fatalf("the history view lacks the anchor or the verification state:\n%s", body)
	}
	if _, body = p.get(c, "/ui/history?verify=1"); !strings.Contains(body, "4 rows, intact") {
		t.Errorf("verify of an intact chain:\n%s", body)
	}
	db, err := sql.Open("sqlite", filepath.Join(p.dir, state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE audit SET outcome = 'done' WHERE id = 3"); err != nil {
		t.Fatal(err)
	}
	if _, body = p.get(c, "/ui/history"); !strings.Contains(body, "4 rows, intact") {
		t.Errorf("the last verification is not kept:\n%s", body)
	}
	if _, body = p.get(c, "/ui/history?verify=1"); !strings.Contains(body, "Chain broken") || !strings.Contains(body, "audit row 3") {
		t.Errorf("verify of an edited chain:\n%s", body)
	}
}

// TestHistoryPagesAndFilters: 50 rows a page, newest first; the Older link carries the
// cursor and the filters; the filters keep an environment's rows and an action's.
func TestHistoryPagesAndFilters(t *testing.T) {
	p := newPage(t, nil)
	var entries []state.Entry
	for i := 1; i <= 120; i++ {
		env := []string{"production", "experimental"}[i%2]
		entries = append(entries, state.Entry{Time: fixedNow.Add(time.Duration(i) * time.Second), Environment: env, Action: []string{"start service:rasa-" + env, "plan"}[i%3/2], Outcome: fmt.Sprint("outcome-", i)})
	}
	if err := p.state.Record(context.Background(), entries...); err != nil {
		t.Fatal(err)
	}
	c, _ := p.login(testToken)
	rowIDs := regexp.MustCompile(`<tr class="outcome-[^"]*">\n<td data-label="#">(\d+)</td>`)
	ids := func(body string) []string {
		var out []string
		for _, m := range rowIDs.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	_, body := p.get(c, "/ui/history")
	if got := ids(body); len(got) != 50 || got[0] != "120" || got[49] != "71" || !strings.Contains(body, `href="/ui/history?before=71" rel="next"`) {
		t.Fatalf("first page: %v", got)
	}
	_, body = p.get(c, "/ui/history?before=21")
	if got := ids(body); len(got) != 20 || got[0] != "20" || strings.Contains(body, `rel="next"`) {
		t.Errorf("last page: %v", got)
	}
	_, body = p.get(c, "/ui/history?env=experimental&action=start")
	got := ids(body)
	for _, id := range got {
		var n int
		fmt.Sscan(id, &n)
		if n%2 != 1 || n%3 == 2 {
			t.Errorf("row %s is not experimental's start", id)
		}
	}
	if len(got) != 40 || !strings.Contains(body, `value="start"`) || !strings.Contains(body, "<option selected>experimental</option>") {
		t.Errorf("filtered page %v:\n%s", got, body)
	}
}

// TestCrossSiteFormsRefused: a login or logout form posted from another site's page
// is refused; behind a TLS proxy the cookie is Secure.
func TestCrossSiteFormsRefused(t *testing.T) {
	p := newPage(t, nil)
	for _, path := range []string{"/ui/login", "/ui/logout"} {
		req, err := http.NewRequest(http.MethodPost, p.srv.URL+path, strings.NewReader("token="+testToken))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := p.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("%s from another site: %d, cookies %v", path, resp.StatusCode, resp.Cookies())
		}
	}
	req, err := http.NewRequest(http.MethodPost, p.srv.URL+"/ui/login", strings.NewReader("token="+testToken))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", p.srv.URL)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := p.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure {
		t.Errorf("login behind a TLS proxy: %d, cookies %+v", resp.StatusCode, resp.Cookies())
	}
}

// TestWaitingRevisionShowsItsPlan: the cards of the refused and the held environment
// show what applying their revision would do (PlanOf, asked with its commit hash);
// the page asks once per revision while the plan is under a minute old, then again.
func TestWaitingRevisionShowsItsPlan(t *testing.T) {
	now := fixedNow
	var asked []string
	p := newPage(t, func(c *Config) {
		c.Now = func() time.Time { return now }
		c.PlanOf = func(_ context.Context, hash string) (string, error) {
			asked = append(asked, hash)
			return "service:rasa-worker  recreate  config hash changed <b>\n", nil
		}
	})
	p.seed()
	c, _ := p.login(testToken)
	_, body := p.get(c, "/ui/environments")
	if n := strings.Count(body, "service:rasa-worker  recreate  config hash changed &lt;b&gt;"); n != 2 {
		t.Fatalf("the plan is on %d cards, want the refused and the held one:\n%s", n, body)
	}
	p.get(c, "/ui/environments")
	if len(asked) != 1 || asked[0] != shaB {
		t.Fatalf("asked for plans %v, want %s once", asked, shaB)
	}
	now = now.Add(planTTL)
	p.get(c, "/ui/environments")
	if len(asked) != 2 {
		t.Fatalf("a plan a minute old was not asked again: %v", asked)
	}
}

// TestSlowPlanHoldsUpNoOtherRevision: while one revision's preview is slow, another
// revision's plan comes at once, and a second page asking for the slow one waits for
// the same preview instead of starting another.
func TestSlowPlanHoldsUpNoOtherRevision(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	calls := map[string]int{}
	p := newPage(t, func(c *Config) {
		c.PlanOf = func(_ context.Context, hash string) (string, error) {
			mu.Lock()
			calls[hash]++
			mu.Unlock()
			if hash == shaA {
				<-release
			}
			return "plan of " + hash, nil
		}
	})
	slow := make(chan string, 2)
	for range 2 {
		go func() { slow <- p.h.planOf(context.Background(), shaA) }()
	}
	if got := p.h.planOf(context.Background(), shaB); got != "plan of "+shaB {
		t.Fatalf("the other revision's plan: %q", got)
	}
	close(release)
	for range 2 {
		if got := <-slow; got != "plan of "+shaA {
			t.Fatalf("the slow revision's plan: %q", got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if calls[shaA] != 1 {
		t.Fatalf("the slow revision was previewed %d times, want once", calls[shaA])
	}
}
