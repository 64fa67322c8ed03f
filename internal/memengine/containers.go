package memengine

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ctr is one container.
type ctr struct {
	id, name string
	order    uint64 // creation order: lists are newest first
	created  time.Time
	config   *container.Config
	host     *container.HostConfig
	imageID  string
	// health is the effective health check (image's merged with the config's); nil: none.
	health *container.HealthConfig

	status                container.ContainerState
	pid, exitCode         int
	errMsg                string
	startedAt, finishedAt time.Time
	restartCount          int
	stopCode              int    // exit code of the next stop (SetStopExitCode)
	healthStatus          string // "" until the first start
	healthOverride        string // SetHealth

	endpoints map[string]*endpoint // by network ID
	mounts    []container.MountPoint
	anonymous []string // anonymous volumes created for it
}

// endpoint is a container's attachment to a network.
type endpoint struct {
	netID, netName string
	settings       *network.EndpointSettings // as requested
	active         bool                      // the container runs: it has an address
	ip             netip.Addr
	endpointID     string
	mac            string
}

func (c *ctr) running() bool {
	return c.status == container.StateRunning || c.status == container.StatePaused
}

// findContainer resolves a container by ID, name (with or without the leading /) or
// unique ID prefix, in that order, as the Engine does.
func (e *Engine) findContainer(ref string) (*ctr, error) {
	if c, ok := e.containers[ref]; ok {
		return c, nil
	}
	if id, ok := e.names[strings.TrimPrefix(ref, "/")]; ok {
		return e.containers[id], nil
	}
	var found *ctr
	if ref != "" {
		for id, c := range e.containers {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, invalid("multiple IDs found with provided prefix: %s", ref)
				}
				found = c
			}
		}
	}
	if found == nil {
		return nil, notFound("no such container: %s", ref)
	}
	return found, nil
}

func validRestart(p container.RestartPolicy) error {
	switch p.Name {
	case "", container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		if p.MaximumRetryCount != 0 {
			return invalid("invalid restart policy: maximum retry count can only be used with 'on-failure'")
		}
	case container.RestartPolicyOnFailure:
		if p.MaximumRetryCount < 0 {
			return invalid("invalid restart policy: maximum retry count cannot be negative")
		}
	default:
		return invalid("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", p.Name)
	}
	return nil
}

// ContainerCreate creates a container in state "created". Its name must be free (a
// Conflict otherwise), its image present (NotFound) and its networks existing
// (NotFound); named volumes it mounts are created on the fly, as on the Engine.
func (e *Engine) ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, _ *ocispec.Platform, containerName string) (container.CreateResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "ContainerCreate"); err != nil {
		return container.CreateResponse{}, err
	}
	id, err := e.create(config, hostConfig, networkingConfig, containerName)
	if err = e.leave("ContainerCreate", err); err != nil {
		return container.CreateResponse{}, err
	}
	return container.CreateResponse{ID: id, Warnings: []string{}}, nil
}

