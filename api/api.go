// Package api is the daemon's HTTP surface (docs/ARCHITECTURE.md): health, readiness, Prometheus
// metrics, status and history, sync, the Git webhooks, and the model server and upload
// (mounted from modelserver). Everything but health, metrics, the webhooks (which carry
// their own signatures) and the model server (which checks the model token) needs the
// API bearer token.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rasa-gitops/rasa-gitops/gitsource"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// Backend is what the API reads and triggers; the daemon implements it.
type Backend interface {
	Ready() (bool, string)
	Statuses(ctx context.Context) ([]state.EnvStatus, error)
	History(ctx context.Context, f state.Filter) ([]state.Row, error)
	// Sync asks for a reconcile (fetch first); forceWindow overrides change windows once.
	Sync(reason string, forceWindow bool)
	// Branch is the followed branch, for the webhooks' branch filter.
	Branch() string
}

// DefaultMaxWebhookBody is a webhook body's default bound: a push of many commits is
// well under it, and GitHub caps payloads at 25 MB.
const DefaultMaxWebhookBody = 5 << 20

// Config configures the API.
type Config struct {
	Backend       Backend
	Token         string // bearer token of /api/*
	WebhookSecret string
	// MaxWebhookBody bounds a webhook's body in bytes (default DefaultMaxWebhookBody);
	// a larger one is answered 413 before the signature is checked.
	MaxWebhookBody int64
	Models         http.Handler // the model server and upload
	ModelRoutes    []string
	Metrics        *Metrics
	// Preview, when set, answers POST /api/preview (preview.Service).
	Preview Previewer
	// UI, when set, is the status page (package ui), mounted at "/": it answers / and
	// /ui/... with its own login.
	UI http.Handler
}

// New builds the handler.
func New(c Config) http.Handler {
	s := &handlers{c: c}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	if c.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(c.Metrics.Registry, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /api/status", s.auth(s.status))
	mux.HandleFunc("GET /api/history", s.auth(s.history))
	mux.HandleFunc("POST /api/sync", s.auth(s.sync))
	mux.HandleFunc("POST /api/webhooks/{provider}", s.webhook)
	if c.Preview != nil {
		mux.HandleFunc("POST /api/preview", s.auth(s.preview))
	}
	if c.Models != nil {
		for _, p := range c.ModelRoutes {
			mux.Handle(p, c.Models)
		}
	}
	if c.UI != nil {
		mux.Handle("/", c.UI)
	}
	return mux
}

// WebhookProviders are the webhook providers a daemon with this secret accepts: every
// one with a secret, none without (their requests answer 404).
func WebhookProviders(secret string) []string {
	if secret == "" {
		return []string{}
	}
	return []string{gitsource.GitHub, gitsource.GitLab, gitsource.Gitea, gitsource.Generic}
}

// handlers hold the handlers' configuration.
type handlers struct{ c Config }

// readyz answers 503 while the last run failed; the reason may quote a revision's
// problems, so it is behind /api/status.
func (s *handlers) readyz(w http.ResponseWriter, _ *http.Request) {
	if ok, _ := s.c.Backend.Ready(); !ok {
		http.Error(w, "not ready (GET /api/status says why)", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// auth lets a request through only with the API bearer token (compared in constant time).
func (s *handlers) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		const prefix = "Bearer "
		v := r.Header.Get("Authorization")
		if s.c.Token == "" || !strings.HasPrefix(v, prefix) || subtle.ConstantTimeCompare([]byte(v[len(prefix):]), []byte(s.c.Token)) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "send Authorization: Bearer <api token>"})
			return
		}
		h(w, r)
	}
}

// status is the status model of every environment, with the daemon's readiness.
func (s *handlers) status(w http.ResponseWriter, r *http.Request) {
	rows, err := s.c.Backend.Statuses(r.Context())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	ready, why := s.c.Backend.Ready()
	writeJSON(w, http.StatusOK, map[string]any{"ready": ready, "reason": why, "environments": rows})
}

