package ui

import (
	"net/url"
	"regexp"
	"strings"
)

// revision is a revision as the page shows it: "main@sha1:<hash>" split into its
// branch and hash, with a link to the commit when the repository is on a known forge.
type revision struct {
	Full, Branch, Hash, Short, URL string
	Author, Signer, Subject        string
}

var (
	sha1Rev  = regexp.MustCompile(`^(.*)@sha1:([0-9a-f]{40})$`)
	localRev = regexp.MustCompile(`^(.*@sha256:[0-9a-f]{12})[0-9a-f]{52}$`)
)

// parseRevision reads a revision of the state; a directory revision (serve,
// local@sha256:<fingerprint>) is shortened, anything else keeps its text.
func parseRevision(full, commitBase string) revision {
	r := revision{Full: full, Short: full}
	m := sha1Rev.FindStringSubmatch(full)
	if m == nil {
		if l := localRev.FindStringSubmatch(full); l != nil {
			r.Short = l[1] // serve's directory: the fingerprint of its content
		}
		return r
	}
	r.Branch, r.Hash, r.Short = m[1], m[2], m[2][:10]
	if commitBase != "" {
		r.URL = commitBase + r.Hash
	}
	return r
}

// commitBase is the prefix of a commit's web page on the repository's forge, or ""
// when the forge is not known: GitHub, GitLab (any host named gitlab…) and
// Gitea-style forges (Gitea, Forgejo, Codeberg) over https or ssh.
func commitBase(repo string) string {
	host, path := forgePath(repo)
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if host == "" || strings.Count(path, "/") < 1 || strings.ContainsAny(path, "?#") {
		return ""
	}
	base := "https://" + host + "/" + path
	switch h := strings.ToLower(host); {
	case h == "github.com":
		return base + "/commit/"
	case strings.HasPrefix(h, "gitlab.") || strings.Contains(h, ".gitlab."):
		return base + "/-/commit/"
	case h == "codeberg.org" || strings.HasPrefix(h, "gitea.") || strings.HasPrefix(h, "forgejo."):
		return base + "/commit/"
	}
	return ""
}

// forgePath is the host and repository path of an https, ssh or scp-style URL,
// without its credentials.
func forgePath(repo string) (host, path string) {
	if u, err := url.Parse(repo); err == nil && (u.Scheme == "https" || u.Scheme == "ssh") && u.Host != "" {
		return u.Hostname(), u.Path
	}
	// scp-style: git@github.com:owner/repo.git
	if at := strings.Index(repo, "@"); at >= 0 && !strings.Contains(repo, "://") {
		if h, p, ok := strings.Cut(repo[at+1:], ":"); ok {
			return h, p
		}
	}
	return "", ""
}
