package hostcfg

import (
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// ModelServerMismatch says the Rasa containers could not reach the model server:
// modelServer.url and --listen disagree. Found before anything is created, instead of
// after a silent wait for models that never load.
type ModelServerMismatch struct{ Reason string }

func (e *ModelServerMismatch) Error() string { return e.Reason }

// CheckModelServer checks that the containers can reach a model server listening on
// listen at modelServer.url, when some environment serves a model: the URL must not
// be loopback (a container's loopback is its own), the listen address must not be
// loopback-only, and the two ports must be the same (a daemon in a container that
// publishes its port publishes it unchanged, 8080:8080; examples/daemon/compose.yml
// runs it on the host's network instead).
func CheckModelServer(listen string, d *compose.Declaration) error {
	if listen == "" || !servesModels(d) {
		return nil
	}
	u, err := url.Parse(d.ModelServerURL)
	if err != nil {
		return nil // compose.Load reports a bad URL
	}
	urlPort := portOf(u)
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return &ModelServerMismatch{fmt.Sprintf("--listen %q is not host:port: use :%d, the port of modelServer.url", listen, urlPort)}
	}
	switch {
	case isLoopback(u.Hostname()):
		return &ModelServerMismatch{fmt.Sprintf("modelServer.url %s in %s is a loopback address, which in a container is the container itself: use http://host.docker.internal:%d", d.ModelServerURL, compose.SettingsFile, urlPort)}
	case isLoopback(host):
		return &ModelServerMismatch{fmt.Sprintf("--listen %s is loopback-only, so the Rasa containers cannot reach the model server at %s (modelServer.url): listen on :%d (all addresses) or on the Docker bridge gateway's address", listen, d.ModelServerURL, urlPort)}
	case port != strconv.Itoa(urlPort):
		return &ModelServerMismatch{fmt.Sprintf("--listen %s is on port %s but modelServer.url %s in %s is on port %d, so the Rasa servers would never load their models: use --listen :%d, or change the URL's port to %s", listen, port, d.ModelServerURL, compose.SettingsFile, urlPort, urlPort, port)}
	}
	return nil
}

// servesModels reports whether any environment declares a model, the only case in
// which the containers call the model server.
func servesModels(d *compose.Declaration) bool {
	for _, e := range d.Environments {
		if e.Model != "" {
			return true
		}
	}
	return false
}

// portOf is a URL's port, or its scheme's default.
func portOf(u *url.URL) int {
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return p
	}
	if u.Scheme == "https" {
		return 443
	}
	return 80
}

// isLoopback reports whether host names the loopback interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