// history is the audit log, filtered by env, since and limit (default 100).
func (s *handlers) history(w http.ResponseWriter, r *http.Request) {
	f, err := historyFilter(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	rows, err := s.c.Backend.History(r.Context(), f)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	if len(rows) == f.Limit && rows[len(rows)-1].ID > 1 {
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", nextPage(r, rows[len(rows)-1].ID)))
	}
	writeJSON(w, http.StatusOK, rows)
}

// MaxHistoryPage is the most audit rows one /api/history answer holds; more are
// paged with ?before=<last id> (the Link header's rel="next").
const MaxHistoryPage = 1000

// nextPage is the URL of the page after the one ending at row lastID.
func nextPage(r *http.Request, lastID int64) string {
	q := r.URL.Query()
	q.Set("before", strconv.FormatInt(lastID, 10))
	return r.URL.Path + "?" + q.Encode()
}

// historyFilter reads the history query parameters.
func historyFilter(r *http.Request) (state.Filter, error) {
	f := state.Filter{Environment: r.URL.Query().Get("env"), Limit: 100}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxHistoryPage {
			return f, fmt.Errorf("limit must be a whole number from 1 to %d: page further with ?before=<id> (the Link header's next page)", MaxHistoryPage)
		}
		f.Limit = n
	}
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, errors.New("before must be a row id (a whole number from 1)")
		}
		f.Before = n
	}
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return f, errors.New("since must be an RFC 3339 time")
		}
		f.Since = t
	}
	return f, nil
}

// sync asks for a run now; ?forceWindow=true lets held changes through once.
func (s *handlers) sync(w http.ResponseWriter, r *http.Request) {
	force := r.URL.Query().Get("forceWindow") == "true"
	s.c.Backend.Sync("api", force)
	writeJSON(w, http.StatusAccepted, map[string]any{"accepted": true, "force_window": force})
}

// webhook checks a forge's push notification and, for the followed branch, asks for a
// run. A webhook is only a hint: the daemon fetches and trusts what Git says.
func (s *handlers) webhook(w http.ResponseWriter, r *http.Request) {
	provider := r.PathValue("provider")
	switch provider {
	case gitsource.GitHub, gitsource.GitLab, gitsource.Gitea, gitsource.Generic:
	default:
		// No metric series for a name anyone can make up.
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "providers: github, gitlab, gitea, generic"})
		return
	}
	code, body, outcome := s.checkWebhook(w, r, provider)
	if s.c.Metrics != nil {
		s.c.Metrics.Webhooks.WithLabelValues(provider, outcome).Inc()
	}
	writeJSON(w, code, body)
}

// checkWebhook decides a known provider's webhook answer and its outcome for the
// metrics.
func (s *handlers) checkWebhook(w http.ResponseWriter, r *http.Request, provider string) (int, any, string) {
	if s.c.WebhookSecret == "" {
		return http.StatusNotFound, map[string]string{"error": "webhooks are not configured: start the daemon with --webhook-secret-file"}, "not-configured"
	}
	limit := s.c.MaxWebhookBody
	if limit <= 0 {
		limit = DefaultMaxWebhookBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("the webhook body is larger than %s: raise --max-webhook-body", units.BytesSize(float64(limit)))}, "too-large"
	}
	if err != nil {
		return http.StatusBadRequest, map[string]string{"error": "unreadable body"}, "bad-request"
	}
	if err := gitsource.CheckWebhook(provider, r.Header, body, s.c.WebhookSecret); err != nil {
		return http.StatusUnauthorized, map[string]string{"error": err.Error()}, "unauthorized"
	}
	if b := gitsource.WebhookBranch(body); b != "" && b != s.c.Backend.Branch() {
		return http.StatusAccepted, map[string]any{"ignored": "push to " + b + ", following " + s.c.Backend.Branch()}, "ignored"
	}
	s.c.Backend.Sync("webhook:"+provider, false)
	return http.StatusAccepted, map[string]any{"accepted": true}, "accepted"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// Metrics are the daemon's Prometheus metrics (rasa_gitops_*).
type Metrics struct {
	Registry    *prometheus.Registry
	Reconcile   prometheus.Histogram
	Runs        *prometheus.CounterVec
	Sync        *prometheus.GaugeVec
	Health      *prometheus.GaugeVec
	Fetch       prometheus.Histogram
	FetchErrors prometheus.Counter
	Webhooks    *prometheus.CounterVec
	// AuditRows and AuditHead export the audit chain's anchor, so that a scraper keeps
	// a record the database's owner cannot rewrite.
	AuditRows prometheus.Gauge
	AuditHead *prometheus.GaugeVec
	// AnchorErrors counts anchors that could not be pushed to the Git ref.
	AnchorErrors prometheus.Counter
}

