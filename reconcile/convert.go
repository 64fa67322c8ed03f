package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/blkiodev"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/go-connections/nat"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// createConfig is what ContainerCreate needs for one container, plus the networks to
// connect after creation (API 1.41 takes one network at create time).
type createConfig struct {
	Config     *container.Config
	Host       *container.HostConfig
	Networking *network.NetworkingConfig
	// MoreNetworks are connected with NetworkConnect after the create, in order.
	MoreNetworks []namedEndpoint
	// Platform is the platform asked for at create (platform:), nil for the Engine's.
	Platform *ocispec.Platform
}

type namedEndpoint struct {
	Network  string
	Endpoint *network.EndpointSettings
}

// minAPIVersion is the Engine API version assumed when the client cannot say which one
// it negotiated: Docker Engine 20.10's, the oldest Engine rasa-gitops supports.
const minAPIVersion = "1.41"

// apiVersionOf is the API version the Engine is spoken to with (the Docker client's
// negotiated version), or minAPIVersion when the Engine cannot say. Compose maps a few
// fields differently by API version, so containerConfig needs it.
func apiVersionOf(e Engine) string {
	if v, ok := e.(interface{ ClientVersion() string }); ok && v.ClientVersion() != "" {
		return v.ClientVersion()
	}
	return minAPIVersion
}

// containerConfig maps one Compose service to Engine create options exactly as docker
// compose v2 (pkg/compose/create.go) maps it for an Engine spoken to with API version
// api, so that a container rasa-gitops creates inspects like the one `docker compose
// up` creates from the rendered file. It reads nothing but a seccomp profile file that
// security_opt names (as Compose does).
func containerConfig(p *types.Project, s types.ServiceConfig, labels map[string]string, api string) (createConfig, error) {
	if api == "" {
		api = minAPIVersion
	}
	fail := func(err error) (createConfig, error) {
		return createConfig{}, fmt.Errorf("service %s: %w", s.Name, err)
	}
	var primary string
	if len(s.Networks) > 0 {
		primary = s.NetworksByPriority()[0]
	}
	containerMAC, endpointMAC, err := macAddresses(s, primary, api)
	if err != nil {
		return fail(err)
	}
	health, err := healthConfig(s.HealthCheck, api)
	if err != nil {
		return fail(err)
	}
	host, err := hostConfig(p, s)
	if err != nil {
		return fail(err)
	}
	platform, err := servicePlatform(p, s)
	if err != nil {
		return fail(err)
	}
	out := createConfig{Config: processConfig(s, labels, containerMAC, health), Host: host, Platform: platform}
	if err := attachNetworks(p, s, api, endpointMAC, &out); err != nil {
		return fail(err)
	}
	return out, nil
}

// processConfig is the container's own configuration: image, process, environment,
// labels, health check.
func processConfig(s types.ServiceConfig, labels map[string]string, containerMAC string, health *container.HealthConfig) *container.Config {
	cfg := &container.Config{
		Hostname:        s.Hostname,
		Domainname:      s.DomainName,
		User:            s.User,
		ExposedPorts:    exposedPorts(s),
		Tty:             s.Tty,
		OpenStdin:       s.StdinOpen,
		AttachStdout:    true, // as Compose creates every service container
		AttachStderr:    true,
		Cmd:             []string(s.Command),
		Image:           s.Image,
		WorkingDir:      s.WorkingDir,
		Entrypoint:      []string(s.Entrypoint),
		NetworkDisabled: s.NetworkMode == "disabled",
		MacAddress:      containerMAC, //nolint:staticcheck // the container-wide MAC of API < 1.44
		Labels:          labels,
		StopSignal:      s.StopSignal,
		Env:             environment(s.Environment),
		Healthcheck:     health,
	}
	if s.StopGracePeriod != nil {
		secs := int(time.Duration(*s.StopGracePeriod).Seconds())
		cfg.StopTimeout = &secs
	}

	return cfg
}

