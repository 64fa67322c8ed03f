package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/state"
)

const token = "api-token-for-unit-tests"

// backend is a Backend whose answers the test sets.
type backend struct {
	mu       sync.Mutex
	ready    bool
	reason   string
	statuses []state.EnvStatus
	rows     []state.Row
	filter   state.Filter
	syncs    []string
	forced   []bool
	err      error
}

func (b *backend) Ready() (bool, string) { return b.ready, b.reason }
func (b *backend) Statuses(context.Context) ([]state.EnvStatus, error) {
	return b.statuses, b.err
}
func (b *backend) History(_ context.Context, f state.Filter) ([]state.Row, error) {
	b.mu.Lock()
	b.filter = f
	b.mu.Unlock()
	return b.rows, b.err
}
func (b *backend) Sync(reason string, force bool) {
	b.mu.Lock()
	b.syncs, b.forced = append(b.syncs, reason), append(b.forced, force)
	b.mu.Unlock()
}
func (b *backend) Branch() string { return "main" }

type server struct {
	b   *backend
	url string
	m   *Metrics
}

func newServer(t *testing.T, b *backend, secret string) server {
	t.Helper()
	m := NewMetrics(func() float64 { return 42 })
	models := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "model server") })
	srv := httptest.NewServer(New(Config{Backend: b, Token: token, WebhookSecret: secret, Metrics: m, Models: models, ModelRoutes: []string{"GET /models/{env}"}}))
	t.Cleanup(srv.Close)
	return server{b: b, url: srv.URL, m: m}
}

func (s server) do(t *testing.T, method, path, tok string, body string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	return resp.StatusCode, string(data)
}

func TestHealthz(t *testing.T) {
	s := newServer(t, &backend{}, "")
	if code, body := s.do(t, "GET", "/healthz", "", "", nil); code != 200 || body != "ok\n" {
		t.Errorf("%d %q", code, body)
	}
}

func TestReadyzHidesTheReason(t *testing.T) {
	s := newServer(t, &backend{reason: "revision abc refused: environments/production.yaml:1:1: secret-ish"}, "")
	code, body := s.do(t, "GET", "/readyz", "", "", nil)
	if code != http.StatusServiceUnavailable || strings.Contains(body, "production.yaml") {
		t.Errorf("%d %q", code, body)
	}
	s.b.ready = true
	if code, _ := s.do(t, "GET", "/readyz", "", "", nil); code != 200 {
		t.Errorf("ready: %d", code)
	}
}

func TestStatusNeedsTheToken(t *testing.T) {
	s := newServer(t, &backend{}, "")
	for _, tok := range []string{"", "wrong-token"} {
		if code, body := s.do(t, "GET", "/api/status", tok, "", nil); code != http.StatusUnauthorized || strings.Contains(body, "environments") {
			t.Errorf("token %q: %d %s", tok, code, body)
		}
	}
}

