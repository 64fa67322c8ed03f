package hostcfg

import (
	"errors"
	"strings"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// TestCheckModelServer: the address traps a new user fell into are refused with the
// fix; addresses the containers reach pass; without a model nothing is checked.
func TestCheckModelServer(t *testing.T) {
	withModel := []compose.Environment{{Name: "production", Model: "moodbot"}}
	for _, tc := range []struct {
		url, listen string
		envs        []compose.Environment
		says        string // "" means accepted
	}{
		{"http://host.docker.internal:8080", ":8080", withModel, ""},
		{"http://host.docker.internal:8080", "0.0.0.0:8080", withModel, ""},
		{"http://host.docker.internal:8080", "172.17.0.1:8080", withModel, ""},
		{"http://models.internal", "[::]:80", withModel, ""},
		{"http://host.docker.internal:8080", "127.0.0.1:8080", withModel, "--listen 127.0.0.1:8080 is loopback-only"},
		{"http://host.docker.internal:8080", "localhost:8080", withModel, "listen on :8080 (all addresses)"},
		{"http://host.docker.internal:8080", "[::1]:8080", withModel, "loopback-only"},
		{"http://host.docker.internal:8080", ":18080", withModel, "--listen :18080 is on port 18080 but modelServer.url http://host.docker.internal:8080 in rasa-gitops.yaml is on port 8080, so the Rasa servers would never load their models: use --listen :8080, or change the URL's port to 18080"},
		{"https://models.example.com", ":8080", withModel, "on port 443"},
		{"http://127.0.0.1:8080", ":8080", withModel, "use http://host.docker.internal:8080"},
		{"http://host.docker.internal:8080", "8080", withModel, "is not host:port: use :8080"},
		{"http://127.0.0.1:1", "127.0.0.1:0", []compose.Environment{{Name: "production"}}, ""},
		{"http://host.docker.internal:8080", "", withModel, ""},
	} {
		d := &compose.Declaration{ModelServerURL: tc.url, Environments: tc.envs}
		err := CheckModelServer(tc.listen, d)
		var mismatch *ModelServerMismatch
		switch {
		case tc.says == "" && err != nil:
			t.Errorf("%s / %q: refused: %v", tc.url, tc.listen, err)
		case tc.says != "" && (!errors.As(err, &mismatch) || !strings.Contains(err.Error(), tc.says)):
			t.Errorf("%s / %q: %v, want a refusal saying %q", tc.url, tc.listen, err, tc.says)
		}
	}
}
