package ui

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// ContainerLister is the part of the Engine the page asks for addresses.
type ContainerLister interface {
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
}

// EngineAddresses returns Config.Addresses reading the Engine: an environment's
// address is the host port its Rasa container publishes, else its service name on the
// project's network. project is asked at each call (the daemon learns it from Git).
// The Engine is given one second: a slow Engine leaves the addresses out, not the page.
func EngineAddresses(engine ContainerLister, project func() string) func(context.Context) map[string]string {
	return func(ctx context.Context) map[string]string {
		p := project()
		if p == "" {
			return nil
		}
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		list, err := engine.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
			filters.Arg("label", compose.LabelProject+"="+p), filters.Arg("label", compose.LabelManaged+"=true"))})
		if err != nil {
			return nil
		}
		out := map[string]string{}
		for _, c := range list {
			if env := c.Labels[compose.LabelEnvironment]; env != "" {
				out[env] = address(c)
			}
		}
		return out
	}
}

// address is where a Rasa container answers: its published port, else its service on
// the project network.
func address(c container.Summary) string {
	for _, pt := range c.Ports {
		if pt.PublicPort == 0 || pt.Type != "tcp" {
			continue
		}
		ip := pt.IP
		if ip == "" || ip == "0.0.0.0" || ip == "::" {
			ip = "127.0.0.1"
		}
		return "http://" + net.JoinHostPort(ip, strconv.Itoa(int(pt.PublicPort)))
	}
	service := c.Labels[compose.LabelService]
	for _, pt := range c.Ports {
		return fmt.Sprintf("http://%s:%d (project network only)", service, pt.PrivatePort)
	}
	return service + " (project network only; not published)"
}