// hostConfig is the container's host configuration: resources, security, namespaces,
// logging and mounts.
func hostConfig(p *types.Project, s types.ServiceConfig) (*container.HostConfig, error) {
	securityOpt, unconfined, err := securityOpts(p, s.SecurityOpt)
	if err != nil {
		return nil, err
	}
	host := &container.HostConfig{
		Annotations:    map[string]string(s.Annotations),
		CapAdd:         s.CapAdd,
		CapDrop:        s.CapDrop,
		Init:           s.Init,
		IpcMode:        container.IpcMode(s.Ipc),
		CgroupnsMode:   container.CgroupnsMode(s.Cgroup),
		ReadonlyRootfs: s.ReadOnly,
		RestartPolicy:  restartPolicy(s),
		ShmSize:        int64(s.ShmSize),
		Sysctls:        map[string]string(s.Sysctls),
		PortBindings:   portBindings(s),
		Resources:      resources(s),
		VolumeDriver:   s.VolumeDriver,
		DNS:            s.DNS,
		DNSSearch:      s.DNSSearch,
		DNSOptions:     s.DNSOpts,
		ExtraHosts:     extraHosts(s.ExtraHosts),
		SecurityOpt:    securityOpt,
		StorageOpt:     s.StorageOpt,
		UsernsMode:     container.UsernsMode(s.UserNSMode),
		UTSMode:        container.UTSMode(s.Uts),
		Privileged:     s.Privileged,
		PidMode:        container.PidMode(s.Pid),
		Tmpfs:          tmpfs(s.Tmpfs),
		Isolation:      container.Isolation(s.Isolation),
		Runtime:        s.Runtime,
		GroupAdd:       s.GroupAdd,
		OomScoreAdj:    int(s.OomScoreAdj),
	}
	if s.Logging != nil {
		host.LogConfig = container.LogConfig{Type: s.Logging.Driver, Config: map[string]string(s.Logging.Options)}
	}
	if unconfined { // security_opt systempaths=unconfined
		host.MaskedPaths = []string{}
		host.ReadonlyPaths = []string{}
	}
	if err := mounts(p, s, host); err != nil {
		return nil, err
	}
	return host, nil
}

// attachNetworks sets the network mode and the endpoints of the container's networks:
// the first at create, the others connected after it.
func attachNetworks(p *types.Project, s types.ServiceConfig, api string, endpointMAC map[string]string, out *createConfig) error {
	switch {
	case s.NetworkMode != "":
		if strings.HasPrefix(s.NetworkMode, "service:") {
			return fmt.Errorf("network_mode %s is not supported: use a shared network", s.NetworkMode)
		}
		out.Host.NetworkMode = container.NetworkMode(s.NetworkMode)
	case len(p.Networks) == 0:
		out.Host.NetworkMode = "none"
	default:
		keys := s.NetworksByPriority()
		if len(keys) == 0 {
			keys = []string{"default"}
		}
		for _, key := range keys {
			if cfg := s.Networks[key]; cfg != nil && cfg.InterfaceName != "" && versions.LessThan(api, "1.49") {
				return fmt.Errorf("networks.%s.interface_name needs Docker Engine 28.1 or later (API 1.49); this Engine speaks API %s", key, api)
			}
		}
		for i, key := range keys {
			n, ok := p.Networks[key]
			if !ok {
				return fmt.Errorf("uses undeclared network %s", key)
			}
			ep := endpointSettings(p, s, key, endpointMAC[key])
			if i == 0 {
				out.Host.NetworkMode = container.NetworkMode(n.Name)
				out.Networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{n.Name: ep}}
			} else {
				// API 1.41 takes one network at create; the others are connected after it,
				// as Compose connects them below API 1.44.
				out.MoreNetworks = append(out.MoreNetworks, namedEndpoint{Network: n.Name, Endpoint: ep})
			}
		}
	}
	return nil
}

