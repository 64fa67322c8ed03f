package reconcile

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// projectFilter selects only the objects rasa-gitops manages for one project.
func projectFilter(project string) filters.Args {
	return filters.NewArgs(
		filters.Arg("label", compose.LabelProject+"="+project),
		filters.Arg("label", compose.LabelManaged+"=true"),
	)
}

// Observe lists the project's managed containers, networks and volumes: three list
// calls, nothing else.
func Observe(ctx context.Context, engine Engine, project string) (Observed, error) {
	obs := Observed{Containers: map[string][]Container{}, Networks: map[string]Resource{}, Volumes: map[string]Resource{}}
	// The three lists are independent: asked at once, they cost one round trip.
	var (
		wg       sync.WaitGroup
		networks []network.Summary
		volumes  volume.ListResponse
		netErr   error
		volErr   error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		networks, netErr = engine.NetworkList(ctx, network.ListOptions{Filters: projectFilter(project)})
	}()
	go func() {
		defer wg.Done()
		volumes, volErr = engine.VolumeList(ctx, volume.ListOptions{Filters: projectFilter(project)})
	}()
	list, err := engine.ContainerList(ctx, container.ListOptions{All: true, Filters: projectFilter(project)})
	wg.Wait()
	if err != nil {
		return obs, fmt.Errorf("observe containers: %w", err)
	}
	for _, c := range list {
		if c.Labels[compose.LabelOneoff] == "True" {
			continue
		}
		service := c.Labels[compose.LabelService]
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		obs.Containers[service] = append(obs.Containers[service], Container{
			ID: c.ID, Name: name, Service: service, Number: c.Labels[compose.LabelContainerNumber],
			State: string(c.State), ConfigHash: c.Labels[compose.LabelConfigHash], OwnHash: c.Labels[compose.LabelOwnHash], ImageID: c.ImageID, Revision: c.Labels[compose.LabelRevision],
			ExitCode: exitCode(c.Status), Networks: networksOf(c), Unhealthy: strings.Contains(c.Status, "(unhealthy)"),
			Address: addressOf(c),
		})
	}
	if netErr != nil {
		return obs, fmt.Errorf("observe networks: %w", netErr)
	}
	for _, n := range networks {
		obs.Networks[n.Name] = Resource{ID: n.ID, Name: n.Name, ConfigHash: n.Labels[compose.LabelConfigHash], Labels: n.Labels}
	}
	if volErr != nil {
		return obs, fmt.Errorf("observe volumes: %w", volErr)
	}
	for _, v := range volumes.Volumes {
		obs.Volumes[v.Name] = Resource{ID: v.Name, Name: v.Name, ConfigHash: v.Labels[compose.LabelConfigHash], Labels: v.Labels}
	}
	return obs, nil
}

// RunningAddresses maps the observed running containers (by name) to their IP
// addresses: where their Rasa servers can be asked without another Engine call.
func (o Observed) RunningAddresses() map[string]string {
	out := map[string]string{}
	for _, cs := range o.Containers {
		for _, ct := range cs {
			if ct.State == "running" && ct.Address != "" {
				out[ct.Name] = ct.Address
			}
		}
	}
	return out
}

// networksOf lists the networks a listed container is connected to: nil when the
// list says nothing of networks, so the planner can tell "none" from "not known".
// addressOf is a listed container's IP address (firstAddress), "" without one.
func addressOf(c container.Summary) string {
	if c.NetworkSettings == nil {
		return ""
	}
	return firstAddress(c.NetworkSettings.Networks)
}

func networksOf(c container.Summary) []string {
	if c.NetworkSettings == nil {
		return nil
	}
	out := []string{}
	for name := range c.NetworkSettings.Networks {
		out = append(out, name)
	}
	return out
}

// exitCode reads the code from a container list status such as "Exited (2) 5 minutes ago".
func exitCode(status string) int {
	_, rest, ok := strings.Cut(status, "Exited (")
	if !ok {
		return 0
	}
	code, _, _ := strings.Cut(rest, ")")
	n, err := strconv.Atoi(code)
	if err != nil {
		return -1
	}
	return n
}
