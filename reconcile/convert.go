package reconcile

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
)

// createConfig is what ContainerCreate needs for one container, plus the networks to
// connect after creation (API 1.41 takes one network at create time).
type createConfig struct {
	Config     *container.Config
	Host       *container.HostConfig
	Networking *network.NetworkingConfig
	// MoreNetworks are connected with NetworkConnect after the create, in order.
	MoreNetworks []namedEndpoint
}

type namedEndpoint struct {
	Network  string
	Endpoint *network.EndpointSettings
}

// Unsupported lists the fields of a service that rasa-gitops would not apply, so that
// a declaration using them is refused instead of silently running something else.
func Unsupported(s types.ServiceConfig) []string {
	var out []string
	add := func(cond bool, field string) {
		if cond {
			out = append(out, field)
		}
	}
	add(s.Image == "", "image (build-only services are not supported: build and tag the image first)")
	add(len(s.Configs) > 0, "configs")
	add(len(s.Secrets) > 0, "secrets")
	add(len(s.Devices) > 0, "devices")
	add(len(s.Gpus) > 0, "gpus")
	add(len(s.Models) > 0, "models")
	add(s.Provider != nil, "provider")
	add(len(s.VolumesFrom) > 0, "volumes_from")
	add(len(s.Links) > 0, "links")
	add(len(s.ExternalLinks) > 0, "external_links")
	add(s.BlkioConfig != nil, "blkio_config")
	add(len(s.PreStart)+len(s.PostStart)+len(s.PreStop) > 0, "pre_start/post_start/pre_stop hooks")
	add(s.Runtime != "", "runtime")
	add(len(s.StorageOpt) > 0, "storage_opt")
	add(len(s.DeviceCgroupRules) > 0, "device_cgroup_rules")
	add(s.Scale != nil && *s.Scale != 1, "scale (one container per service)")
	add(s.Deploy != nil && s.Deploy.Replicas != nil && *s.Deploy.Replicas != 1, "deploy.replicas (one container per service)")
	add(s.UseAPISocket, "use_api_socket")
	add(s.ContainerName != "", "container_name (containers are named <project>-<service>-1, as Compose names them)")
	for _, v := range s.Volumes {
		add(v.Type == types.VolumeTypeImage || v.Type == types.VolumeTypeNamedPipe || v.Type == types.VolumeTypeCluster, "volumes of type "+v.Type)
	}
	return out
}