// macAddresses decides where MAC addresses go, as Compose does. From API 1.44 each
// endpoint takes its own, and a service-level mac_address goes to the primary
// network; below it the container takes one (the service's, or its primary network's,
// which must agree), and only one network may declare one.
func macAddresses(s types.ServiceConfig, primary, api string) (string, map[string]string, error) {
	endpoints := map[string]string{}
	for key, n := range s.Networks {
		if n != nil && n.MacAddress != "" {
			endpoints[key] = n.MacAddress
		}
	}
	primaryMAC := endpoints[primary]
	if s.MacAddress != "" && primaryMAC != "" && s.MacAddress != primaryMAC {
		return "", nil, fmt.Errorf("mac_address %s differs from networks.%s.mac_address %s", s.MacAddress, primary, primaryMAC)
	}
	if versions.GreaterThanOrEqualTo(api, "1.44") {
		if primaryMAC == "" && s.MacAddress != "" {
			key := primary
			if key == "" {
				key = "default"
			}
			endpoints[key] = s.MacAddress
		}
		return "", endpoints, nil
	}
	if len(endpoints) > 1 {
		return "", nil, fmt.Errorf("a MAC address is declared for networks %s, which needs Docker Engine 25 or later (API 1.44); this Engine speaks API %s", strings.Join(slices.Sorted(maps.Keys(endpoints)), ", "), api)
	}
	if primaryMAC != "" {
		return primaryMAC, endpoints, nil
	}
	return s.MacAddress, endpoints, nil
}

// endpointSettings is a service's endpoint on one of its networks: the container name,
// the service name and the declared aliases, and the declared addresses, options and
// gateway priority.
func endpointSettings(p *types.Project, s types.ServiceConfig, key, mac string) *network.EndpointSettings {
	n := s.Networks[key]
	ep := &network.EndpointSettings{Aliases: []string{ContainerName(p.Name, s.Name)}, MacAddress: mac}
	if n.ServiceNameAliasEnabled() {
		ep.Aliases = append(ep.Aliases, s.Name)
	}
	if n == nil {
		return ep
	}
	ep.Aliases = append(ep.Aliases, n.Aliases...)
	ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: n.Ipv4Address, IPv6Address: n.Ipv6Address, LinkLocalIPs: n.LinkLocalIPs}
	ep.GwPriority = n.GatewayPriority
	if len(n.DriverOpts) > 0 || n.InterfaceName != "" {
		ep.DriverOpts = map[string]string{}
		for k, v := range n.DriverOpts {
			ep.DriverOpts[k] = v
		}
		if n.InterfaceName != "" {
			ep.DriverOpts["com.docker.network.endpoint.ifname"] = n.InterfaceName
		}
	}
	return ep
}

// healthConfig maps healthcheck; start_interval needs API 1.44 and a start_period.
func healthConfig(hc *types.HealthCheckConfig, api string) (*container.HealthConfig, error) {
	if hc == nil {
		return nil, nil
	}
	out := &container.HealthConfig{Test: []string(hc.Test)}
	if hc.Disable {
		out.Test = []string{"NONE"}
	}
	if hc.Interval != nil {
		out.Interval = time.Duration(*hc.Interval)
	}
	if hc.Timeout != nil {
		out.Timeout = time.Duration(*hc.Timeout)
	}
	if hc.StartPeriod != nil {
		out.StartPeriod = time.Duration(*hc.StartPeriod)
	}
	if hc.Retries != nil {
		out.Retries = int(*hc.Retries)
	}
	if hc.StartInterval != nil {
		if versions.LessThan(api, "1.44") {
			return nil, fmt.Errorf("healthcheck.start_interval needs Docker Engine 25 or later (API 1.44); this Engine speaks API %s", api)
		}
		if hc.StartPeriod == nil {
			return nil, errors.New("healthcheck.start_interval needs healthcheck.start_period")
		}
		out.StartInterval = time.Duration(*hc.StartInterval)
	}
	return out, nil
}

// exposedPorts are expose entries as written (the Engine reads a bare number as TCP)
// and the target of every ports entry.
func exposedPorts(s types.ServiceConfig) nat.PortSet {
	out := nat.PortSet{}
	for _, e := range s.Expose {
		out[nat.Port(e)] = struct{}{}
	}
	for _, pc := range s.Ports {
		out[portKey(pc)] = struct{}{}
	}
	return out
}

