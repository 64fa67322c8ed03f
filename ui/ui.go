package ui

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/state"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CSP is every response's Content-Security-Policy: scripts, styles and images only
// from the daemon's own embedded files, no inline code, no framing, forms post only
// here.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Config is what the page reads and who may read it.
type Config struct {
	// State is the daemon's state: statuses, the audit log and its anchor.
	State *state.Store
	// Ready is the daemon's readiness and its reason (nil: not shown).
	Ready func() (bool, string)
	// Models is the model store, for the models kept (nil: not shown).
	Models *modelserver.Store
	// Token is the API token; ReadToken a read-only token for the page alone
	// (--ui-token-file). Either logs in; with neither, nobody does.
	Token, ReadToken string
	// RepoURL is the followed repository, for links to commits on its forge.
	RepoURL string
	// Revisions reads commits' subjects and declarations (nil: only what the state
	// records is shown).
	Revisions Revisions
	// Server is the address commands on the page send to (sync --server).
	Server string
	// Addresses are the Rasa servers' addresses by environment (nil: not shown).
	Addresses func(ctx context.Context) map[string]string
	// PlanOf says what applying a held or refused revision (a commit hash) would do
	// on the host now: the reconcile plan as text, from a preview that is not audited
	// (nil: not shown). The page asks at most once a minute per revision.
	PlanOf func(ctx context.Context, hash string) (string, error)
	// Refresh is how often the page's script fetches the environments again (5s).
	Refresh time.Duration
	// SessionTTL is how long a login lasts (12h).
	SessionTTL time.Duration
	// PageSize is the number of audit rows per history page (50).
	PageSize int
	// Now is the clock (time.Now); tests fix it.
	Now func() time.Time
	// Log is the daemon's logger; the page logs as its "ui" child.
	Log *zap.Logger
}

// Handler serves the status page.
type Handler struct {
	c        Config
	mux      *http.ServeMux
	tmpl     *template.Template
	sessions *sessions
	log      *zap.Logger
	// lastVerify is the last verification of the audit chain asked for on the page.
	lastVerify atomic.Pointer[verification]
	plans      planCache
}

// New builds the page's handler; mount it at "/" (it serves / and /ui/...).
func New(c Config) *Handler {
	if c.Refresh <= 0 {
		c.Refresh = 5 * time.Second
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.PageSize <= 0 {
		c.PageSize = 50
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	h := &Handler{c: c, sessions: newSessions(c.SessionTTL, c.Now, c.Token, c.ReadToken), log: c.Log.Named("ui")}
	h.tmpl = template.Must(template.New("").Funcs(funcs(c.Now)).ParseFS(templateFS, "templates/*.html"))
	static, _ := fs.Sub(staticFS, "static")
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /{$}", h.page("environments", h.environments))
	h.mux.HandleFunc("GET /ui/environments", h.fragment)
	h.mux.HandleFunc("GET /ui/models", h.page("models", h.models))
	h.mux.HandleFunc("GET /ui/history", h.page("history", h.history))
	h.mux.HandleFunc("GET /ui/login", func(w http.ResponseWriter, r *http.Request) { h.renderLogin(w, r, http.StatusOK, "") })
	h.mux.HandleFunc("POST /ui/login", h.login)
	h.mux.HandleFunc("POST /ui/logout", h.logout)
	h.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	return h
}

// ServeHTTP sets the security headers of every answer, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin") // no-referrer would make a browser post Origin: null
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// page is a full page: the login form without a session, else the view's data
// rendered in the layout.
func (h *Handler) page(name string, data func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.sessions.authorized(r) {
			h.renderLogin(w, r, http.StatusUnauthorized, "")
			return
		}
		d, err := data(r)
		if err != nil {
			h.fail(w, name, err)
			return
		}
		h.render(w, http.StatusOK, name, layout{Page: name, Title: titles[name], Data: d, Ready: h.ready()})
	}
}

// fragment is the environments section alone, for the page's periodic refresh.
func (h *Handler) fragment(w http.ResponseWriter, r *http.Request) {
	if !h.sessions.authorized(r) {
		http.Error(w, "log in again", http.StatusUnauthorized)
		return
	}
	d, err := h.environments(r)
	if err != nil {
		h.fail(w, "environments", err)
		return
	}
	h.render(w, http.StatusOK, "envs", d)
}

var titles = map[string]string{"environments": "Environments", "models": "Models", "history": "History", "login": "Log in"}

// layout is what every full page renders around its view.
type layout struct {
	Page, Title string
	Data        any
	Ready       *readiness
	Error       string
	Next        string
}

type readiness struct {
	OK     bool
	Reason string
}

func (h *Handler) ready() *readiness {
	if h.c.Ready == nil {
		return nil
	}
	ok, why := h.c.Ready()
	return &readiness{OK: ok, Reason: why}
}

// renderLogin shows the login form (and no data).
func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, code int, msg string) {
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet || r.URL.Path == "/ui/login" {
		next = r.FormValue("next")
	}
	h.render(w, code, "login", layout{Page: "login", Title: titles["login"], Error: msg, Next: safeNext(next)})
}

// render executes a template into a buffer first, so a failure is a clean 500.
func (h *Handler) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		h.fail(w, name, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// fail logs why a view could not be built and answers 500 without the details.
func (h *Handler) fail(w http.ResponseWriter, view string, err error) {
	h.log.Error("render the status page", zap.String("view", view), zap.Error(err))
	http.Error(w, "the status page could not be built: the daemon's log says why", http.StatusInternalServerError)
}

func remoteField(r *http.Request) zap.Field { return zap.String("remote", r.RemoteAddr) }
