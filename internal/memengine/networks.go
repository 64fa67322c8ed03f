package memengine

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

// netw is one network.
type netw struct {
	id, name, driver string
	created          time.Time
	labels, options  map[string]string
	internal         bool
	attachable       bool
	ipv6             bool
	predefined       bool
	// subnet is invalid for host and none, which hand out no addresses.
	subnet     netip.Prefix
	gateway    netip.Addr
	userSubnet bool // the subnet was declared: fixed addresses are allowed
	next       netip.Addr
	used       map[netip.Addr]string // address → container ID
}

// newNetwork creates and stores a network; its subnet is the next 10.77.n.0/24 unless
// the options declare one.
func (e *Engine) newNetwork(name string, opts network.CreateOptions) (*netw, error) {
	driver := opts.Driver
	if driver == "" {
		driver = "bridge"
	}
	n := &netw{id: e.nextID("network"), name: name, driver: driver, created: e.now(),
		labels: copyMap(opts.Labels), options: copyMap(opts.Options), internal: opts.Internal,
		attachable: opts.Attachable, used: map[netip.Addr]string{}}
	if opts.EnableIPv6 != nil {
		n.ipv6 = *opts.EnableIPv6
	}
	if driver != "host" && driver != "null" {
		if opts.IPAM != nil && len(opts.IPAM.Config) > 0 && opts.IPAM.Config[0].Subnet != "" {
			cfg := opts.IPAM.Config[0]
			p, err := netip.ParsePrefix(cfg.Subnet)
			if err != nil || !p.Addr().Is4() {
				return nil, invalid("invalid subnet %s: memengine supports IPv4 subnets", cfg.Subnet)
			}
			n.subnet, n.userSubnet = p.Masked(), true
			n.gateway = n.subnet.Addr().Next()
			if cfg.Gateway != "" {
				gw, err := netip.ParseAddr(cfg.Gateway)
				if err != nil || !n.subnet.Contains(gw) {
					return nil, invalid("invalid gateway %s for subnet %s", cfg.Gateway, cfg.Subnet)
				}
				n.gateway = gw
			}
		} else {
			k := e.subnets
			e.subnets++
			n.subnet = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(77 + k/256), byte(k % 256), 0}), 24)
			n.gateway = n.subnet.Addr().Next()
		}
		n.next = n.gateway.Next()
	}
	e.networks[n.id] = n
	return n, nil
}

// allocate hands out want (a fixed address) or the next free address, in order.
func (n *netw) allocate(want, owner string) (netip.Addr, error) {
	if !n.subnet.IsValid() {
		return netip.Addr{}, nil
	}
	if want != "" {
		a, err := netip.ParseAddr(want)
		if err != nil || !n.subnet.Contains(a) {
			return netip.Addr{}, invalid("no configured subnet contains the IP address %s", want)
		}
		if other, taken := n.used[a]; taken && other != owner {
			return netip.Addr{}, conflict("address %s is already in use in network %s", want, n.name)
		}
		n.used[a] = owner
		return a, nil
	}
	first := n.subnet.Addr().Next()
	a := n.next
	for range 1 << 16 {
		if !n.subnet.Contains(a) || !n.subnet.Contains(a.Next()) { // past the end, or the broadcast address
			a = first
		}
		if _, taken := n.used[a]; !taken && a != n.gateway {
			n.used[a] = owner
			n.next = a.Next()
			return a, nil
		}
		a = a.Next()
	}
	return netip.Addr{}, internal("no available IPv4 addresses on network %s", n.name)
}

// findNetwork resolves a network by ID, name or unique ID prefix, as the Engine does.
func (e *Engine) findNetwork(ref string) (*netw, error) {
	if n, ok := e.networks[ref]; ok {
		return n, nil
	}
	for _, n := range e.networks {
		if n.name == ref {
			return n, nil
		}
	}
	var found *netw
	if ref != "" {
		for id, n := range e.networks {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, invalid("network %s is ambiguous (%d matches found based on ID prefix)", ref, 2)
				}
				found = n
			}
		}
	}
	if found == nil {
		return nil, notFound("network %s not found", ref)
	}
	return found, nil
}

// active lists the running containers with an endpoint on n, by ID.
func (e *Engine) active(n *netw) []*ctr {
	var out []*ctr
	for _, id := range slices.Sorted(maps.Keys(e.containers)) {
		c := e.containers[id]
		if ep, ok := c.endpoints[n.id]; ok && ep.active {
			out = append(out, c)
		}
	}
	return out
}

func (e *Engine) networkEvent(n *netw, action events.Action, containerID string) {
	attrs := map[string]string{"name": n.name, "type": n.driver}
	if containerID != "" {
		attrs["container"] = containerID
	}
	e.emit(events.NetworkEventType, action, n.id, attrs)
}

