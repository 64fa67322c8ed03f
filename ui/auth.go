package ui

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CookieName is the session cookie's name.
const CookieName = "rasa_gitops_session"

// sessions issues and checks session cookies. A session is its expiry and an HMAC of
// it keyed by a hash of the accepted tokens: the cookie proves a login happened
// without holding a token, and changing a token ends every session.
type sessions struct {
	key    []byte
	tokens [][]byte
	ttl    time.Duration
	now    func() time.Time
}

func newSessions(ttl time.Duration, now func() time.Time, tokens ...string) *sessions {
	s := &sessions{ttl: ttl, now: now}
	h := sha256.New()
	h.Write([]byte("rasa-gitops ui session key\n"))
	for _, t := range tokens {
		if t == "" {
			continue
		}
		s.tokens = append(s.tokens, []byte(t))
		h.Write([]byte(t))
		h.Write([]byte{0})
	}
	s.key = h.Sum(nil)
	return s
}

// validToken says whether t is one of the accepted tokens (constant time per token).
func (s *sessions) validToken(t string) bool {
	ok := 0
	for _, want := range s.tokens {
		ok |= subtle.ConstantTimeCompare([]byte(t), want)
	}
	return ok == 1 && t != ""
}

// value is the cookie value of a session ending at expiry.
func (s *sessions) value(expiry time.Time) string {
	exp := strconv.FormatInt(expiry.Unix(), 10)
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("session|" + exp))
	return "v1." + exp + "." + hex.EncodeToString(m.Sum(nil))
}

// valid says whether a cookie value is a session this daemon issued that has not
// expired.
func (s *sessions) valid(v string) bool {
	parts := strings.Split(v, ".")
	if len(s.tokens) == 0 || len(parts) != 3 || parts[0] != "v1" {
		return false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || s.now().Unix() >= exp {
		return false
	}
	return hmac.Equal([]byte(v), []byte(s.value(time.Unix(exp, 0))))
}

// authorized says whether a request carries a valid session cookie or a bearer token.
func (s *sessions) authorized(r *http.Request) bool {
	if c, err := r.Cookie(CookieName); err == nil && s.valid(c.Value) {
		return true
	}
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.validToken(v)
}

// cookie is the session cookie set at login (maxAge < 0 clears it at logout).
func (s *sessions) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: CookieName, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: overTLS(r)}
}

// overTLS says the browser reached the page over https: directly, or through a proxy
// that terminates TLS and says so (X-Forwarded-Proto). Trusting the header only
// decides the cookie's Secure flag, which can only make the cookie stricter.
func overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// sameOrigin refuses a form posted from another site: a browser names the page a
// form came from in Origin, which must be this host.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser's cross-site form (those always send Origin on POST)
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// login checks the submitted token and starts a session, or shows the form again.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "a form from another site", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil || !h.sessions.validToken(r.PostForm.Get("token")) {
		h.log.Info("ui login refused", remoteField(r))
		h.renderLogin(w, r, http.StatusUnauthorized, "That token is not accepted.")
		return
	}
	expiry := h.sessions.now().Add(h.sessions.ttl)
	http.SetCookie(w, h.sessions.cookie(r, h.sessions.value(expiry), int(h.sessions.ttl.Seconds())))
	h.log.Info("ui login", remoteField(r))
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

// logout clears the session cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "a form from another site", http.StatusForbidden)
		return
	}
	http.SetCookie(w, h.sessions.cookie(r, "", -1))
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site's own pages.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}
