package gitsource

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Webhook providers.
const (
	GitHub  = "github"
	GitLab  = "gitlab"
	Gitea   = "gitea"
	Generic = "generic"
)

// ErrBadSignature is a webhook whose signature or token is missing or wrong.
var ErrBadSignature = errors.New("missing or wrong webhook signature")

// CheckWebhook authenticates a webhook in constant time: GitHub's X-Hub-Signature-256
// and Gitea's X-Gitea-Signature (HMAC-SHA256 of the body), GitLab's X-Gitlab-Token
// (the secret itself), and for generic senders X-Signature-256 ("sha256=<hex>" HMAC of
// the body). A webhook is only a hint to fetch; its content is never trusted.
func CheckWebhook(provider string, h http.Header, body []byte, secret string) error {
	if secret == "" {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := mac.Sum(nil)
	hexSig := func(v string) bool {
		got, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(v), "sha256="))
		return err == nil && hmac.Equal(got, want)
	}
	var ok bool
	switch provider {
	case GitHub:
		ok = strings.HasPrefix(h.Get("X-Hub-Signature-256"), "sha256=") && hexSig(h.Get("X-Hub-Signature-256"))
	case Gitea:
		ok = h.Get("X-Gitea-Signature") != "" && hexSig(h.Get("X-Gitea-Signature"))
	case GitLab:
		ok = subtle.ConstantTimeCompare([]byte(h.Get("X-Gitlab-Token")), []byte(secret)) == 1
	case Generic:
		v := h.Get("X-Signature-256")
		if v == "" {
			v = h.Get("X-Hub-Signature-256")
		}
		ok = strings.HasPrefix(v, "sha256=") && hexSig(v)
	default:
		return errors.New("unknown webhook provider")
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}

// WebhookBranch reads the branch a push event names ("ref": "refs/heads/<branch>");
// empty when the payload names none (then every branch matches).
func WebhookBranch(body []byte) string {
	var p struct {
		Ref string `json:"ref"`
	}
	if json.Unmarshal(body, &p) != nil {
		return ""
	}
	return strings.TrimPrefix(p.Ref, "refs/heads/")
}
