package ui

import (
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// TestAddress: a Rasa container's address is its published port (on loopback when
// published on every address), else its service on the project network.
func TestAddress(t *testing.T) {
	labels := map[string]string{compose.LabelService: "rasa-production"}
	for _, tc := range []struct {
		ports []container.Port
		want  string
	}{
		{[]container.Port{{IP: "127.0.0.1", PrivatePort: 5005, PublicPort: 5005, Type: "tcp"}}, "http://127.0.0.1:5005"},
		{[]container.Port{{IP: "0.0.0.0", PrivatePort: 5005, PublicPort: 8005, Type: "tcp"}}, "http://127.0.0.1:8005"},
		{[]container.Port{{IP: "::", PrivatePort: 5005, PublicPort: 8005, Type: "tcp"}}, "http://127.0.0.1:8005"},
		{[]container.Port{{IP: "192.168.1.5", PrivatePort: 5005, PublicPort: 80, Type: "tcp"}}, "http://192.168.1.5:80"},
		{[]container.Port{{PrivatePort: 5005, Type: "tcp"}}, "http://rasa-production:5005 (project network only)"},
		{nil, "rasa-production (project network only; not published)"},
	} {
		if got := address(container.Summary{Labels: labels, Ports: tc.ports}); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.ports, got, tc.want)
		}
	}
}