// summary is the list (and inspect) form of a network.
func (e *Engine) summary(n *netw, withContainers bool) network.Summary {
	s := network.Summary{Name: n.name, ID: n.id, Created: n.created, Scope: "local", Driver: n.driver,
		EnableIPv4: true, EnableIPv6: n.ipv6, Internal: n.internal, Attachable: n.attachable,
		IPAM:       network.IPAM{Driver: "default", Config: []network.IPAMConfig{}},
		Containers: map[string]network.EndpointResource{}, Options: copyMap(n.options), Labels: copyMap(n.labels)}
	if n.subnet.IsValid() {
		s.IPAM.Config = append(s.IPAM.Config, network.IPAMConfig{Subnet: n.subnet.String(), Gateway: n.gateway.String()})
	}
	if withContainers {
		for _, c := range e.active(n) {
			ep := c.endpoints[n.id]
			r := network.EndpointResource{Name: c.name, EndpointID: ep.endpointID, MacAddress: ep.mac}
			if ep.ip.IsValid() {
				r.IPv4Address = fmt.Sprintf("%s/%d", ep.ip, n.subnet.Bits())
			}
			s.Containers[c.id] = r
		}
	}
	return s
}

// NetworkCreate creates a network; a name already taken is a Conflict, as on the
// Engine (which refuses duplicate names since API 1.44).
func (e *Engine) NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "NetworkCreate"); err != nil {
		return network.CreateResponse{}, err
	}
	if name == "" {
		return network.CreateResponse{}, e.leave("NetworkCreate", invalid("network name is required"))
	}
	for _, n := range e.networks {
		if n.name == name {
			return network.CreateResponse{}, e.leave("NetworkCreate", conflict("network with name %s already exists", name))
		}
	}
	n, err := e.newNetwork(name, options)
	if err != nil {
		return network.CreateResponse{}, e.leave("NetworkCreate", err)
	}
	e.networkEvent(n, events.ActionCreate, "")
	if err := e.leave("NetworkCreate", nil); err != nil {
		return network.CreateResponse{}, err
	}
	return network.CreateResponse{ID: n.id}, nil
}

var networkFilters = map[string]bool{"dangling": true, "driver": true, "id": true, "label": true, "name": true, "scope": true, "type": true}

// NetworkList lists networks, sorted by name, with the Engine's filters (label with
// key or key=value, name and id as regular expressions, driver, scope, type, dangling).
func (e *Engine) NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "NetworkList"); err != nil {
		return nil, err
	}
	f := options.Filters
	if err := f.Validate(networkFilters); err != nil {
		return nil, e.leave("NetworkList", err)
	}
	for _, t := range f.Get("type") {
		if t != "custom" && t != "builtin" {
			return nil, e.leave("NetworkList", invalid("invalid filter: 'type'='%s'", t))
		}
	}
	dangling, err := f.GetBoolOrDefault("dangling", false)
	if err != nil {
		return nil, e.leave("NetworkList", err)
	}
	var out []network.Summary
	for _, n := range e.networks {
		typ := "custom"
		if n.predefined {
			typ = "builtin"
		}
		switch {
		case !f.MatchKVList("label", n.labels),
			f.Contains("name") && !f.Match("name", n.name),
			f.Contains("id") && !f.Match("id", n.id),
			!f.ExactMatch("driver", n.driver),
			!f.ExactMatch("scope", "local"),
			!f.ExactMatch("type", typ),
			f.Contains("dangling") && dangling != (!n.predefined && len(e.active(n)) == 0):
			continue
		}
		out = append(out, e.summary(n, false))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, e.leave("NetworkList", nil)
}

// NetworkInspect returns a network with its running containers' endpoints, so a test
// can see who is attached (the list, like the Engine's, leaves Containers empty).
func (e *Engine) NetworkInspect(ctx context.Context, networkID string, _ network.InspectOptions) (network.Inspect, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "NetworkInspect"); err != nil {
		return network.Inspect{}, err
	}
	n, err := e.findNetwork(networkID)
	if err != nil {
		return network.Inspect{}, e.leave("NetworkInspect", err)
	}
	return e.summary(n, true), e.leave("NetworkInspect", nil)
}

// NetworkConnect attaches a container to a network (a running one gets an address at
// once). Connecting a running container twice is refused (Forbidden) as the Engine
// refuses it; for a stopped one the Engine keeps the first config and says nothing.
func (e *Engine) NetworkConnect(ctx context.Context, networkID, containerID string, config *network.EndpointSettings) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "NetworkConnect"); err != nil {
		return err
	}
	return e.leave("NetworkConnect", e.connect(networkID, containerID, config))
}