// portBindings publishes every ports entry; one without a published port gets a
// random host port from the Engine.
func portBindings(s types.ServiceConfig) nat.PortMap {
	out := nat.PortMap{}
	for _, pc := range s.Ports {
		key := portKey(pc)
		out[key] = append(out[key], nat.PortBinding{HostIP: pc.HostIP, HostPort: pc.Published})
	}
	return out
}

func portKey(pc types.ServicePortConfig) nat.Port {
	proto := pc.Protocol
	if proto == "" {
		proto = "tcp"
	}
	return nat.Port(strconv.Itoa(int(pc.Target)) + "/" + proto)
}

// resources maps the cgroup limits as Compose does: the service-level fields, then
// deploy.resources (its limits and memory reservation win), devices and GPUs, ulimits.
func resources(s types.ServiceConfig) container.Resources {
	oomKillDisable := s.OomKillDisable
	r := container.Resources{
		CgroupParent:       s.CgroupParent,
		Memory:             int64(s.MemLimit),
		MemorySwap:         int64(s.MemSwapLimit),
		MemoryReservation:  int64(s.MemReservation),
		OomKillDisable:     &oomKillDisable,
		CPUCount:           s.CPUCount,
		CPUPeriod:          s.CPUPeriod,
		CPUQuota:           s.CPUQuota,
		CPURealtimePeriod:  s.CPURTPeriod,
		CPURealtimeRuntime: s.CPURTRuntime,
		CPUShares:          s.CPUShares,
		NanoCPUs:           int64(s.CPUS * 1e9),
		CPUPercent:         int64(s.CPUPercent * 100),
		CpusetCpus:         s.CPUSet,
		DeviceCgroupRules:  s.DeviceCgroupRules,
	}
	if s.MemSwappiness != 0 { // Compose leaves 0 to the Engine's default
		v := int64(s.MemSwappiness)
		r.MemorySwappiness = &v
	}
	if s.PidsLimit != 0 {
		v := s.PidsLimit
		r.PidsLimit = &v
	}
	blkio(&r, s.BlkioConfig)
	deployResources(&r, s.Deploy)
	devices(&r, s)
	r.Ulimits = ulimits(s)
	return r
}

// blkio applies block I/O weights and throttles.
func blkio(r *container.Resources, b *types.BlkioConfig) {
	if b == nil {
		return
	}
	r.BlkioWeight = b.Weight
	for _, d := range b.WeightDevice {
		r.BlkioWeightDevice = append(r.BlkioWeightDevice, &blkiodev.WeightDevice{Path: d.Path, Weight: d.Weight})
	}
	throttle := func(in []types.ThrottleDevice) []*blkiodev.ThrottleDevice {
		var out []*blkiodev.ThrottleDevice
		for _, d := range in {
			out = append(out, &blkiodev.ThrottleDevice{Path: d.Path, Rate: uint64(d.Rate)})
		}
		return out
	}
	r.BlkioDeviceReadBps = throttle(b.DeviceReadBps)
	r.BlkioDeviceReadIOps = throttle(b.DeviceReadIOps)
	r.BlkioDeviceWriteBps = throttle(b.DeviceWriteBps)
	r.BlkioDeviceWriteIOps = throttle(b.DeviceWriteIOps)
}

// deployResources applies deploy.resources, which win over the service-level values
// as in Compose.
func deployResources(r *container.Resources, d *types.DeployConfig) {
	if d == nil {
		return
	}
	if l := d.Resources.Limits; l != nil {
		if l.MemoryBytes != 0 {
			r.Memory = int64(l.MemoryBytes)
		}
		if l.NanoCPUs != 0 {
			r.NanoCPUs = int64(l.NanoCPUs * 1e9)
		}
		if l.Pids > 0 {
			v := l.Pids
			r.PidsLimit = &v
		}
	}
	if res := d.Resources.Reservations; res != nil {
		if res.MemoryBytes != 0 {
			r.MemoryReservation = int64(res.MemoryBytes)
		}
		for _, dev := range res.Devices {
			r.DeviceRequests = append(r.DeviceRequests, container.DeviceRequest{
				Driver: dev.Driver, Count: int(dev.Count), DeviceIDs: dev.IDs,
				Capabilities: [][]string{dev.Capabilities}, Options: map[string]string(dev.Options),
			})
		}
	}
}