// containerConfig maps one Compose service to Engine create options. It is pure.
func containerConfig(p *types.Project, s types.ServiceConfig, labels map[string]string) (createConfig, error) {
	cfg := &container.Config{
		Image:        s.Image,
		Cmd:          []string(s.Command),
		Entrypoint:   []string(s.Entrypoint),
		Env:          environment(s.Environment),
		Labels:       labels,
		User:         s.User,
		WorkingDir:   s.WorkingDir,
		Hostname:     s.Hostname,
		Domainname:   s.DomainName,
		Tty:          s.Tty,
		OpenStdin:    s.StdinOpen,
		StopSignal:   s.StopSignal,
		ExposedPorts: nat.PortSet{},
	}
	if s.StopGracePeriod != nil {
		secs := int(time.Duration(*s.StopGracePeriod).Seconds())
		cfg.StopTimeout = &secs
	}
	if hc := s.HealthCheck; hc != nil {
		cfg.Healthcheck = &container.HealthConfig{Test: []string(hc.Test)}
		if hc.Disable {
			cfg.Healthcheck.Test = []string{"NONE"}
		}
		if hc.Interval != nil {
			cfg.Healthcheck.Interval = time.Duration(*hc.Interval)
		}
		if hc.Timeout != nil {
			cfg.Healthcheck.Timeout = time.Duration(*hc.Timeout)
		}
		if hc.StartPeriod != nil {
			cfg.Healthcheck.StartPeriod = time.Duration(*hc.StartPeriod)
		}
		if hc.StartInterval != nil {
			cfg.Healthcheck.StartInterval = time.Duration(*hc.StartInterval)
		}
		if hc.Retries != nil {
			cfg.Healthcheck.Retries = int(*hc.Retries)
		}
	}
	host := &container.HostConfig{
		CapAdd:         s.CapAdd,
		CapDrop:        s.CapDrop,
		DNS:            s.DNS,
		DNSOptions:     s.DNSOpts,
		DNSSearch:      s.DNSSearch,
		ExtraHosts:     extraHosts(s.ExtraHosts),
		GroupAdd:       s.GroupAdd,
		Init:           s.Init,
		IpcMode:        container.IpcMode(s.Ipc),
		PidMode:        container.PidMode(s.Pid),
		UTSMode:        container.UTSMode(s.Uts),
		UsernsMode:     container.UsernsMode(s.UserNSMode),
		Privileged:     s.Privileged,
		ReadonlyRootfs: s.ReadOnly,
		SecurityOpt:    s.SecurityOpt,
		ShmSize:        int64(s.ShmSize),
		Sysctls:        map[string]string(s.Sysctls),
		OomScoreAdj:    int(s.OomScoreAdj),
		PortBindings:   nat.PortMap{},
		Resources: container.Resources{
			Memory:            int64(s.MemLimit),
			MemoryReservation: int64(s.MemReservation),
			MemorySwap:        int64(s.MemSwapLimit),
			NanoCPUs:          int64(s.CPUS * 1e9),
			CPUShares:         s.CPUShares,
			CpusetCpus:        s.CPUSet,
			CgroupParent:      s.CgroupParent,
		},
	}
	if s.OomKillDisable {
		t := true
		host.OomKillDisable = &t
	}
	if s.PidsLimit != 0 {
		limit := s.PidsLimit
		host.PidsLimit = &limit
	}
	if d := s.Deploy; d != nil && d.Resources.Limits != nil {
		if d.Resources.Limits.MemoryBytes != 0 && host.Memory == 0 {
			host.Memory = int64(d.Resources.Limits.MemoryBytes)
		}
		if d.Resources.Limits.NanoCPUs != 0 && host.NanoCPUs == 0 {
			host.NanoCPUs = int64(d.Resources.Limits.NanoCPUs * 1e9)
		}
		if d.Resources.Limits.Pids != 0 && host.PidsLimit == nil {
			pids := d.Resources.Limits.Pids
			host.PidsLimit = &pids
		}
	}
	for _, name := range sortedKeys(s.Ulimits) {
		u := s.Ulimits[name]
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		host.Ulimits = append(host.Ulimits, &container.Ulimit{Name: name, Soft: soft, Hard: hard})
	}
	restart, err := restartPolicy(s)
	if err != nil {
		return createConfig{}, err
	}
	host.RestartPolicy = restart
	if s.Logging != nil {
		host.LogConfig = container.LogConfig{Type: s.Logging.Driver, Config: map[string]string(s.Logging.Options)}
	}
	for _, t := range s.Tmpfs {
		if host.Tmpfs == nil {
			host.Tmpfs = map[string]string{}
		}
		path, opts, _ := strings.Cut(t, ":")
		host.Tmpfs[path] = opts
	}
	if err := mounts(p, s, host); err != nil {
		return createConfig{}, err
	}
	for _, e := range s.Expose {
		port, err := nat.NewPort(protoOf(e))
		if err != nil {
			return createConfig{}, fmt.Errorf("service %s: expose %q: %w", s.Name, e, err)
		}
		cfg.ExposedPorts[port] = struct{}{}
	}
	for _, pc := range s.Ports {
		proto := pc.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port, err := nat.NewPort(proto, strconv.Itoa(int(pc.Target)))
		if err != nil {
			return createConfig{}, fmt.Errorf("service %s: port %d: %w", s.Name, pc.Target, err)
		}
		cfg.ExposedPorts[port] = struct{}{}
		if pc.Published != "" || pc.HostIP != "" {
			host.PortBindings[port] = append(host.PortBindings[port], nat.PortBinding{HostIP: pc.HostIP, HostPort: pc.Published})
		}
	}

	out := createConfig{Config: cfg, Host: host}
	switch {
	case s.NetworkMode != "":
		host.NetworkMode = container.NetworkMode(s.NetworkMode)
		if strings.HasPrefix(s.NetworkMode, "service:") {
			return createConfig{}, fmt.Errorf("service %s: network_mode %s is not supported: use a shared network", s.Name, s.NetworkMode)
		}
	default:
		keys := sortedNetworkKeys(s)
		for i, key := range keys {
			n, ok := p.Networks[key]
			if !ok {
				return createConfig{}, fmt.Errorf("service %s uses undeclared network %s", s.Name, key)
			}
			ep := &network.EndpointSettings{Aliases: []string{s.Name}}
			if sn := s.Networks[key]; sn != nil {
				ep.Aliases = append(ep.Aliases, sn.Aliases...)
				if sn.Ipv4Address != "" || sn.Ipv6Address != "" {
					ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: sn.Ipv4Address, IPv6Address: sn.Ipv6Address}
				}
			}
			if i == 0 {
				host.NetworkMode = container.NetworkMode(n.Name)
				out.Networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{n.Name: ep}}
			} else {
				out.MoreNetworks = append(out.MoreNetworks, namedEndpoint{Network: n.Name, Endpoint: ep})
			}
		}
	}
	return out, nil
}