func TestStatusIsTheStatusModel(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	b := &backend{reason: "cannot read the revision: fetch failed", statuses: []state.EnvStatus{{Name: "production", Sync: state.Refused, SyncReason: "environments/production.yaml:2:1: bad", Health: state.Healthy, ObservedAt: now}}}
	s := newServer(t, b, "")
	code, body := s.do(t, "GET", "/api/status", token, "", nil)
	var resp struct {
		Ready        bool              `json:"ready"`
		Reason       string            `json:"reason"`
		Environments []state.EnvStatus `json:"environments"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 200 {
		t.Fatalf("%d %s %v", code, body, err)
	}
	if resp.Ready || resp.Reason != b.reason || len(resp.Environments) != 1 || resp.Environments[0].SyncReason != "environments/production.yaml:2:1: bad" || !resp.Environments[0].ObservedAt.Equal(now) {
		t.Errorf("status %+v", resp)
	}
}

func TestStatusStateErrorIs500(t *testing.T) {
	s := newServer(t, &backend{err: errors.New("read status: disk I/O error")}, "")
	if code, body := s.do(t, "GET", "/api/status", token, "", nil); code != 500 || !strings.Contains(body, "disk I/O") {
		t.Errorf("%d %s", code, body)
	}
}

func TestHistoryFilters(t *testing.T) {
	s := newServer(t, &backend{rows: []state.Row{{ID: 7}}}, "")
	code, body := s.do(t, "GET", "/api/history?env=production&limit=5&since=2026-11-30T00:00:00Z", token, "", nil)
	if code != 200 || !strings.Contains(body, `"ID":7`) && !strings.Contains(body, `"id":7`) {
		t.Fatalf("%d %s", code, body)
	}
	f := s.b.filter
	if f.Environment != "production" || f.Limit != 5 || !f.Since.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("filter %+v", f)
	}
	s.do(t, "GET", "/api/history", token, "", nil)
	if s.b.filter.Limit != 100 {
		t.Errorf("default limit %d", s.b.filter.Limit)
	}
}

func TestHistoryRefusesBadParameters(t *testing.T) {
	s := newServer(t, &backend{}, "")
	for _, q := range []string{"limit=-1", "limit=many", "since=yesterday"} {
		if code, _ := s.do(t, "GET", "/api/history?"+q, token, "", nil); code != http.StatusBadRequest {
			t.Errorf("%s: %d", q, code)
		}
	}
}

func TestSyncTriggersTheBackend(t *testing.T) {
	s := newServer(t, &backend{}, "")
	if code, _ := s.do(t, "POST", "/api/sync?forceWindow=true", token, "", nil); code != http.StatusAccepted {
		t.Fatalf("%d", code)
	}
	if code, _ := s.do(t, "POST", "/api/sync", "", "", nil); code != http.StatusUnauthorized {
		t.Errorf("sync without token: %d", code)
	}
	if len(s.b.syncs) != 1 || s.b.syncs[0] != "api" || !s.b.forced[0] {
		t.Errorf("syncs %v %v", s.b.syncs, s.b.forced)
	}
}

func sign(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestWebhookSignedPushSyncs(t *testing.T) {
	s := newServer(t, &backend{}, "hook-secret")
	body := `{"ref":"refs/heads/main"}`
	code, _ := s.do(t, "POST", "/api/webhooks/github", "", body, http.Header{"X-Hub-Signature-256": {sign("hook-secret", body)}})
	if code != http.StatusAccepted || len(s.b.syncs) != 1 || s.b.syncs[0] != "webhook:github" {
		t.Errorf("%d %v", code, s.b.syncs)
	}
}

func TestWebhookBadSignatureIsRefused(t *testing.T) {
	s := newServer(t, &backend{}, "hook-secret")
	body := `{"ref":"refs/heads/main"}`
	code, _ := s.do(t, "POST", "/api/webhooks/github", "", body, http.Header{"X-Hub-Signature-256": {sign("other", body)}})
	if code != http.StatusUnauthorized || len(s.b.syncs) != 0 {
		t.Errorf("%d %v", code, s.b.syncs)
	}
}

func TestWebhookOtherBranchIsIgnored(t *testing.T) {
	s := newServer(t, &backend{}, "hook-secret")
	body := `{"ref":"refs/heads/feature"}`
	code, resp := s.do(t, "POST", "/api/webhooks/gitea", "", body, http.Header{"X-Gitea-Signature": {strings.TrimPrefix(sign("hook-secret", body), "sha256=")}})
	if code != http.StatusAccepted || !strings.Contains(resp, "ignored") || len(s.b.syncs) != 0 {
		t.Errorf("%d %s %v", code, resp, s.b.syncs)
	}
}

// TestWebhookBodyOverTheLimitIs413: a body over the default bound is refused with
// 413 naming the flag, counted as too-large, and triggers nothing.
func TestWebhookBodyOverTheLimitIs413(t *testing.T) {
	s := newServer(t, &backend{}, "hook-secret")
	body := `{"ref":"refs/heads/main","pad":"` + strings.Repeat("x", DefaultMaxWebhookBody) + `"}`
	code, resp := s.do(t, "POST", "/api/webhooks/github", "", body, http.Header{"X-Hub-Signature-256": {sign("hook-secret", body)}})
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(resp, "larger than 5MiB: raise --max-webhook-body") || len(s.b.syncs) != 0 {
		t.Errorf("%d %s %v", code, resp, s.b.syncs)
	}
	if _, metrics := s.do(t, "GET", "/metrics", "", "", nil); !strings.Contains(metrics, `rasa_gitops_webhook_requests_total{outcome="too-large",provider="github"} 1`) {
		t.Error("the refusal is not counted as too-large")
	}
}

func TestWebhookUnknownProviderIs404(t *testing.T) {
	s := newServer(t, &backend{}, "hook-secret")
	if code, _ := s.do(t, "POST", "/api/webhooks/bitbucket", "", "{}", nil); code != http.StatusNotFound {
		t.Errorf("%d", code)
	}
}

func TestMetricsShowStatusesAndRuns(t *testing.T) {
	s := newServer(t, &backend{}, "")
	s.m.SetStatuses([]state.EnvStatus{{Name: "production", Sync: state.Refused, Health: state.Degraded}})
	s.m.ObserveRun("healed", 20*time.Millisecond)
	s.m.ObserveRun("unchanged", time.Millisecond)
	s.m.ObserveFetch(time.Millisecond, errors.New("down"))
	_, body := s.do(t, "GET", "/metrics", "", "", nil)
	for _, want := range []string{
		`rasa_gitops_environment_sync{environment="production",status="Refused"} 1`,
		`rasa_gitops_environment_sync{environment="production",status="Synced"} 0`,
		`rasa_gitops_environment_health{environment="production",health="Degraded"} 1`,
		`rasa_gitops_runs_total{outcome="healed"} 1`,
		`rasa_gitops_reconcile_duration_seconds_count 1`,
		`rasa_gitops_git_fetch_errors_total 1`,
		`rasa_gitops_model_bytes_served_total 42`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestModelRoutesAreMounted(t *testing.T) {
	s := newServer(t, &backend{}, "")
	if code, body := s.do(t, "GET", "/models/production", "", "", nil); code != 200 || body != "model server" {
		t.Errorf("%d %q", code, body)
	}
}

func TestUnknownProvidersMakeNoMetricSeries(t *testing.T) {
	s := newServer(t, &backend{}, "hook-secret")
	for i := 0; i < 1000; i++ {
		if code, _ := s.do(t, "POST", fmt.Sprintf("/api/webhooks/made-up-%d", i), "", "{}", nil); code != http.StatusNotFound {
			t.Fatalf("made-up-%d: %d", i, code)
		}
	}
	_, body := s.do(t, "GET", "/metrics", "", "", nil)
	if n := strings.Count(body, "rasa_gitops_webhook_requests_total{"); n != 0 {
		t.Errorf("%d webhook series after 1000 unknown providers", n)
	}
}

func TestWebhooksWithoutSecretAreNotConfigured(t *testing.T) {
	s := newServer(t, &backend{}, "")
	code, body := s.do(t, "POST", "/api/webhooks/github", "", `{"ref":"refs/heads/main"}`, http.Header{"X-Hub-Signature-256": {sign("", `{"ref":"refs/heads/main"}`)}})
	if code != http.StatusNotFound || !strings.Contains(body, "not configured") || len(s.b.syncs) != 0 {
		t.Errorf("%d %s %v", code, body, s.b.syncs)
	}
}