// devices applies devices (CDI names as device requests) and GPU requests.
func devices(r *container.Resources, s types.ServiceConfig) {
	var cdiDevices []string
	for _, d := range s.Devices {
		if d.Source == d.Target && cdiQualifiedName(d.Source) {
			cdiDevices = append(cdiDevices, d.Source)
			continue
		}
		r.Devices = append(r.Devices, container.DeviceMapping{PathOnHost: d.Source, PathInContainer: d.Target, CgroupPermissions: d.Permissions})
	}
	if len(cdiDevices) > 0 {
		r.DeviceRequests = append(r.DeviceRequests, container.DeviceRequest{Driver: "cdi", DeviceIDs: cdiDevices})
	}
	for _, g := range s.Gpus {
		r.DeviceRequests = append(r.DeviceRequests, container.DeviceRequest{
			Driver: g.Driver, Count: int(g.Count), DeviceIDs: g.IDs,
			Capabilities: [][]string{append(slices.Clone(g.Capabilities), "gpu")}, Options: map[string]string(g.Options),
		})
	}
}

// ulimits are the container's ulimits, by name.
func ulimits(s types.ServiceConfig) []*container.Ulimit {
	var out []*container.Ulimit
	for _, name := range slices.Sorted(maps.Keys(s.Ulimits)) {
		u := s.Ulimits[name]
		soft, hard := u.Single, u.Single
		if u.Soft != 0 {
			soft = u.Soft
		}
		if u.Hard != 0 {
			hard = u.Hard
		}
		out = append(out, &container.Ulimit{Name: name, Soft: int64(soft), Hard: int64(hard)})
	}
	return out
}

// cdiQualifiedName says a device is a CDI device name, vendor/class=name (such as
// nvidia.com/gpu=all), which Compose requests from the cdi driver instead of mapping.
func cdiQualifiedName(device string) bool {
	vendor, rest, ok := strings.Cut(device, "/")
	if !ok {
		return false
	}
	class, name, ok := strings.Cut(rest, "=")
	if !ok {
		return false
	}
	isAlnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	isLetter := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	valid := func(s, extra string, first func(byte) bool) bool {
		if s == "" || !first(s[0]) || !isAlnum(s[len(s)-1]) {
			return false
		}
		for i := 0; i < len(s); i++ {
			if !isAlnum(s[i]) && !strings.ContainsRune(extra, rune(s[i])) {
				return false
			}
		}
		return true
	}
	return valid(vendor, "-_.", isLetter) && valid(class, "-_", isLetter) && valid(name, "-_.:", isAlnum)
}