func (e *Engine) create(config *container.Config, hostConfig *container.HostConfig, networking *network.NetworkingConfig, name string) (string, error) {
	if config == nil {
		return "", invalid("config cannot be empty in order to create a container")
	}
	name = strings.TrimPrefix(name, "/")
	if name == "" {
		name = fmt.Sprintf("memengine_%d", e.seq+1)
	} else if !validName.MatchString(name) {
		return "", invalid("invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	if other, taken := e.names[name]; taken {
		return "", conflict("conflict: the container name \"/%s\" is already in use by container %q; you have to remove (or rename) that container to be able to reuse that name", name, other)
	}
	im, ok := e.findImage(config.Image)
	if !ok {
		return "", notFound("no such image: %s", config.Image)
	}
	host := clone(hostConfig)
	if host == nil {
		host = &container.HostConfig{}
	}
	if err := validRestart(host.RestartPolicy); err != nil {
		return "", err
	}
	if host.NetworkMode == "" || host.NetworkMode == network.NetworkDefault {
		host.NetworkMode = network.NetworkBridge
	}
	cfg := clone(config)
	cfg.Labels = copyMap(cfg.Labels)
	// The image's health check is merged into the config, as the Engine does.
	if im.health != nil && (cfg.Healthcheck == nil || len(cfg.Healthcheck.Test) == 0) {
		hc := clone(im.health)
		if cfg.Healthcheck != nil {
			hc.Interval, hc.Timeout, hc.StartPeriod, hc.StartInterval, hc.Retries = cfg.Healthcheck.Interval, cfg.Healthcheck.Timeout, cfg.Healthcheck.StartPeriod, cfg.Healthcheck.StartInterval, cfg.Healthcheck.Retries
		}
		cfg.Healthcheck = hc
	}
	id := e.nextID("container")
	if cfg.Hostname == "" {
		cfg.Hostname = id[:12]
	}
	c := &ctr{id: id, name: name, order: e.seq, created: e.now(), config: cfg, host: host, imageID: im.id,
		status: container.StateCreated, endpoints: map[string]*endpoint{}}
	if hc := cfg.Healthcheck; hc != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE" {
		c.health = clone(hc)
		c.healthOverride = im.healthOf
	}
	if err := e.createEndpoints(c, networking); err != nil {
		return "", err
	}
	if err := e.createMounts(c); err != nil {
		return "", err
	}
	e.containers[id] = c
	e.names[name] = id
	e.containerEvent(c, events.ActionCreate, nil)
	return id, nil
}

// createEndpoints attaches a new container to its network mode's network and to every
// other network of the networking config (API 1.44 takes several at create).
func (e *Engine) createEndpoints(c *ctr, networking *network.NetworkingConfig) error {
	mode := c.host.NetworkMode
	if mode.IsContainer() {
		return nil
	}
	var configs map[string]*network.EndpointSettings
	if networking != nil {
		configs = networking.EndpointsConfig
	}
	first, err := e.findNetwork(mode.NetworkName())
	if err != nil {
		return err
	}
	if err := e.attach(c, first, configs[mode.NetworkName()]); err != nil {
		return err
	}
	for _, key := range slices.Sorted(maps.Keys(configs)) {
		if key == mode.NetworkName() {
			continue
		}
		n, err := e.findNetwork(key)
		if err != nil {
			return err
		}
		if _, ok := c.endpoints[n.id]; ok {
			continue
		}
		if mode.IsHost() || mode.IsNone() {
			return invalid("container cannot be connected to multiple networks with one of the networks in %s mode", mode)
		}
		if err := e.attach(c, n, configs[key]); err != nil {
			return err
		}
	}
	return nil
}

// createMounts records the mount points of a new container, creating the named and
// anonymous volumes it needs.
func (e *Engine) createMounts(c *ctr) error {
	seen := map[string]bool{}
	add := func(m container.MountPoint) error {
		if seen[m.Destination] {
			return invalid("duplicate mount point: %s", m.Destination)
		}
		seen[m.Destination] = true
		c.mounts = append(c.mounts, m)
		return nil
	}
	volumeMount := func(name, target string, ro bool) error {
		anonymous := name == ""
		labels := map[string]string(nil)
		if anonymous {
			labels = map[string]string{"com.docker.volume.anonymous": ""}
		}
		v, err := e.newVolume(name, "local", labels, nil)
		if err != nil {
			return err
		}
		if anonymous {
			c.anonymous = append(c.anonymous, v.name)
		}
		return add(container.MountPoint{Type: mount.TypeVolume, Name: v.name, Source: "/var/lib/docker/volumes/" + v.name + "/_data",
			Destination: target, Driver: v.driver, Mode: "z", RW: !ro})
	}
	for _, b := range c.host.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return invalid("invalid spec: %s", b)
		}
		src, dst, mode := parts[0], parts[1], ""
		if len(parts) == 3 {
			mode = parts[2]
		}
		ro := false
		for _, o := range strings.Split(mode, ",") {
			ro = ro || o == "ro"
		}
		if path.IsAbs(src) {
			if err := add(container.MountPoint{Type: mount.TypeBind, Source: src, Destination: dst, Mode: mode, RW: !ro, Propagation: mount.PropagationRPrivate}); err != nil {
				return err
			}
			continue
		}
		if err := volumeMount(src, dst, ro); err != nil {
			return err
		}
	}
	for _, m := range c.host.Mounts {
		switch m.Type {
		case mount.TypeVolume:
			if err := volumeMount(m.Source, m.Target, m.ReadOnly); err != nil {
				return err
			}
		case mount.TypeBind:
			if err := add(container.MountPoint{Type: mount.TypeBind, Source: m.Source, Destination: m.Target, RW: !m.ReadOnly, Propagation: mount.PropagationRPrivate}); err != nil {
				return err
			}
		case mount.TypeTmpfs:
			if err := add(container.MountPoint{Type: mount.TypeTmpfs, Destination: m.Target, RW: !m.ReadOnly}); err != nil {
				return err
			}
		default:
			return notImplemented("memengine: mounts of type %s are not modelled", m.Type)
		}
	}
	return nil
}

