package ui

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// fixedNow is the test clock: golden output does not depend on when it runs.
var fixedNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

const (
	testToken = "api-token-of-the-ui-test-0123456789"
	readToken = "read-only-ui-token-of-the-test-9876"
	shaA      = "1111111111111111111111111111111111111111"
	shaB      = "2222222222222222222222222222222222222222"
	digestV1  = "e41588fa823fccdc51e508fa6dec9d2468b062919a5124eb4d47d05e7541bfb5"
	digestV2  = "62de7b367c7cc47190a668d218068fd60934b442338bf32fc9dbbcb0353b8058"
)

// page is a status page over a real state database and model store.
type page struct {
	t     testing.TB
	dir   string
	state *state.Store
	h     *Handler
	srv   *httptest.Server
}

func newPage(t testing.TB, mod func(*Config)) *page {
	t.Helper()
	p := &page{t: t, dir: t.TempDir()}
	st, err := state.Open(context.Background(), p.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	models, err := modelserver.NewStore(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	p.state = st
	c := Config{State: st, Models: models, Token: testToken, ReadToken: readToken, RepoURL: "https://user:secret-in-url@github.com/acme/assistants.git",
		Server: "http://127.0.0.1:8080", Revisions: fixtureRevisions{}, Now: func() time.Time { return fixedNow }, Ready: func() (bool, string) { return true, "" },
		Addresses: func(context.Context) map[string]string {
			return map[string]string{"production": "http://127.0.0.1:5005"}
		}}
	if mod != nil {
		mod(&c)
	}
	p.h = New(c)
	p.srv = httptest.NewServer(p.h)
	t.Cleanup(p.srv.Close)
	return p
}

// seed records the fixture's four environments and their audit rows: production
// synced, experimental refused, worker held by a change window, staging degraded.
func (p *page) seed() {
	p.t.Helper()
	revA, revB := "main@sha1:"+shaA, "main@sha1:"+shaB
	at := fixedNow.Add(-2 * time.Hour)
	sts := []state.EnvStatus{
		{Name: "production", Project: "quickstart", LastAttempted: revA, LastApplied: revA, Sync: state.Synced, Health: state.Healthy,
			DesiredModel: "moodbot-v2", DesiredDigest: digestV2, ObservedModel: "moodbot-v2.tar.gz", ObservedDigest: digestV2, Since: at},
		{Name: "experimental", Project: "quickstart", LastAttempted: revB, LastApplied: revA, Sync: state.Refused,
			SyncReason: "revision 2222222 not signed by a signer of experimental", Health: state.Healthy,
			DesiredModel: "moodbot-v1", DesiredDigest: digestV1, ObservedModel: "moodbot-v1.tar.gz", Since: at},
		{Name: "worker", Project: "quickstart", LastAttempted: revB, LastApplied: revA, Sync: state.Pending,
			SyncReason: "held by a change window until 2026-12-01T08:00:00Z", Health: state.Healthy, Since: at},
		{Name: "staging", Project: "quickstart", LastAttempted: revA, LastApplied: revA, Sync: state.OutOfSync, SyncReason: "container exited",
			Health: state.Degraded, HealthReason: "container exited (137)", DesiredModel: "moodbot-v1", DesiredDigest: digestV1, Since: at},
	}
	entries := []state.Entry{
		{Time: at.Add(-time.Hour), Revision: revA, Author: "Alice <alice@example.com>", Signer: "ABCDEF0123456789", Environment: "production", Action: "retag model", Before: "moodbot-v1", After: "moodbot-v2", Outcome: "retagged"},
		{Time: at.Add(-time.Hour), Revision: revA, Author: "Alice <alice@example.com>", Signer: "ABCDEF0123456789", Environment: "production", Action: "start service:rasa-production", Outcome: "done"},
		{Time: at, Revision: revB, Author: "Mallory <m@example.com>", Environment: "experimental", Action: "policy: signature", Before: revA, After: revB, Outcome: "refused", Error: "not signed"},
		{Time: at, Revision: revB, Author: "Mallory <m@example.com>", Environment: "worker", Action: "policy: change window", Before: revA, After: revB, Outcome: "held", Error: "held by a change window until 2026-12-01T08:00:00Z"},
	}
	if err := p.state.Commit(context.Background(), sts, entries); err != nil {
		p.t.Fatal(err)
	}
	models, _ := modelserver.NewStore(p.dir)
	for name, digest := range map[string]string{"moodbot-v1": digestV1, "moodbot-v2": digestV2} {
		if err := os.WriteFile(models.Path(digest), []byte(strings.Repeat("m", 2048)), 0o644); err != nil {
			p.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(models.Dir(), "names", name+".tar.gz"), []byte(digest+"\n"), 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}

// client is an HTTP client that keeps cookies and does not follow redirects.
func (p *page) client() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Jar: newJar(p.t)}
}

// login posts token to the login form and returns the client holding the session.
func (p *page) login(token string) (*http.Client, *http.Response) {
	p.t.Helper()
	c := p.client()
	resp, err := c.PostForm(p.srv.URL+"/ui/login", url.Values{"token": {token}, "next": {"/ui/history"}})
	if err != nil {
		p.t.Fatal(err)
	}
	resp.Body.Close()
	return c, resp
}

// get fetches path and returns the answer and its body.
func (p *page) get(c *http.Client, path string) (*http.Response, string) {
	p.t.Helper()
	resp, err := c.Get(p.srv.URL + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp, readAll(p.t, resp)
}

// fixtureRevisions are the seed's two commits as the daemon's clone and checkouts
// would tell them (TestRevisionsFromCheckouts reads real ones).
type fixtureRevisions struct{}

func (fixtureRevisions) Subject(hash string) (string, error) {
	switch hash {
	case shaA:
		return "promote moodbot-v2 to production", nil
	case shaB:
		return "try moodbot-v2 on experimental and the worker", nil
	}
	return "", errors.New("unknown commit")
}

func (fixtureRevisions) Declared(hash string) (*compose.Declaration, error) {
	models := map[string]compose.Model{"moodbot-v1": {Name: "moodbot-v1", SHA256: digestV1, Source: "models/moodbot-v1.tar.gz"},
		"moodbot-v2": {Name: "moodbot-v2", SHA256: digestV2, Source: "https://user:pw@models.example.com/moodbot-v2.tar.gz?sig=secret"}}
	switch hash {
	case shaA:
		d := declaration(map[string]string{"production": "moodbot-v2", "experimental": "moodbot-v1", "worker": "", "staging": "moodbot-v1"})
		d.Models = models
		return d, nil
	case shaB:
		d := declaration(map[string]string{"production": "moodbot-v2", "experimental": "moodbot-v2", "worker": "", "staging": "moodbot-v1"})
		d.Models = models
		return d, nil
	}
	return nil, errors.New("no checkout")
}
