// Package redact removes credentials from what rasa-gitops writes about a URL: the
// Git repository in logs and errors, a model's download source in errors. One
// function for both, so a credential cannot leak through the one that forgot a case.
package redact

import (
	"net/url"
	"strings"
)

// URL returns u without the credentials a URL may carry: the user and password
// (written "…@"), and the query string (written "?…"; a signed download URL carries
// its token there). A scheme URL that does not parse is written as its scheme only,
// and an scp-like address (user@host:path) loses its user and query, so an
// unparsable credential is not echoed either.
func URL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme == "" && parsed.Host == "") {
		return cutAtSecret(u)
	}
	var b strings.Builder
	b.WriteString(parsed.Scheme + "://")
	if parsed.User != nil {
		b.WriteString("…@")
	}
	b.WriteString(parsed.Host + parsed.EscapedPath())
	if parsed.RawQuery != "" || parsed.ForceQuery {
		b.WriteString("?…")
	}
	return b.String()
}

// cutAtSecret redacts what url.Parse could not read.
func cutAtSecret(u string) string {
	if scheme, _, ok := strings.Cut(u, "://"); ok {
		return scheme + "://…"
	}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i] + "?…"
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = "…" + u[i:]
	}
	return u
}