// securityOpts passes security_opt to the Engine as Compose does: a seccomp profile
// file is read (relative to the project directory) and sent inline as compact JSON,
// and systempaths=unconfined is no option of the Engine but unmasks /proc and /sys.
func securityOpts(p *types.Project, opts []string) (out []string, unconfined bool, err error) {
	for _, opt := range opts {
		if opt == "systempaths=unconfined" {
			unconfined = true
			continue
		}
		key, value, ok := strings.Cut(opt, "=")
		if !ok && opt != "no-new-privileges" {
			if key, value, ok = strings.Cut(opt, ":"); !ok {
				return nil, false, fmt.Errorf("security_opt %q: want KEY=VALUE or KEY:VALUE", opt)
			}
		}
		if key == "seccomp" && value != "unconfined" && value != "builtin" {
			data, err := os.ReadFile(p.RelativePath(value))
			if err != nil {
				return nil, false, fmt.Errorf("security_opt %s: read the seccomp profile: %w", opt, err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, data); err != nil {
				return nil, false, fmt.Errorf("security_opt %s: the seccomp profile is not JSON: %w", opt, err)
			}
			out = append(out, "seccomp="+compact.String())
			continue
		}
		out = append(out, opt)
	}
	return out, unconfined, nil
}

// servicePlatform is the platform the container is created for: the service's, or the
// project environment's DOCKER_DEFAULT_PLATFORM, as Compose chooses it.
func servicePlatform(p *types.Project, s types.ServiceConfig) (*ocispec.Platform, error) {
	spec := s.Platform
	if spec == "" {
		spec = p.Environment["DOCKER_DEFAULT_PLATFORM"]
	}
	if spec == "" {
		return nil, nil
	}
	return parsePlatform(spec)
}

// parsePlatform reads os[/arch[/variant]] (or a bare architecture, meaning Linux) and
// normalises it as containerd's platforms.Parse does for the names in use.
func parsePlatform(spec string) (*ocispec.Platform, error) {
	parts := strings.Split(strings.ToLower(spec), "/")
	if len(parts) > 3 || slices.Contains(parts, "") {
		return nil, fmt.Errorf("platform %q: want os[/arch[/variant]]", spec)
	}
	var p ocispec.Platform
	switch parts[0] {
	case "linux", "windows", "darwin", "freebsd":
		p.OS = parts[0]
		parts = parts[1:]
	default:
		if len(parts) == 3 {
			return nil, fmt.Errorf("platform %q: unknown operating system %s", spec, parts[0])
		}
		p.OS = "linux"
	}
	if len(parts) > 0 {
		p.Architecture = parts[0]
	}
	if len(parts) > 1 {
		p.Variant = parts[1]
	}
	switch p.Architecture {
	case "i386":
		p.Architecture = "386"
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
	case "aarch64":
		p.Architecture = "arm64"
	case "armhf":
		p.Architecture, p.Variant = "arm", "v7"
	case "armel":
		p.Architecture, p.Variant = "arm", "v6"
	}
	switch {
	case p.Architecture == "arm64" && (p.Variant == "8" || p.Variant == "v8"):
		p.Variant = ""
	case p.Architecture == "arm" && (p.Variant == "" || p.Variant == "7"):
		p.Variant = "v7"
	case p.Architecture == "arm" && (p.Variant == "5" || p.Variant == "6" || p.Variant == "8"):
		p.Variant = "v" + p.Variant
	case p.Architecture == "amd64" && p.Variant == "v1":
		p.Variant = ""
	}
	return &p, nil
}

// environment maps environment: a variable without a value is passed by name, which
// Compose leaves to the Engine as well.
func environment(env types.MappingWithEquals) []string {
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if v := env[k]; v != nil {
			out = append(out, k+"="+*v)
		} else {
			out = append(out, k)
		}
	}
	return out
}

func extraHosts(h types.HostsList) []string {
	var out []string
	for _, host := range slices.Sorted(maps.Keys(h)) {
		for _, ip := range h[host] {
			out = append(out, host+":"+ip)
		}
	}
	return out
}

func tmpfs(list types.StringList) map[string]string {
	out := map[string]string{}
	for _, t := range list {
		path, opts, _ := strings.Cut(t, ":")
		out[path] = opts
	}
	return out
}

// restartPolicy maps restart, then deploy.restart_policy over it, as Compose does; the
// Engine refuses a name it does not know.
func restartPolicy(s types.ServiceConfig) container.RestartPolicy {
	var policy container.RestartPolicy
	if s.Restart != "" {
		name, count, _ := strings.Cut(s.Restart, ":")
		attempts, _ := strconv.Atoi(strings.Split(count, ":")[0])
		policy = container.RestartPolicy{Name: restartMode(name), MaximumRetryCount: attempts}
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		rp := s.Deploy.RestartPolicy
		policy = container.RestartPolicy{Name: restartMode(rp.Condition)}
		if rp.MaxAttempts != nil {
			policy.MaximumRetryCount = int(*rp.MaxAttempts)
		}
	}
	return policy
}