func (e *Engine) connect(networkID, containerID string, config *network.EndpointSettings) error {
	n, err := e.findNetwork(networkID)
	if err != nil {
		return err
	}
	c, err := e.findContainer(containerID)
	if err != nil {
		return err
	}
	mode := c.host.NetworkMode
	if mode.IsHost() || mode.IsContainer() || mode.IsNone() || n.driver == "host" || n.driver == "null" {
		return invalid("container sharing network namespace with another container or host cannot be connected to any other network")
	}
	if _, ok := c.endpoints[n.id]; ok {
		if !c.running() {
			return nil // the Engine keeps the first config of a stopped container, silently
		}
		return forbidden("endpoint with name %s already exists in network %s", c.name, n.name)
	}
	if err := e.attach(c, n, config); err != nil {
		return err
	}
	if c.running() {
		return e.activate(c, c.endpoints[n.id], n)
	}
	return nil
}

// attach records an endpoint of c on n (not yet active).
func (e *Engine) attach(c *ctr, n *netw, config *network.EndpointSettings) error {
	settings := clone(config)
	if settings == nil {
		settings = &network.EndpointSettings{}
	}
	if n.predefined && len(settings.Aliases) > 0 {
		return invalid("network-scoped alias is supported only for containers in user defined networks")
	}
	if settings.IPAMConfig != nil && settings.IPAMConfig.IPv4Address != "" && !n.userSubnet {
		return invalid("user specified IP address is supported only when connecting to networks with user configured subnets")
	}
	c.endpoints[n.id] = &endpoint{netID: n.id, netName: n.name, settings: settings}
	return nil
}

// activate gives an endpoint its address, as starting a container or connecting a
// running one does.
func (e *Engine) activate(c *ctr, ep *endpoint, n *netw) error {
	want := ""
	if ep.settings.IPAMConfig != nil {
		want = ep.settings.IPAMConfig.IPv4Address
	}
	ip, err := n.allocate(want, c.id)
	if err != nil {
		return err
	}
	ep.active, ep.ip, ep.endpointID = true, ip, e.nextID("endpoint")
	ep.mac = ""
	if ip.IsValid() {
		b := ip.As4()
		ep.mac = fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
	}
	e.networkEvent(n, events.ActionConnect, c.id)
	return nil
}

// deactivate releases an endpoint's address, as a container's exit does.
func (e *Engine) deactivate(c *ctr, ep *endpoint) {
	if !ep.active {
		return
	}
	n := e.networks[ep.netID]
	if n != nil && ep.ip.IsValid() && n.used[ep.ip] == c.id {
		delete(n.used, ep.ip)
	}
	ep.active, ep.ip, ep.endpointID, ep.mac = false, netip.Addr{}, "", ""
	if n != nil {
		e.networkEvent(n, events.ActionDisconnect, c.id)
	}
}

// NetworkDisconnect detaches a container from a network, as `docker network
// disconnect` does; tests use it to make drift. It is an Engine call (recorded).
func (e *Engine) NetworkDisconnect(ctx context.Context, networkID, containerID string, force bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "NetworkDisconnect"); err != nil {
		return err
	}
	return e.leave("NetworkDisconnect", e.disconnect(networkID, containerID, force))
}

func (e *Engine) disconnect(networkID, containerID string, _ bool) error {
	n, err := e.findNetwork(networkID)
	if err != nil {
		return err
	}
	c, err := e.findContainer(containerID)
	if err != nil {
		return err
	}
	ep, ok := c.endpoints[n.id]
	if !ok {
		return internal("container %s is not connected to network %s", c.id, n.name)
	}
	e.deactivate(c, ep)
	delete(c.endpoints, n.id)
	return nil
}

// NetworkRemove removes a network. A pre-defined network, or one with running
// containers attached, is refused (Forbidden) as on the Engine; a stopped container
// attached does not prevent it (it fails to start afterwards).
func (e *Engine) NetworkRemove(ctx context.Context, networkID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "NetworkRemove"); err != nil {
		return err
	}
	n, err := e.findNetwork(networkID)
	if err != nil {
		return e.leave("NetworkRemove", err)
	}
	if n.predefined {
		return e.leave("NetworkRemove", forbidden("%s is a pre-defined network and cannot be removed", n.name))
	}
	if len(e.active(n)) > 0 {
		return e.leave("NetworkRemove", forbidden("error while removing network: network %s id %s has active endpoints", n.name, n.id))
	}
	delete(e.networks, n.id)
	e.networkEvent(n, events.ActionDestroy, "")
	return e.leave("NetworkRemove", nil)
}

// matchNetworkFilter applies ContainerList's "network" filter (name, ID or ID prefix).
func matchNetworkFilter(f filters.Args, c *ctr) bool {
	values := f.Get("network")
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for id, ep := range c.endpoints {
			if id == v || ep.netName == v || strings.HasPrefix(id, v) {
				return true
			}
		}
	}
	return false
}