// sortedNetworkKeys orders a service's networks by priority (highest first), then name.
func sortedNetworkKeys(s types.ServiceConfig) []string {
	keys := sortedKeys(s.Networks)
	sort.SliceStable(keys, func(i, j int) bool {
		pi, pj := 0, 0
		if n := s.Networks[keys[i]]; n != nil {
			pi = n.Priority
		}
		if n := s.Networks[keys[j]]; n != nil {
			pj = n.Priority
		}
		return pi > pj
	})
	return keys
}

func protoOf(e string) (string, string) {
	port, proto, ok := strings.Cut(e, "/")
	if !ok {
		proto = "tcp"
	}
	return proto, port
}

func environment(env types.MappingWithEquals) []string {
	out := make([]string, 0, len(env))
	for _, k := range sortedKeys(env) {
		if v := env[k]; v != nil {
			out = append(out, k+"="+*v)
		}
	}
	return out
}

func extraHosts(h types.HostsList) []string {
	var out []string
	for _, host := range sortedKeys(h) {
		for _, ip := range h[host] {
			out = append(out, host+":"+ip)
		}
	}
	return out
}

func restartPolicy(s types.ServiceConfig) (container.RestartPolicy, error) {
	r := s.Restart
	if r == "" && s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		switch s.Deploy.RestartPolicy.Condition {
		case "any":
			r = "always"
		case "on-failure":
			r = "on-failure"
		case "none":
			r = "no"
		}
	}
	name, count, _ := strings.Cut(r, ":")
	policy := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	switch name {
	case "", "no":
		policy.Name = container.RestartPolicyDisabled
	case "always", "unless-stopped":
	case "on-failure":
		if count != "" {
			n, err := strconv.Atoi(count)
			if err != nil {
				return policy, fmt.Errorf("service %s: restart %q: bad retry count", s.Name, r)
			}
			policy.MaximumRetryCount = n
		}
	default:
		return policy, fmt.Errorf("service %s: restart %q is not no, always, unless-stopped or on-failure[:n]", s.Name, r)
	}
	return policy, nil
}

// mounts maps volumes: bind mounts as Binds (Docker creates a missing host
// directory, as Compose does), named volumes and tmpfs as Mounts.
func mounts(p *types.Project, s types.ServiceConfig, host *container.HostConfig) error {
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeBind:
			bind := v.Source + ":" + v.Target
			var opts []string
			if v.ReadOnly {
				opts = append(opts, "ro")
			}
			if v.Bind != nil {
				if v.Bind.SELinux != "" {
					opts = append(opts, v.Bind.SELinux)
				}
				if v.Bind.Propagation != "" {
					opts = append(opts, v.Bind.Propagation)
				}
			}
			if len(opts) > 0 {
				bind += ":" + strings.Join(opts, ",")
			}
			host.Binds = append(host.Binds, bind)
		case types.VolumeTypeVolume:
			m := mount.Mount{Type: mount.TypeVolume, Target: v.Target, ReadOnly: v.ReadOnly}
			if v.Source != "" {
				decl, ok := p.Volumes[v.Source]
				if !ok {
					return fmt.Errorf("service %s uses undeclared volume %s", s.Name, v.Source)
				}
				m.Source = decl.Name
			}
			if v.Volume != nil {
				m.VolumeOptions = &mount.VolumeOptions{NoCopy: v.Volume.NoCopy, Subpath: v.Volume.Subpath}
			}
			host.Mounts = append(host.Mounts, m)
		case types.VolumeTypeTmpfs:
			m := mount.Mount{Type: mount.TypeTmpfs, Target: v.Target, ReadOnly: v.ReadOnly}
			if v.Tmpfs != nil {
				m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size), Mode: fsMode(v.Tmpfs.Mode)}
			}
			host.Mounts = append(host.Mounts, m)
		default:
			return fmt.Errorf("service %s: volume type %s is not supported", s.Name, v.Type)
		}
	}
	return nil
}

func fsMode(m uint32) os.FileMode { return os.FileMode(m) }
