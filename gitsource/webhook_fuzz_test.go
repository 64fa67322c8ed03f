package gitsource

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"
	"unicode/utf8"
)

// FuzzCheckWebhook: no header, body or secret panics CheckWebhook; a body signed with
// the secret is accepted by every HMAC provider, and the same signature over another
// body is refused.
func FuzzCheckWebhook(f *testing.F) {
	f.Add([]byte(`{"ref":"refs/heads/main"}`), "secret", "sha256=00", uint8(0))
	f.Add([]byte{}, "s", "", uint8(3))
	f.Fuzz(func(t *testing.T, body []byte, secret, header string, which uint8) {
		providers := []string{GitHub, Gitea, GitLab, Generic, "other"}
		provider := providers[int(which)%len(providers)]
		h := http.Header{}
		for _, k := range []string{"X-Hub-Signature-256", "X-Gitea-Signature", "X-Gitlab-Token", "X-Signature-256"} {
			h.Set(k, header)
		}
		_ = CheckWebhook(provider, h, body, secret) // must not panic
		if secret == "" {
			return
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		sig := hex.EncodeToString(mac.Sum(nil))
		signed := http.Header{"X-Hub-Signature-256": {"sha256=" + sig}, "X-Gitea-Signature": {sig}, "X-Signature-256": {"sha256=" + sig}}
		for _, p := range []string{GitHub, Gitea, Generic} {
			if err := CheckWebhook(p, signed, body, secret); err != nil {
				t.Fatalf("%s: a correctly signed body was refused: %v", p, err)
			}
			if err := CheckWebhook(p, signed, append(append([]byte{}, body...), 'x'), secret); err == nil {
				t.Fatalf("%s: the signature of another body was accepted", p)
			}
		}
	})
}

// FuzzWebhookBranch: any payload gives a branch or nothing, never a panic; a push
// payload gives its branch.
func FuzzWebhookBranch(f *testing.F) {
	f.Add([]byte(`{"ref":"refs/heads/main"}`), "feature/x")
	f.Add([]byte(`[]`), "")
	f.Fuzz(func(t *testing.T, body []byte, branch string) {
		_ = WebhookBranch(body)
		payload, err := json.Marshal(map[string]string{"ref": "refs/heads/" + branch})
		if err != nil {
			return
		}
		if got := WebhookBranch(payload); got != branch && utf8.ValidString(branch) { // JSON replaces invalid UTF-8
			t.Fatalf("branch %q read as %q", branch, got)
		}
	})
}
