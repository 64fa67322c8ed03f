package redact

import "testing"

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:tok3n@git.example.com/team/repo.git":          "https://…@git.example.com/team/repo.git",
		"ssh://git@127.0.0.1:2222/srv/deploy.git":                   "ssh://…@127.0.0.1:2222/srv/deploy.git",
		"https://models.example.com/m.tar.gz?sig=secret&exp=1":      "https://models.example.com/m.tar.gz?…",
		"https://oauth2:glpat-xyz@gitlab.com/g/r.git?private=token": "https://…@gitlab.com/g/r.git?…",
		"git://127.0.0.1:9418/deploy.git":                           "git://127.0.0.1:9418/deploy.git",
		"/srv/git/deploy.git":                                       "/srv/git/deploy.git",
		"git@github.com:team/repo.git":                              "…@github.com:team/repo.git",
		"https://user:p%zz@host/x":                                  "https://…",
		"deploy.git?token=x":                                        "deploy.git?…",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzURL(f *testing.F) {
	f.Add("https://user:secretpassword@host/path?token=secrettoken")
	f.Fuzz(func(t *testing.T, u string) {
		got := URL(u)
		for _, secret := range []string{"secretpassword", "secrettoken"} {
			if contains(u, "@"+secret) || contains(u, ":"+secret+"@") {
				if contains(got, secret) {
					t.Fatalf("%q → %q keeps %s", u, got, secret)
				}
			}
		}
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