// ContainerStart starts a created or exited container. Starting a running one does
// nothing (the Engine answers 304), a paused one is a Conflict; a removed network or
// a host port another running container holds fails the start, as on the Engine.
func (e *Engine) ContainerStart(ctx context.Context, containerID string, _ container.StartOptions) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "ContainerStart"); err != nil {
		return err
	}
	c, err := e.findContainer(containerID)
	if err != nil {
		return e.leave("ContainerStart", err)
	}
	switch c.status {
	case container.StateRunning:
		return e.leave("ContainerStart", nil)
	case container.StatePaused:
		return e.leave("ContainerStart", conflict("cannot start a paused container, try unpause instead"))
	}
	return e.leave("ContainerStart", e.start(c))
}

// hostPort is one published port: host IP, port and protocol.
type hostPort struct{ ip, port, proto string }

func bindings(c *ctr) []hostPort {
	var out []hostPort
	for port, bs := range c.host.PortBindings {
		for _, b := range bs {
			if b.HostPort == "" {
				continue
			}
			ip := b.HostIP
			if ip == "" {
				ip = "0.0.0.0"
			}
			out = append(out, hostPort{ip, b.HostPort, port.Proto()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

func (e *Engine) start(c *ctr) error {
	fail := func(err error) error {
		c.errMsg = err.Error()
		if c.exitCode == 0 {
			c.exitCode = 128
		}
		return err
	}
	netIDs := make([]string, 0, len(c.endpoints))
	for id, ep := range c.endpoints {
		if _, ok := e.networks[id]; !ok {
			return fail(notFound("failed to set up container networking: network %s not found", ep.netName))
		}
		netIDs = append(netIDs, id)
	}
	sort.Slice(netIDs, func(i, j int) bool { return c.endpoints[netIDs[i]].netName < c.endpoints[netIDs[j]].netName })
	for _, hp := range bindings(c) {
		for _, o := range e.containers {
			if o == c || !o.running() {
				continue
			}
			for _, ohp := range bindings(o) {
				if ohp.port == hp.port && ohp.proto == hp.proto && (ohp.ip == hp.ip || ohp.ip == "0.0.0.0" || hp.ip == "0.0.0.0") {
					return fail(internal("driver failed programming external connectivity on endpoint %s: Bind for %s:%s failed: port is already allocated", c.name, hp.ip, hp.port))
				}
			}
		}
	}
	for i, id := range netIDs {
		if err := e.activate(c, c.endpoints[id], e.networks[id]); err != nil {
			for _, done := range netIDs[:i] {
				e.deactivate(c, c.endpoints[done])
			}
			return fail(err)
		}
	}
	for _, m := range c.mounts {
		if m.Type == mount.TypeVolume {
			e.emit(events.VolumeEventType, events.ActionMount, m.Name, map[string]string{"container": c.id, "destination": m.Destination,
				"driver": m.Driver, "propagation": string(m.Propagation), "read/write": strconv.FormatBool(m.RW)})
		}
	}
	e.seq++
	c.status, c.pid, c.exitCode, c.errMsg, c.startedAt = container.StateRunning, 1000+int(e.seq), 0, "", e.now()
	e.containerEvent(c, events.ActionStart, nil)
	if c.health != nil {
		c.healthStatus = "" // a new process: its health is checked anew
		e.setHealth(c, c.healthOverride)
	}
	return nil
}

// setHealth moves a started container's health to status (healthy when empty),
// publishing the change as the Engine does.
func (e *Engine) setHealth(c *ctr, status string) {
	if status == "" {
		status = container.Healthy
	}
	if c.healthStatus == status {
		return
	}
	c.healthStatus = status
	e.containerEvent(c, events.Action(string(events.ActionHealthStatus)+": "+status), nil)
}

// exit ends a running container's process: kill names the signal when one was sent
// (a "kill" event first), and the events follow the Engine's order: kill, die, network
// disconnect, volume unmount.
func (e *Engine) exit(c *ctr, code int, kill string) {
	if kill != "" {
		e.containerEvent(c, events.ActionKill, map[string]string{"signal": kill})
	}
	now := e.now()
	ran := now.Sub(c.startedAt)
	c.status, c.exitCode, c.finishedAt, c.pid = container.StateExited, code, now, 0
	e.containerEvent(c, events.ActionDie, map[string]string{"exitCode": strconv.Itoa(code), "execDuration": strconv.Itoa(int(ran.Seconds()))})
	for _, id := range slices.Sorted(maps.Keys(c.endpoints)) {
		e.deactivate(c, c.endpoints[id])
	}
	for _, m := range c.mounts {
		if m.Type == mount.TypeVolume {
			e.emit(events.VolumeEventType, events.ActionUnmount, m.Name, map[string]string{"container": c.id, "driver": m.Driver})
		}
	}
}

// signals are the numbers the Engine's kill events carry.
var signals = map[string]string{"SIGHUP": "1", "SIGINT": "2", "SIGQUIT": "3", "SIGKILL": "9", "SIGUSR1": "10", "SIGUSR2": "12", "SIGTERM": "15"}

func signalNumber(s string) string {
	if s == "" {
		return "15"
	}
	s = strings.ToUpper(s)
	if !strings.HasPrefix(s, "SIG") {
		if _, err := strconv.Atoi(s); err == nil {
			return s
		}
		s = "SIG" + s
	}
	if n, ok := signals[s]; ok {
		return n
	}
	return s
}

// ContainerStop stops a running (or paused) container: events kill, die, network
// disconnect, stop; its exit code is 0 (SetStopExitCode changes it; SIGKILL gives
// 137). Stopping a stopped container does nothing (the Engine answers 304).
func (e *Engine) ContainerStop(ctx context.Context, containerID string, options container.StopOptions) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "ContainerStop"); err != nil {
		return err
	}
	c, err := e.findContainer(containerID)
	if err != nil {
		return e.leave("ContainerStop", err)
	}
	if !c.running() {
		return e.leave("ContainerStop", nil)
	}
	sig := options.Signal
	if sig == "" {
		sig = c.config.StopSignal
	}
	num := signalNumber(sig)
	code := c.stopCode
	if num == "9" {
		code = 137
	}
	e.exit(c, code, num)
	e.containerEvent(c, events.ActionStop, nil)
	return e.leave("ContainerStop", nil)
}

// ContainerRemove removes a container. A running or paused one is a Conflict unless
// Force (which kills it first: kill, die, destroy); RemoveVolumes also removes its
// anonymous volumes.
func (e *Engine) ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "ContainerRemove"); err != nil {
		return err
	}
	c, err := e.findContainer(containerID)
	if err != nil {
		return e.leave("ContainerRemove", err)
	}
	return e.leave("ContainerRemove", e.remove(c, options.Force, options.RemoveVolumes))
}

func (e *Engine) remove(c *ctr, force, volumes bool) error {
	if c.running() && !force {
		if c.status == container.StatePaused {
			return conflict("cannot remove container \"/%s\": container is paused and must be unpaused first", c.name)
		}
		return conflict("cannot remove container \"/%s\": container is running: stop the container before removing or force remove", c.name)
	}
	if c.running() {
		e.exit(c, 137, "9")
	}
	delete(e.containers, c.id)
	delete(e.names, c.name)
	if volumes {
		for _, v := range c.anonymous {
			_ = e.removeVolume(v, true)
		}
	}
	e.containerEvent(c, events.ActionDestroy, nil)
	return nil
}

// ContainerRename renames a container (the last step of a side-by-side replace); a
// name in use is a Conflict, as on the Engine.
func (e *Engine) ContainerRename(ctx context.Context, containerID, newContainerName string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "ContainerRename"); err != nil {
		return err
	}
	return e.leave("ContainerRename", e.rename(containerID, newContainerName))
}