func restartMode(condition string) container.RestartPolicyMode {
	switch condition {
	case "none", "no":
		return container.RestartPolicyDisabled
	case "any", "always":
		return container.RestartPolicyAlways
	case "on-failure":
		return container.RestartPolicyOnFailure
	case "unless-stopped":
		return container.RestartPolicyUnlessStopped
	}
	return container.RestartPolicyMode(condition)
}

// mounts maps volumes as Compose does: a bind mount without advanced options, and a
// declared named volume without volume options, go as Binds strings (the Engine
// creates a missing bind source); the others, anonymous volumes and tmpfs go as Mounts.
func mounts(p *types.Project, s types.ServiceConfig, host *container.HostConfig) error {
	for _, v := range s.Volumes {
		m := mount.Mount{Type: mount.Type(v.Type), Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly, Consistency: mount.Consistency(v.Consistency)}
		switch v.Type {
		case types.VolumeTypeBind:
			if !filepath.IsAbs(m.Source) {
				abs, err := filepath.Abs(m.Source)
				if err != nil {
					return err
				}
				m.Source = abs
			}
			if !bindNeedsMountAPI(v.Bind) {
				host.Binds = append(host.Binds, bindString(m.Source, v))
				continue
			}
			m.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(v.Bind.Propagation), CreateMountpoint: bool(v.Bind.CreateHostPath)}
			switch v.Bind.Recursive {
			case "disabled":
				m.BindOptions.NonRecursive = true
			case "writable":
				m.BindOptions.ReadOnlyNonRecursive = true
			case "readonly":
				m.BindOptions.ReadOnlyForceRecursive = true
			}
		case types.VolumeTypeVolume:
			if v.Source != "" {
				decl, ok := p.Volumes[v.Source]
				if !ok {
					return fmt.Errorf("uses undeclared volume %s", v.Source)
				}
				m.Source = decl.Name
				if !volumeNeedsMountAPI(v.Volume) {
					host.Binds = append(host.Binds, bindString(m.Source, v))
					continue
				}
			}
			if v.Volume != nil {
				m.VolumeOptions = &mount.VolumeOptions{NoCopy: v.Volume.NoCopy, Subpath: v.Volume.Subpath, Labels: map[string]string(v.Volume.Labels)}
			}
		case types.VolumeTypeTmpfs:
			if v.Tmpfs != nil {
				m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size), Mode: os.FileMode(v.Tmpfs.Mode)}
			}
		default:
			return fmt.Errorf("volume type %s is not supported", v.Type)
		}
		host.Mounts = append(host.Mounts, m)
	}
	return nil
}

// bindNeedsMountAPI says a bind mount uses an option the Binds syntax cannot carry.
func bindNeedsMountAPI(b *types.ServiceVolumeBind) bool {
	return b != nil && (!bool(b.CreateHostPath) || b.Propagation != "" || b.Recursive != "")
}

// volumeNeedsMountAPI says a volume mount uses an option the Binds syntax cannot carry.
func volumeNeedsMountAPI(v *types.ServiceVolumeVolume) bool {
	return v != nil && (len(v.Labels) > 0 || v.Subpath != "" || v.NoCopy)
}

// bindString is the Binds entry source:target:rw|ro[,selinux][,propagation][,nocopy].
func bindString(source string, v types.ServiceVolumeConfig) string {
	opts := []string{"rw"}
	if v.ReadOnly {
		opts[0] = "ro"
	}
	if v.Bind != nil && v.Bind.SELinux != "" {
		opts = append(opts, v.Bind.SELinux)
	}
	if v.Bind != nil && v.Bind.Propagation != "" {
		opts = append(opts, v.Bind.Propagation)
	}
	if v.Volume != nil && v.Volume.NoCopy {
		opts = append(opts, "nocopy")
	}
	return source + ":" + v.Target + ":" + strings.Join(opts, ",")
}
