package compose

import (
	"context"
	"strings"
	"testing"
)

func TestMaskFragments(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{`Invalid ip address supersecretvalue:80: too many colons`, `Invalid ip address ******** too many colons`},
		{`quoted "ecretv" here`, `quoted "********" here`},
		{`short secr here`, `short secr here`}, // 4 characters of it: kept
		{`the variable "${SUPER_SECRET}" is bad`, `the variable "${SUPER_SECRET}" is bad`},
		{`pässwörd-ünïcode in it`, `******** in it`},
		{`a\"quote\\back and more`, `a******** and more`},
		{"line one\nsecond-line-x", "line one********"},
	} {
		got := MaskFragments(tc.msg, []string{"supersecretvalue:80:90:100", "pässwörd-ünïcode", `\"quote\\back`, "\nsecond-line-x"})
		if got != tc.want {
			t.Errorf("MaskFragments(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
	if got := MaskFragments("nothing to hide", nil); got != "nothing to hide" {
		t.Errorf("no secrets: %q", got)
	}
}

// TestComposeErrorsMaskValueFragments: compose-go quotes a malformed value cut at
// its colons; no run of 6 characters of the value reaches the problem.
func TestComposeErrorsMaskValueFragments(t *testing.T) {
	secret := "supersecretvalue:80:90:100"
	files := with(baseFiles(),
		"rasa-gitops.yaml", "version: 1\nproject: demo\ncompose:\n  files: [compose/base.yml]\n",
		"compose/base.yml", "services:\n  db:\n    image: postgres:13\n    ports: [\"${DB_PASSWORD}\"]\n")
	_, err := Validate(context.Background(), writeRepo(t, files), LoadOptions{Env: map[string]string{"DB_PASSWORD": secret}})
	if err == nil {
		t.Fatal("a malformed port was accepted")
	}
	msg := err.Error()
	if !strings.Contains(msg, "compose/base.yml:") {
		t.Errorf("the problem is not placed: %s", msg)
	}
	for i := 0; i+MinFragment <= len(secret); i++ {
		if frag := secret[i : i+MinFragment]; strings.Contains(msg, frag) {
			t.Errorf("fragment %q of the value leaked: %s", frag, msg)
		}
	}
}