func (e *Engine) rename(ref, newName string) error {
	c, err := e.findContainer(ref)
	if err != nil {
		return err
	}
	newName = strings.TrimPrefix(newName, "/")
	if !validName.MatchString(newName) {
		return invalid("invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", newName)
	}
	if newName == c.name {
		return invalid("renaming a container with the same name as its current name")
	}
	if other, taken := e.names[newName]; taken {
		return conflict("conflict: the container name \"/%s\" is already in use by container %q; you have to remove (or rename) that container to be able to reuse that name", newName, other)
	}
	old := c.name
	delete(e.names, old)
	c.name = newName
	e.names[newName] = c.id
	e.containerEvent(c, events.ActionRename, map[string]string{"oldName": "/" + old})
	return nil
}

// containerEvent publishes a container event whose attributes are the container's
// labels, its name and image, plus extra, as the Engine's are.
func (e *Engine) containerEvent(c *ctr, action events.Action, extra map[string]string) {
	attrs := copyMap(c.config.Labels)
	attrs["name"] = c.name
	attrs["image"] = c.config.Image
	for k, v := range extra {
		attrs[k] = v
	}
	e.emit(events.ContainerEventType, action, c.id, attrs)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (e *Engine) state(c *ctr) *container.State {
	st := &container.State{Status: c.status, Running: c.running(), Paused: c.status == container.StatePaused,
		Pid: c.pid, ExitCode: c.exitCode, Error: c.errMsg, StartedAt: formatTime(c.startedAt), FinishedAt: formatTime(c.finishedAt)}
	if c.health != nil && c.healthStatus != "" {
		st.Health = &container.Health{Status: c.healthStatus, Log: []*container.HealthcheckResult{}}
		if c.healthStatus == container.Unhealthy {
			st.Health.FailingStreak = 1
		}
	}
	return st
}

// statusText is the list's Status column, word for word as the Engine writes it.
func (e *Engine) statusText(c *ctr) string {
	now := e.now()
	switch c.status {
	case container.StateRunning, container.StatePaused:
		up := humanDuration(now.Sub(c.startedAt))
		if c.status == container.StatePaused {
			return "Up " + up + " (Paused)"
		}
		if c.health != nil && c.healthStatus != "" {
			h := c.healthStatus
			if h == container.Starting {
				h = "health: starting"
			}
			return "Up " + up + " (" + h + ")"
		}
		return "Up " + up
	case container.StateDead:
		return "Dead"
	case container.StateCreated:
		return "Created"
	}
	if c.startedAt.IsZero() {
		return "Created"
	}
	return fmt.Sprintf("Exited (%d) %s ago", c.exitCode, humanDuration(now.Sub(c.finishedAt)))
}

// endpointsView is NetworkSettings.Networks: every attached network by name, with its
// address while the container runs.
func (e *Engine) endpointsView(c *ctr) map[string]*network.EndpointSettings {
	out := make(map[string]*network.EndpointSettings, len(c.endpoints))
	for id, ep := range c.endpoints {
		s := clone(ep.settings)
		s.NetworkID = id
		if ep.active {
			s.EndpointID, s.MacAddress = ep.endpointID, ep.mac
			if ep.ip.IsValid() {
				n := e.networks[id]
				s.IPAddress, s.IPPrefixLen, s.Gateway = ep.ip.String(), n.subnet.Bits(), n.gateway.String()
			}
			if n := e.networks[id]; n != nil && !n.predefined {
				s.DNSNames = append([]string{c.name, c.id[:12]}, s.Aliases...)
			}
		}
		out[ep.netName] = s
	}
	return out
}

func (e *Engine) ports(c *ctr) []container.Port {
	out := []container.Port{}
	bound := map[nat.Port]bool{}
	if c.running() {
		for port, bs := range c.host.PortBindings {
			for _, b := range bs {
				if b.HostPort == "" {
					continue
				}
				pub, _ := strconv.Atoi(b.HostPort)
				ip := b.HostIP
				if ip == "" {
					ip = "0.0.0.0"
				}
				out = append(out, container.Port{IP: ip, PrivatePort: uint16(port.Int()), PublicPort: uint16(pub), Type: port.Proto()})
				bound[port] = true
			}
		}
	}
	for port := range c.config.ExposedPorts {
		if !bound[port] {
			out = append(out, container.Port{PrivatePort: uint16(port.Int()), Type: port.Proto()})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PrivatePort != out[j].PrivatePort {
			return out[i].PrivatePort < out[j].PrivatePort
		}
		return out[i].Type < out[j].Type
	})
	return out
}

func (c *ctr) command() (string, []string) {
	argv := append(append([]string(nil), c.config.Entrypoint...), c.config.Cmd...)
	if len(argv) == 0 {
		return "", []string{}
	}
	return argv[0], argv[1:]
}

// ContainerInspect returns a container by ID, name or ID prefix: its State (with
// Health when it has a health check), Config, HostConfig, mounts and networks (an
// address per network while it runs). NotFound otherwise.
func (e *Engine) ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "ContainerInspect"); err != nil {
		return container.InspectResponse{}, err
	}
	c, err := e.findContainer(containerID)
	if err != nil {
		return container.InspectResponse{}, e.leave("ContainerInspect", err)
	}
	p, args := c.command()
	dir := "/var/lib/docker/containers/" + c.id
	resp := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: c.id, Created: formatTime(c.created), Path: p, Args: args, State: e.state(c), Image: c.imageID,
			ResolvConfPath: dir + "/resolv.conf", HostnamePath: dir + "/hostname", HostsPath: dir + "/hosts",
			LogPath: dir + "/" + c.id + "-json.log", Name: "/" + c.name, RestartCount: c.restartCount,
			Driver: "overlay2", Platform: "linux", HostConfig: clone(c.host),
		},
		Mounts:          append([]container.MountPoint{}, c.mounts...),
		Config:          clone(c.config),
		NetworkSettings: &container.NetworkSettings{Networks: e.endpointsView(c)},
	}
	if c.running() {
		resp.NetworkSettings.SandboxID = c.id // one sandbox per running container
		resp.NetworkSettings.Ports = nat.PortMap{}
		for port := range c.config.ExposedPorts {
			resp.NetworkSettings.Ports[port] = nil
		}
		for port, bs := range c.host.PortBindings {
			resp.NetworkSettings.Ports[port] = append([]nat.PortBinding(nil), bs...)
		}
	}
	return resp, e.leave("ContainerInspect", nil)
}

