package ui

import "testing"

// TestCommitLinks: a commit links to its forge for GitHub, GitLab and Gitea-style
// hosts over https or ssh, without the URL's credentials; other repositories link
// nowhere.
func TestCommitLinks(t *testing.T) {
	const hash = "0123456789abcdef0123456789abcdef01234567"
	for repo, want := range map[string]string{
		"https://github.com/acme/assistants.git":                "https://github.com/acme/assistants/commit/" + hash,
		"https://x-access-token:s3cret@github.com/acme/a":       "https://github.com/acme/a/commit/" + hash,
		"git@github.com:acme/assistants.git":                    "https://github.com/acme/assistants/commit/" + hash,
		"ssh://git@gitlab.example.com:2222/team/sub/deploy.git": "https://gitlab.example.com/team/sub/deploy/-/commit/" + hash,
		"https://gitlab.com/team/deploy":                        "https://gitlab.com/team/deploy/-/commit/" + hash,
		"https://codeberg.org/team/deploy.git":                  "https://codeberg.org/team/deploy/commit/" + hash,
		"https://gitea.example.com/team/deploy.git":             "https://gitea.example.com/team/deploy/commit/" + hash,
		"https://git.example.com/team/deploy.git":               "",
		"git://127.0.0.1:9418/deploy.git":                       "",
		"/srv/git/deploy.git":                                   "",
		"https://github.com/justowner":                          "",
		"":                                                      "",
	} {
		if got := parseRevision("main@sha1:"+hash, commitBase(repo)).URL; got != want {
			t.Errorf("%q: link %q, want %q", repo, got, want)
		}
	}
	if r := parseRevision("dir@abc", commitBase("https://github.com/a/b")); r.URL != "" || r.Short != "dir@abc" {
		t.Errorf("an unknown revision: %+v", r)
	}
	local := "local@sha256:" + hash[:24] + hash
	if r := parseRevision(local, commitBase("https://github.com/a/b")); r.URL != "" || r.Short != "local@sha256:"+hash[:12] || r.Full != local {
		t.Errorf("serve's directory revision: %+v", r)
	}
}