// NewMetrics registers the metrics; bytesServed reads the model server's counter.
func NewMetrics(bytesServed func() float64) *Metrics {
	m := &Metrics{
		Registry:     prometheus.NewRegistry(),
		Reconcile:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rasa_gitops_reconcile_duration_seconds", Help: "Duration of reconcile runs.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		Runs:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rasa_gitops_runs_total", Help: "Reconcile runs by outcome."}, []string{"outcome"}),
		Sync:         prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rasa_gitops_environment_sync", Help: "1 for the current sync status of each environment."}, []string{"environment", "status"}),
		Health:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rasa_gitops_environment_health", Help: "1 for the current health of each environment."}, []string{"environment", "health"}),
		Fetch:        prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rasa_gitops_git_fetch_duration_seconds", Help: "Duration of git fetches.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		FetchErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "rasa_gitops_git_fetch_errors_total", Help: "Failed git fetches."}),
		Webhooks:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rasa_gitops_webhook_requests_total", Help: "Webhook requests by provider and outcome."}, []string{"provider", "outcome"}),
		AuditRows:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "rasa_gitops_audit_rows", Help: "Rows in the audit log's hash chain (its anchor's count)."}),
		AuditHead:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rasa_gitops_audit_head_info", Help: "1 for the audit chain's head hash (its anchor)."}, []string{"hash"}),
		AnchorErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "rasa_gitops_audit_anchor_errors_total", Help: "Audit anchors that could not be pushed to the Git ref."}),
	}
	m.Registry.MustRegister(m.Reconcile, m.Runs, m.Sync, m.Health, m.Fetch, m.FetchErrors, m.Webhooks, m.AuditRows, m.AuditHead, m.AnchorErrors,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rasa_gitops_model_bytes_served_total", Help: "Model bytes sent by the model server."}, bytesServed),
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// ObserveRun counts a run by outcome and times it (a run with nothing to do is not
// timed: the histogram shows the cost of real work).
func (m *Metrics) ObserveRun(outcome string, d time.Duration) {
	m.Runs.WithLabelValues(outcome).Inc()
	if outcome != "unchanged" {
		m.Reconcile.Observe(d.Seconds())
	}
}

// ObserveFetch times a Git fetch and counts a failed one.
func (m *Metrics) ObserveFetch(d time.Duration, err error) {
	m.Fetch.Observe(d.Seconds())
	if err != nil {
		m.FetchErrors.Inc()
	}
}

// CountDockerEvents exports the daemon's Docker event counts: events that asked for a
// heal run, and events of the daemon's own actions that asked for none.
func (m *Metrics) CountDockerEvents(counts func() (heal, own int64)) {
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rasa_gitops_docker_events_total", Help: "Docker events of the project's containers, by kind: heal (asked for a heal run) or own (caused by the daemon's own actions; no run).", ConstLabels: prometheus.Labels{"kind": "heal"}},
			func() float64 { h, _ := counts(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rasa_gitops_docker_events_total", Help: "Docker events of the project's containers, by kind: heal (asked for a heal run) or own (caused by the daemon's own actions; no run).", ConstLabels: prometheus.Labels{"kind": "own"}},
			func() float64 { _, o := counts(); return float64(o) }))
}

// SetAuditHead publishes the audit chain's anchor; err is a failed push of it.
func (m *Metrics) SetAuditHead(a state.Anchor, err error) {
	m.AuditRows.Set(float64(a.Rows))
	m.AuditHead.Reset()
	m.AuditHead.WithLabelValues(a.Hash).Set(1)
	if err != nil {
		m.AnchorErrors.Inc()
	}
}

// SetStatuses publishes each environment's sync status and health.
func (m *Metrics) SetStatuses(rows []state.EnvStatus) {
	m.Sync.Reset()
	m.Health.Reset()
	for _, r := range rows {
		for _, s := range []state.Sync{state.Synced, state.OutOfSync, state.Pending, state.Refused, state.Failed} {
			v := 0.0
			if r.Sync == s {
				v = 1
			}
			m.Sync.WithLabelValues(r.Name, string(s)).Set(v)
		}
		for _, h := range []state.Health{state.Healthy, state.Progressing, state.Degraded, state.Missing} {
			v := 0.0
			if r.Health == h {
				v = 1
			}
			m.Health.WithLabelValues(r.Name, string(h)).Set(v)
		}
	}
}