var listFilters = map[string]bool{"ancestor": true, "before": true, "expose": true, "exited": true, "health": true, "id": true,
	"isolation": true, "is-task": true, "label": true, "name": true, "network": true, "publish": true, "since": true, "status": true, "volume": true}

var notModelled = []string{"before", "expose", "isolation", "is-task", "publish", "since"}

var states = map[string]bool{"created": true, "restarting": true, "running": true, "removing": true, "paused": true, "exited": true, "dead": true}

// ContainerList lists containers, newest first: running and paused ones, or all with
// All (or a status filter, or a Limit, as on the Engine). Filters: label (key or
// key=value), name and id (regular expressions), status, exited, health, network,
// volume, ancestor; the Engine's other filters are refused as not modelled.
func (e *Engine) ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "ContainerList"); err != nil {
		return nil, err
	}
	out, err := e.list(options)
	return out, e.leave("ContainerList", err)
}

func (e *Engine) list(options container.ListOptions) ([]container.Summary, error) {
	f := options.Filters
	if err := f.Validate(listFilters); err != nil {
		return nil, err
	}
	for _, k := range notModelled {
		if f.Contains(k) {
			return nil, notImplemented("memengine: the %q filter is not modelled", k)
		}
	}
	all := options.All || options.Limit > 0 || options.Latest
	for _, s := range f.Get("status") {
		if !states[s] {
			return nil, invalid("invalid filter 'status=%s'", s)
		}
		all = true
	}
	for _, h := range f.Get("health") {
		if h != container.Starting && h != container.Healthy && h != container.Unhealthy && h != container.NoHealthcheck {
			return nil, invalid("unrecognized filter value for health: %s", h)
		}
	}
	exitCodes := map[int]bool{}
	for _, v := range f.Get("exited") {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, invalid("invalid filter 'exited=%s'", v)
		}
		exitCodes[n] = true
	}
	cs := make([]*ctr, 0, len(e.containers))
	for _, c := range e.containers {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].order > cs[j].order })
	var out []container.Summary
	for _, c := range cs {
		if !all && !c.running() {
			continue
		}
		health := container.NoHealthcheck
		if c.health != nil && c.healthStatus != "" {
			health = c.healthStatus
		}
		switch {
		case !f.MatchKVList("label", c.config.Labels),
			f.Contains("name") && !f.Match("name", "/"+c.name) && !f.Match("name", c.name),
			f.Contains("id") && !f.Match("id", c.id),
			!f.ExactMatch("status", string(c.status)),
			!f.ExactMatch("health", health),
			len(exitCodes) > 0 && (c.running() || c.startedAt.IsZero() || !exitCodes[c.exitCode]),
			!matchNetworkFilter(f, c),
			!e.matchVolume(f, c),
			!e.matchAncestor(f, c):
			continue
		}
		out = append(out, e.summarize(c))
		if options.Latest || (options.Limit > 0 && len(out) == options.Limit) {
			break
		}
	}
	return out, nil
}

func (e *Engine) matchVolume(f filters.Args, c *ctr) bool {
	values := f.Get("volume")
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, m := range c.mounts {
			if m.Name == v || m.Source == v || m.Destination == v {
				return true
			}
		}
	}
	return false
}

func (e *Engine) matchAncestor(f filters.Args, c *ctr) bool {
	values := f.Get("ancestor")
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		if im, ok := e.findImage(v); ok && im.id == c.imageID {
			return true
		}
	}
	return false
}

func (e *Engine) summarize(c *ctr) container.Summary {
	p, args := c.command()
	command := p
	if len(args) > 0 {
		command += " " + strings.Join(args, " ")
	}
	s := container.Summary{ID: c.id, Names: []string{"/" + c.name}, Image: c.config.Image, ImageID: c.imageID,
		Command: command, Created: c.created.Unix(), Ports: e.ports(c), Labels: copyMap(c.config.Labels),
		State: c.status, Status: e.statusText(c),
		NetworkSettings: &container.NetworkSettingsSummary{Networks: e.endpointsView(c)},
		Mounts:          append([]container.MountPoint{}, c.mounts...)}
	s.HostConfig.NetworkMode = string(c.host.NetworkMode)
	return s
}
