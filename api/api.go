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
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

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

// Config configures the API.
type Config struct {
	Backend       Backend
	Token         string // bearer token of /api/*
	WebhookSecret string
	Models        http.Handler // the model server and upload
	ModelRoutes   []string
	Metrics       *Metrics
}

// New builds the handler.
func New(c Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ok, _ := c.Backend.Ready(); !ok {
			// The reason may quote a revision's problems: it is behind /api/status.
			http.Error(w, "not ready (GET /api/status says why)", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	if c.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(c.Metrics.Registry, promhttp.HandlerOpts{}))
	}
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			const prefix = "Bearer "
			v := r.Header.Get("Authorization")
			if c.Token == "" || !strings.HasPrefix(v, prefix) || subtle.ConstantTimeCompare([]byte(v[len(prefix):]), []byte(c.Token)) != 1 {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "send Authorization: Bearer <api token>"})
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/status", auth(func(w http.ResponseWriter, r *http.Request) {
		rows, err := c.Backend.Statuses(r.Context())
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		ready, why := c.Backend.Ready()
		writeJSON(w, http.StatusOK, map[string]any{"ready": ready, "reason": why, "environments": rows})
	}))
	mux.HandleFunc("GET /api/history", auth(func(w http.ResponseWriter, r *http.Request) {
		f := state.Filter{Environment: r.URL.Query().Get("env"), Limit: 100}
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be a whole number"})
				return
			}
			f.Limit = n
		}
		if v := r.URL.Query().Get("since"); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "since must be an RFC 3339 time"})
				return
			}
			f.Since = t
		}
		rows, err := c.Backend.History(r.Context(), f)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, rows)
	}))
	mux.HandleFunc("POST /api/sync", auth(func(w http.ResponseWriter, r *http.Request) {
		force := r.URL.Query().Get("forceWindow") == "true"
		c.Backend.Sync("api", force)
		writeJSON(w, http.StatusAccepted, map[string]any{"accepted": true, "force_window": force})
	}))
	mux.HandleFunc("POST /api/webhooks/{provider}", func(w http.ResponseWriter, r *http.Request) {
		provider := r.PathValue("provider")
		outcome := "accepted"
		defer func() {
			if c.Metrics != nil {
				c.Metrics.Webhooks.WithLabelValues(provider, outcome).Inc()
			}
		}()
		switch provider {
		case gitsource.GitHub, gitsource.GitLab, gitsource.Gitea, gitsource.Generic:
		default:
			outcome = "unknown"
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "providers: github, gitlab, gitea, generic"})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 5<<20))
		if err != nil {
			outcome = "bad-request"
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body too large or unreadable"})
			return
		}
		if err := gitsource.CheckWebhook(provider, r.Header, body, c.WebhookSecret); err != nil {
			outcome = "unauthorized"
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
			return
		}
		if b := gitsource.WebhookBranch(body); b != "" && b != c.Backend.Branch() {
			outcome = "ignored"
			writeJSON(w, http.StatusAccepted, map[string]any{"ignored": "push to " + b + ", following " + c.Backend.Branch()})
			return
		}
		// A webhook is only a hint: the daemon fetches and trusts what Git says.
		c.Backend.Sync("webhook:"+provider, false)
		writeJSON(w, http.StatusAccepted, map[string]any{"accepted": true})
	})
	if c.Models != nil {
		for _, p := range c.ModelRoutes {
			mux.Handle(p, c.Models)
		}
	}
	return mux
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
}

// NewMetrics registers the metrics; bytesServed reads the model server's counter.
func NewMetrics(bytesServed func() float64) *Metrics {
	m := &Metrics{
		Registry:    prometheus.NewRegistry(),
		Reconcile:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rasa_gitops_reconcile_duration_seconds", Help: "Duration of reconcile runs.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		Runs:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rasa_gitops_runs_total", Help: "Reconcile runs by outcome."}, []string{"outcome"}),
		Sync:        prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rasa_gitops_environment_sync", Help: "1 for the current sync status of each environment."}, []string{"environment", "status"}),
		Health:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rasa_gitops_environment_health", Help: "1 for the current health of each environment."}, []string{"environment", "health"}),
		Fetch:       prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rasa_gitops_git_fetch_duration_seconds", Help: "Duration of git fetches.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		FetchErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "rasa_gitops_git_fetch_errors_total", Help: "Failed git fetches."}),
		Webhooks:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rasa_gitops_webhook_requests_total", Help: "Webhook requests by provider and outcome."}, []string{"provider", "outcome"}),
	}
	m.Registry.MustRegister(m.Reconcile, m.Runs, m.Sync, m.Health, m.Fetch, m.FetchErrors, m.Webhooks,
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
