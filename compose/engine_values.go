package compose

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/netip"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/opts"
	"github.com/docker/go-connections/nat"
	"github.com/docker/go-units"
	"github.com/moby/sys/capability"
	"github.com/moby/sys/signal"
	"gopkg.in/yaml.v3"
)

// Values compose-go accepts but the Docker Engine refuses when apply creates or starts
// the container (or reconcile's containerConfig cannot map) are refused at validate,
// each at its YAML node, so that a valid declaration does not fail at apply. The rules
// are the Engine's own: its API types' validators (container.ValidateRestartPolicy,
// network.ValidateIPAM, the namespace modes' Valid), its opts package, go-units and
// go-connections as the Engine parses with them, moby/sys/signal and the capability
// list, and what the Engine's daemon (daemon/container.go verifyContainerSettings,
// daemon/daemon_unix.go verifyPlatformContainerResources and
// verifyPlatformContainerSettings, runconfig) and its runtime (runc's sysctl and
// rlimit checks, the kernel's cgroup and tmpfs limits) refuse.
//
// Not checked, because the answer depends on the host the Engine runs on rather than
// on the declaration: cpus above the host's CPU count, cpuset CPUs or memory nodes the
// host lacks, cgroup_parent under the systemd cgroup driver (a .slice), a log driver
// that may be a plugin, users and groups of the image, bind-mount sources and device
// paths, net.* sysctls the kernel does not have, and ulimits above what the daemon
// may raise.

// Wording of the problems.
const (
	refusedByEngine = "would be refused by the Docker Engine: "
	cannotApply     = "cannot be applied: "
	notSupported    = "is not supported by rasa-gitops: "
)

// linuxMinMemory is the Engine's smallest memory limit and reservation
// (daemon/daemon_unix.go linuxMinMemory).
const linuxMinMemory = 6 * 1024 * 1024

// valueProblem is a value of a service the Engine would refuse.
type valueProblem struct {
	// path is where the value is in the service, such as ["ulimits", "nofile"].
	path []string
	// also are other places to report it, in order, when path is not written in any
	// file (a cross-field problem with a field rasa-gitops generates).
	also [][]string
	// msg follows the path (and the value as written, when path is a scalar).
	msg string
	// noValue leaves the value out of the message.
	noValue bool
}

func refused(p []string, format string, args ...any) valueProblem {
	return valueProblem{path: p, msg: refusedByEngine + fmt.Sprintf(format, args...)}
}

func steps(s ...string) []string { return s }

// serviceValueProblems checks each value of one service on its own, kind by kind.
func serviceValueProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	for _, check := range []func(types.ServiceConfig) []valueProblem{
		processProblems, memoryProblems, cpuProblems, namespaceProblems, securityProblems, networkingProblems, mountProblems, loggingProblems,
	} {
		out = append(out, check(s)...)
	}
	return out
}

// processProblems checks a service's values of one kind: process: restart policies, working directory, stop signal, host name.
func processProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	add := func(p valueProblem) { out = append(out, p) }
	if s.Restart != "" {
		if p, ok := restartProblem(s.Restart); !ok {
			p.path = steps("restart")
			add(p)
		}
	}
	if d := s.Deploy; d != nil && d.RestartPolicy != nil {
		// containerConfig maps the condition as Compose does, and passes others on.
		switch c := d.RestartPolicy.Condition; c {
		case "", "none", "no", "any", "always", "on-failure", "unless-stopped":
			if m := d.RestartPolicy.MaxAttempts; m != nil && *m > 0 && c != "on-failure" {
				add(refused(steps("deploy", "restart_policy", "max_attempts"), "a maximum number of attempts is allowed only with condition: on-failure"))
			}
		default:
			add(refused(steps("deploy", "restart_policy", "condition"), "use none, on-failure or any"))
		}
	}
	if s.WorkingDir != "" && !path.IsAbs(s.WorkingDir) {
		add(refused(steps("working_dir"), "the working directory must be an absolute path, such as /app"))
	}
	if s.StopSignal != "" {
		if _, err := signal.ParseSignal(s.StopSignal); err != nil {
			add(refused(steps("stop_signal"), "it is not a signal: use a name such as SIGTERM or SIGINT, or a number"))
		}
	}
	if len(s.Hostname) > 64 {
		add(refused(steps("hostname"), "the kernel allows at most 64 characters, this one has %d", len(s.Hostname)))
	}
	for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
		if k == "" {
			add(refused(steps("environment", ""), "a variable needs a name: write NAME=value"))
		}
	}
	if hc := s.HealthCheck; hc != nil {
		if hc.StartInterval != nil && hc.StartPeriod == nil {
			add(valueProblem{path: steps("healthcheck", "start_interval"), msg: cannotApply + "it needs healthcheck.start_period too (it times the checks of the start period)"})
		}
		for _, d := range []struct {
			key string
			v   *types.Duration
		}{{"interval", hc.Interval}, {"timeout", hc.Timeout}, {"start_period", hc.StartPeriod}, {"start_interval", hc.StartInterval}} {
			if d.v != nil && *d.v != 0 && time.Duration(*d.v) < container.MinimumDuration {
				add(refused(steps("healthcheck", d.key), "it must be 0 (the default) or at least %s", container.MinimumDuration))
			}
		}
	}
	return out
}

// memoryMinimum refuses a memory size below the Engine's minimum.
func memoryMinimum(p []string, v types.UnitBytes, what string) []valueProblem {
	if v != 0 && v < linuxMinMemory {
		return []valueProblem{refused(p, "a %s must be at least 6MB", what)}
	}
	return nil
}

// cpusMinimum refuses a negative number of CPUs, or fewer than the kernel can quota.
func cpusMinimum(p []string, v float32) []valueProblem {
	nano := int64(v * 1e9) // as containerConfig computes NanoCPUs
	switch {
	case nano < 0:
		return []valueProblem{refused(p, "the number of CPUs cannot be negative")}
	case nano > 0 && nano < 1e7:
		return []valueProblem{refused(p, "the kernel needs at least 0.01 CPUs (a 1ms quota per 100ms period)")}
	}
	return nil
}

// memoryProblems checks a service's values of one kind: memory.
func memoryProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	add := func(p valueProblem) { out = append(out, p) }
	out = append(out, memoryMinimum(steps("mem_limit"), s.MemLimit, "memory limit")...)
	if s.MemReservation > 0 {
		out = append(out, memoryMinimum(steps("mem_reservation"), s.MemReservation, "memory reservation")...)
	}
	if s.ShmSize < 0 {
		add(refused(steps("shm_size"), "the size of /dev/shm cannot be negative"))
	}
	if s.MemSwappiness != 0 && s.MemSwappiness != -1 && (s.MemSwappiness < 0 || s.MemSwappiness > 100) {
		add(refused(steps("mem_swappiness"), "use a value from 0 to 100"))
	}
	return out
}

// cpuProblems checks a service's values of one kind: cpu.
func cpuProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	add := func(p valueProblem) { out = append(out, p) }
	out = append(out, cpusMinimum(steps("cpus"), s.CPUS)...)
	if s.CPUShares != 0 && (s.CPUShares < 2 || s.CPUShares > 262144) {
		add(refused(steps("cpu_shares"), "the kernel accepts CPU shares from 2 to 262144"))
	}
	if s.CPUPeriod != 0 && (s.CPUPeriod < 1000 || s.CPUPeriod > 1000000) {
		add(refused(steps("cpu_period"), "the CFS period must be from 1000 (1ms) to 1000000 (1s)"))
	}
	if s.CPUQuota > 0 && s.CPUQuota < 1000 {
		add(refused(steps("cpu_quota"), "the CFS quota must be at least 1000 (1ms)"))
	}
	if b := s.BlkioConfig; b != nil {
		if b.Weight != 0 && (b.Weight < 10 || b.Weight > 1000) {
			add(refused(steps("blkio_config", "weight"), "a block I/O weight must be from 10 to 1000"))
		}
		for i, w := range b.WeightDevice {
			if w.Weight != 0 && (w.Weight < 10 || w.Weight > 1000) {
				add(refused(steps("blkio_config", "weight_device", strconv.Itoa(i), "weight"), "a block I/O weight must be from 10 to 1000"))
			}
		}
	}
	if d := s.Deploy; d != nil && d.Resources.Limits != nil {
		out = append(out, memoryMinimum(steps("deploy", "resources", "limits", "memory"), d.Resources.Limits.MemoryBytes, "memory limit")...)
		out = append(out, cpusMinimum(steps("deploy", "resources", "limits", "cpus"), float32(d.Resources.Limits.NanoCPUs))...)
	}
	return out
}

// namespaceProblems checks a service's values of one kind: namespaces.
func namespaceProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	add := func(p valueProblem) { out = append(out, p) }
	if s.Ipc != "" && !strings.HasPrefix(s.Ipc, types.ServicePrefix) && !container.IpcMode(s.Ipc).Valid() {
		add(refused(steps("ipc"), "use private, shareable, none, host or container:<name>"))
	}
	if s.Pid != "" && !strings.HasPrefix(s.Pid, types.ServicePrefix) && !container.PidMode(s.Pid).Valid() {
		add(refused(steps("pid"), "use host or container:<name>"))
	}
	if s.Uts != "" && !container.UTSMode(s.Uts).Valid() {
		add(refused(steps("uts"), "use host, or remove it"))
	}
	return out
}

// securityProblems checks a service's values of one kind: capabilities, security options, sysctls, ulimits.
func securityProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	add := func(p valueProblem) { out = append(out, p) }
	for _, caps := range []struct {
		key  string
		list []string
	}{{"cap_add", s.CapAdd}, {"cap_drop", s.CapDrop}} {
		for i, c := range caps.list {
			if !knownCapability(c) {
				add(refused(steps(caps.key, strconv.Itoa(i)), "it is not a Linux capability: use a name such as NET_ADMIN or SYS_PTRACE, or ALL"))
			}
		}
	}
	for i, o := range s.SecurityOpt {
		if p, ok := securityOptProblem(o); !ok {
			p.path = steps("security_opt", strconv.Itoa(i))
			add(p)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Sysctls)) {
		if reason := sysctlProblem(name); reason != "" {
			add(valueProblem{path: steps("sysctls", name), msg: refusedByEngine + reason, noValue: true})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Ulimits)) {
		if reason := ulimitProblem(name, s.Ulimits[name]); reason != "" {
			add(valueProblem{path: steps("ulimits", name), msg: refusedByEngine + reason, noValue: true})
		}
	}
	return out
}

// networkingProblems checks a service's values of one kind: networking.
func networkingProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	add := func(p valueProblem) { out = append(out, p) }
	for _, host := range slices.Sorted(maps.Keys(s.ExtraHosts)) {
		for _, ip := range s.ExtraHosts[host] {
			if _, err := opts.ValidateExtraHost(host + ":" + ip); err != nil { // as containerConfig joins them
				add(refused(steps("extra_hosts", host), "the address must be an IP address or host-gateway"))
			}
		}
	}
	for i, p := range s.Ports {
		if p.Target > 65535 {
			add(refused(steps("ports", strconv.Itoa(i), "target"), "a container port must be from 1 to 65535"))
		}
		if p.Published != "" {
			if _, _, err := nat.ParsePortRange(p.Published); err != nil {
				add(refused(steps("ports", strconv.Itoa(i), "published"), "write a host port from 0 to 65535 or a range such as 8000-8010"))
			}
		}
		switch p.Protocol {
		case "", "tcp", "udp", "sctp":
		default:
			add(refused(steps("ports", strconv.Itoa(i), "protocol"), "use tcp, udp or sctp"))
		}
	}
	if s.MacAddress != "" {
		if _, err := net.ParseMAC(s.MacAddress); err != nil {
			add(refused(steps("mac_address"), "it is not a MAC address, such as 02:42:ac:11:00:02"))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(s.Networks)) {
		n := s.Networks[key]
		if n == nil {
			continue
		}
		if n.MacAddress != "" {
			if _, err := net.ParseMAC(n.MacAddress); err != nil {
				add(refused(steps("networks", key, "mac_address"), "it is not a MAC address, such as 02:42:ac:11:00:02"))
			}
		}
		if n.Ipv4Address != "" {
			if a, err := netip.ParseAddr(n.Ipv4Address); err != nil || !a.Unmap().Is4() {
				add(refused(steps("networks", key, "ipv4_address"), "it is not an IPv4 address"))
			}
		}
		if n.Ipv6Address != "" {
			if a, err := netip.ParseAddr(n.Ipv6Address); err != nil || !a.Is6() || a.Is4In6() {
				add(refused(steps("networks", key, "ipv6_address"), "it is not an IPv6 address"))
			}
		}
	}
	return out
}

// mountProblems checks a service's values of one kind: mounts.
func mountProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	add := func(p valueProblem) { out = append(out, p) }
	for i, t := range s.Tmpfs {
		dest, options, _ := strings.Cut(t, ":")
		if reason := tmpfsProblem(dest, options); reason != "" {
			add(refused(steps("tmpfs", strconv.Itoa(i)), "%s", reason))
		}
	}
	for i, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeBind, types.VolumeTypeVolume, types.VolumeTypeTmpfs:
			if v.Target != "" && !path.IsAbs(v.Target) {
				p := refused(steps("volumes", strconv.Itoa(i), "target"), "the mount path in the container must be absolute, such as /data")
				p.also = [][]string{steps("volumes", strconv.Itoa(i))} // the short syntax
				add(p)
			}
		}
		if v.Bind != nil {
			switch v.Bind.Propagation {
			case "", "private", "rprivate", "shared", "rshared", "slave", "rslave":
			default:
				add(refused(steps("volumes", strconv.Itoa(i), "bind", "propagation"), "use private, rprivate, shared, rshared, slave or rslave"))
			}
		}
	}
	return out
}

// loggingProblems checks a service's values of one kind: logging.
func loggingProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	add := func(p valueProblem) { out = append(out, p) }
	if l := s.Logging; l != nil {
		for _, p := range logOptionProblems(l.Driver, l.Options) {
			add(p)
		}
	}
	return out
}

// restartProblem checks a restart value as reconcile's containerConfig reads it
// (name[:max-retries]) and as the Engine validates the policy.
func restartProblem(r string) (valueProblem, bool) {
	name, count, hasCount := strings.Cut(r, ":")
	policy := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	if name == "no" {
		policy.Name = container.RestartPolicyDisabled
	}
	switch name {
	case "no", "always", "unless-stopped", "on-failure":
	default:
		return valueProblem{msg: refusedByEngine + "use no, always, unless-stopped or on-failure[:max-retries]"}, false
	}
	if hasCount {
		n, err := strconv.Atoi(count)
		if err != nil {
			return valueProblem{msg: "is not a restart policy: the maximum number of retries after on-failure: is a whole number, such as on-failure:3"}, false
		}
		policy.MaximumRetryCount = n
	}
	if err := container.ValidateRestartPolicy(policy); err != nil {
		if policy.MaximumRetryCount < 0 {
			return valueProblem{msg: refusedByEngine + "the maximum number of retries cannot be negative"}, false
		}
		return valueProblem{msg: refusedByEngine + "a maximum number of retries is allowed only with on-failure, such as on-failure:3"}, false
	}
	if hasCount && name != "on-failure" {
		// containerConfig drops it; docker compose sends it and the Engine refuses it.
		return valueProblem{msg: refusedByEngine + "a maximum number of retries is allowed only with on-failure, such as on-failure:3"}, false
	}
	return valueProblem{}, true
}

var knownCapabilities = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = true
	}
	return m
})

// knownCapability says whether the Engine accepts a cap_add or cap_drop entry: ALL or
// a capability, in any case, with or without CAP_ (oci/caps NormalizeLegacyCapabilities).
// Docker Engines before 23.0 do not know CAP_PERFMON, CAP_BPF and
// CAP_CHECKPOINT_RESTORE yet.
func knownCapability(c string) bool {
	c = strings.ToUpper(c)
	if c == "ALL" {
		return true
	}
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return knownCapabilities()[c]
}

// securityOptProblem checks a security_opt entry as containerConfig passes it (as
// Compose does: systempaths=unconfined unmasks /proc and /sys, a seccomp profile file
// is read, see seccompFileProblem) and the Engine parses it (daemon/daemon_unix.go
// parseSecurityOpt).
func securityOptProblem(o string) (valueProblem, bool) {
	if o == "no-new-privileges" || o == "systempaths=unconfined" {
		return valueProblem{}, true
	}
	k, v, ok := strings.Cut(o, "=")
	if !ok {
		k, v, ok = strings.Cut(o, ":")
	}
	if !ok {
		return valueProblem{msg: cannotApply + "write KEY=VALUE, such as no-new-privileges=true or seccomp=unconfined"}, false
	}
	switch k {
	case "label", "apparmor", "seccomp":
		return valueProblem{}, true
	case "no-new-privileges", "writable-cgroups":
		if _, err := strconv.ParseBool(v); err != nil {
			return valueProblem{msg: refusedByEngine + k + " takes true or false"}, false
		}
		return valueProblem{}, true
	}
	return valueProblem{msg: refusedByEngine + "use label=, apparmor=, seccomp=, no-new-privileges= or writable-cgroups= (or systempaths=unconfined)"}, false
}

// seccompFileProblem checks the profile file of a security_opt seccomp=FILE entry:
// containerConfig reads it relative to the repository (the project directory) and
// sends it inline, as Compose does. A host path is the host's to have.
func seccompFileProblem(root, o string) string {
	k, v, ok := strings.Cut(o, "=")
	if !ok {
		k, v, _ = strings.Cut(o, ":")
	}
	if k != "seccomp" || v == "unconfined" || v == "builtin" || v == "" || filepath.IsAbs(v) {
		return ""
	}
	data, err := readRepoFile(root, filepath.FromSlash(path.Clean(filepath.ToSlash(v))), DefaultLimits.MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errEscapes) {
		return "the seccomp profile " + clip(v) + " is not a file of the repository (a relative path is read from the repository's root)"
	}
	if err != nil {
		return "the seccomp profile " + clip(v) + " cannot be read"
	}
	if !json.Valid(data) {
		return "the seccomp profile " + clip(v) + " is not JSON"
	}
	return ""
}

// ipcSysctls are the sysctls of the IPC namespace (with fs.mqueue.*), as the Engine's
// runtime runc lists them (libcontainer/configs/validate: sysctl).
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// sysctlNamespace names the namespace a sysctl belongs to (ipc, net or uts), or "".
func sysctlNamespace(name string) string {
	switch {
	case ipcSysctls[name] || strings.HasPrefix(name, "fs.mqueue."):
		return "ipc"
	case strings.HasPrefix(name, "net."):
		return "net"
	case name == "kernel.domainname":
		return "uts"
	}
	return ""
}

// sysctlProblem says why the runtime would refuse a sysctl on its own: a container
// can set only the sysctls of its own namespaces (runc refuses the others when the
// container starts).
func sysctlProblem(name string) string {
	if name == "kernel.hostname" {
		return "kernel.hostname conflicts with the container's hostname: write hostname instead"
	}
	if sysctlNamespace(name) == "" {
		return name + " is not namespaced, so a container cannot set it: only net.*, fs.mqueue.*, kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall, kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced and kernel.domainname can be set"
	}
	return ""
}

// ulimitProblem checks one ulimit as containerConfig maps it, with go-units'
// ParseUlimit (the Engine CLI's parser): a known resource, soft not above hard.
func ulimitProblem(name string, u *types.UlimitsConfig) string {
	if u == nil {
		return ""
	}
	soft, hard := int64(u.Soft), int64(u.Hard)
	if u.Single != 0 {
		soft, hard = int64(u.Single), int64(u.Single)
	}
	check := name
	if name == "as" { // the Engine and runc accept RLIMIT_AS; go-units leaves it out
		check = "core"
	}
	if _, err := units.ParseUlimit(fmt.Sprintf("%s=%d:%d", check, soft, hard)); err != nil {
		if strings.Contains(err.Error(), "invalid ulimit type") {
			return name + " is not a resource limit: use core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack or as"
		}
		if soft == -1 {
			return fmt.Sprintf("the soft limit cannot be unlimited (-1) under a hard limit of %d", hard)
		}
		return fmt.Sprintf("the soft limit %d is above the hard limit %d", soft, hard)
	}
	return ""
}

// tmpfsFlags are the mount flags the Engine accepts among tmpfs options, and
// tmpfsData the options it passes to the kernel (moby/sys/mount's flags and
// MergeTmpfsOptions' validFlags: the Engine refuses any other option when the
// container starts).
var (
	tmpfsFlags = map[string]bool{
		"defaults": true, "ro": true, "rw": true, "suid": true, "nosuid": true, "dev": true, "nodev": true,
		"exec": true, "noexec": true, "sync": true, "async": true, "dirsync": true, "remount": true,
		"mand": true, "nomand": true, "atime": true, "noatime": true, "diratime": true, "nodiratime": true,
		"bind": true, "rbind": true, "unbindable": true, "runbindable": true, "private": true, "rprivate": true,
		"shared": true, "rshared": true, "slave": true, "rslave": true, "relatime": true, "norelatime": true,
		"strictatime": true, "nostrictatime": true,
	}
	// tmpfsData maps each data option to the syntax the kernel's tmpfs accepts.
	tmpfsData = map[string]*regexp.Regexp{
		"size":      regexp.MustCompile(`^[0-9]+[kKmMgGtTpPeE%]?$`),
		"nr_blocks": regexp.MustCompile(`^[0-9]+[kKmMgGtTpPeE]?$`),
		"nr_inodes": regexp.MustCompile(`^[0-9]+[kKmMgGtTpPeE]?$`),
		"mode":      regexp.MustCompile(`^[0-7]{1,4}$`),
		"uid":       regexp.MustCompile(`^[0-9]+$`),
		"gid":       regexp.MustCompile(`^[0-9]+$`),
		"mpol":      regexp.MustCompile(`.`),
	}
)

// tmpfsProblem checks a tmpfs: entry, path[:options].
func tmpfsProblem(dest, options string) string {
	if !path.IsAbs(dest) {
		return "the mount path must be absolute, such as /tmp"
	}
	if path.Clean(dest) == "/" {
		return "a tmpfs cannot be mounted on /"
	}
	if options == "" {
		return ""
	}
	for _, o := range strings.Split(options, ",") {
		if tmpfsFlags[o] {
			continue
		}
		k, v, ok := strings.Cut(o, "=")
		re, known := tmpfsData[k]
		if !ok || !known {
			return fmt.Sprintf("%q is not a tmpfs option: use size=, mode=, uid=, gid=, nr_inodes=, nr_blocks= or a mount flag such as noexec", clip(o))
		}
		if !re.MatchString(v) {
			switch k {
			case "mode":
				return "mode= takes octal permissions, such as mode=1777"
			case "uid", "gid":
				return k + "= takes a number"
			}
			return k + "= takes a number with an optional k, m or g suffix, such as size=64m"
		}
	}
	return ""
}

// logOptionProblems checks the options of the log drivers built into the Engine
// (daemon/logger: ValidateLogOpts, and json-file's and local's own checks). Other
// drivers may be plugins of the host: they are left to the Engine.
func logOptionProblems(driver string, o map[string]string) []valueProblem {
	var out []valueProblem
	at := func(key string) []string { return steps("logging", "options", key) }
	if driver == "none" || (driver != "json-file" && driver != "local") {
		return nil
	}
	switch o["mode"] {
	case "", "blocking", "non-blocking":
	default:
		out = append(out, refused(at("mode"), "use blocking or non-blocking"))
	}
	if v, ok := o["max-buffer-size"]; ok {
		if o["mode"] != "non-blocking" {
			out = append(out, refused(at("max-buffer-size"), "it needs mode: non-blocking"))
		} else if _, err := units.RAMInBytes(v); err != nil {
			out = append(out, refused(at("max-buffer-size"), "write a size such as 4m"))
		}
	}
	known := map[string]bool{"mode": true, "max-buffer-size": true, "max-file": true, "max-size": true, "compress": true}
	if driver == "json-file" {
		for _, k := range []string{"labels", "labels-regex", "env", "env-regex", "tag"} {
			known[k] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o)) {
		if !known[k] {
			out = append(out, valueProblem{path: at(k), msg: refusedByEngine + fmt.Sprintf("%s is not an option of the %s log driver", clip(k), driver), noValue: true})
		}
	}
	hasSize := false
	if v, ok := o["max-size"]; ok {
		n, err := units.FromHumanSize(v)
		switch {
		case err != nil:
			out = append(out, refused(at("max-size"), "write a size such as 10m"))
		case driver == "json-file" && n <= 0:
			out = append(out, refused(at("max-size"), "it must be more than 0"))
		case n < 0:
			out = append(out, refused(at("max-size"), "it cannot be negative"))
		default:
			hasSize = true
		}
	}
	maxFile := 1 // json-file's default; local keeps 5
	if driver == "local" {
		maxFile = 5
	}
	if v, ok := o["max-file"]; ok {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			out = append(out, refused(at("max-file"), "it must be a whole number"))
		case driver == "json-file" && n < 1:
			out = append(out, refused(at("max-file"), "it must be at least 1"))
		case n < 0:
			out = append(out, refused(at("max-file"), "it cannot be negative"))
		default:
			maxFile = n
		}
	}
	compress := driver == "local" // local compresses unless told not to
	if v, ok := o["compress"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			out = append(out, refused(at("compress"), "write true or false"))
			return out
		}
		compress = b
	}
	if compress {
		switch {
		case driver == "json-file" && (maxFile < 2 || !hasSize):
			out = append(out, refused(at("compress"), "compression needs max-file of 2 or more and a max-size"))
		case driver == "local" && maxFile <= 1:
			out = append(out, refused(at("max-file"), "the local driver compresses rotated files, which needs max-file of 2 or more (or compress: \"false\")"))
		}
	}
	return out
}

// serviceCrossProblems checks the values of a whole (rendered) service against each
// other: what only the merge of every file declaring it shows.
func serviceCrossProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	for _, check := range []func(types.ServiceConfig) []valueProblem{
		crossMemoryProblems, crossCPUProblems, crossMACProblems, crossNamespaceProblems,
	} {
		out = append(out, check(s)...)
	}
	return out
}

// crossMemoryProblems checks values that depend on each other: memory, as containerConfig picks it.
func crossMemoryProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	add := func(p valueProblem) { out = append(out, p) }
	memory, memAt := int64(s.MemLimit), steps("mem_limit")
	if memory == 0 && s.Deploy != nil && s.Deploy.Resources.Limits != nil && s.Deploy.Resources.Limits.MemoryBytes != 0 {
		memory, memAt = int64(s.Deploy.Resources.Limits.MemoryBytes), steps("deploy", "resources", "limits", "memory")
	}
	if swap := int64(s.MemSwapLimit); swap > 0 {
		switch {
		case memory == 0:
			add(refused(steps("memswap_limit"), "a swap limit needs a memory limit: set mem_limit too"))
		case swap < memory:
			add(refused(steps("memswap_limit"), "it counts memory plus swap, so it must be at least the memory limit (%s), or -1 for unlimited swap", units.BytesSize(float64(memory))))
		}
	}
	if r := int64(s.MemReservation); r > 0 && memory > 0 && memory < r {
		p := refused(steps("mem_reservation"), "the memory reservation must not be above the memory limit (%s)", units.BytesSize(float64(memory)))
		p.also = [][]string{memAt}
		add(p)
	}
	return out
}

// crossCPUProblems checks values that depend on each other: CPU, where cpus is a CFS quota and period of its own.
func crossCPUProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	add := func(p valueProblem) { out = append(out, p) }
	nano := int64(s.CPUS * 1e9)
	if nano == 0 && s.Deploy != nil && s.Deploy.Resources.Limits != nil {
		nano = int64(s.Deploy.Resources.Limits.NanoCPUs * 1e9)
	}
	if nano > 0 {
		if s.CPUPeriod > 0 {
			add(refused(steps("cpu_period"), "cpus and cpu_period cannot both be set"))
		}
		if s.CPUQuota > 0 {
			add(refused(steps("cpu_quota"), "cpus and cpu_quota cannot both be set"))
		}
	}
	return out
}

// crossMACProblems checks values that depend on each other: mac_address is the primary network's, which may say its own (containerConfig).
func crossMACProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	add := func(p valueProblem) { out = append(out, p) }
	if s.MacAddress != "" {
		if keys := s.NetworksByPriority(); len(keys) > 0 {
			if n := s.Networks[keys[0]]; n != nil && n.MacAddress != "" && n.MacAddress != s.MacAddress {
				add(valueProblem{path: steps("mac_address"), noValue: true, msg: cannotApply + fmt.Sprintf("it differs from networks.%s.mac_address: keep one", keys[0])})
			}
		}
	}
	return out
}

// crossNamespaceProblems checks values that depend on each other: namespaces shared with the host or another container.
func crossNamespaceProblems(s types.ServiceConfig) []valueProblem {
	var out []valueProblem
	add := func(p valueProblem) { out = append(out, p) }
	netMode := container.NetworkMode(s.NetworkMode)
	if container.UTSMode(s.Uts).IsHost() && s.Hostname != "" {
		p := refused(steps("hostname"), "a container with uts: host has the host's hostname: remove hostname or uts")
		p.also = [][]string{steps("uts")}
		add(p)
	}
	if netMode.IsContainer() {
		conflict := func(p []string, what string) {
			add(valueProblem{path: p, also: [][]string{steps("network_mode")}, noValue: true,
				msg: refusedByEngine + fmt.Sprintf("a container with network_mode %s shares that container's network, so it cannot have %s: remove one of them", s.NetworkMode, what)})
		}
		if s.Hostname != "" {
			conflict(steps("hostname"), "its own hostname")
		}
		if len(s.DNS) > 0 {
			conflict(steps("dns"), "its own dns")
		}
		if len(s.ExtraHosts) > 0 {
			conflict(steps("extra_hosts"), "extra_hosts (rasa-gitops adds host.docker.internal when the model server is there)")
		}
		if len(s.Ports) > 0 {
			conflict(steps("ports"), "published ports")
		}
		if len(s.Expose) > 0 {
			conflict(steps("expose"), "exposed ports")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Sysctls)) {
		var host string
		switch sysctlNamespace(name) {
		case "net":
			if netMode.IsHost() {
				host = "network_mode: host"
			}
		case "ipc":
			if container.IpcMode(s.Ipc).IsHost() {
				host = "ipc: host"
			}
		case "uts":
			if container.UTSMode(s.Uts).IsHost() {
				host = "uts: host"
			}
		}
		if host != "" {
			add(valueProblem{path: steps("sysctls", name), noValue: true,
				msg: refusedByEngine + fmt.Sprintf("a container with %s shares the host's namespace, so it cannot set %s", host, name)})
		}
	}
	return out
}

// projectProblems checks a rendered project's networks (their IPAM, as the Engine
// validates it) and the addresses services ask for on them.
func projectProblems(p *types.Project) (networks map[string][]valueProblem, services map[string][]valueProblem) {
	networks, services = map[string][]valueProblem{}, map[string][]valueProblem{}
	for _, key := range slices.Sorted(maps.Keys(p.Networks)) {
		n := p.Networks[key]
		if bool(n.External) {
			continue
		}
		ipv6 := n.EnableIPv6 != nil && *n.EnableIPv6
		for i, cfg := range n.Ipam.Config {
			if cfg == nil {
				continue
			}
			one := &network.IPAM{Config: []network.IPAMConfig{{Subnet: cfg.Subnet, IPRange: cfg.IPRange, Gateway: cfg.Gateway, AuxAddress: cfg.AuxiliaryAddresses}}}
			err := network.ValidateIPAM(one, ipv6)
			if err == nil {
				continue
			}
			at := func(field ...string) []string {
				return append(steps("ipam", "config", strconv.Itoa(i)), field...)
			}
			for _, e := range leafErrors(err) {
				msg := e.Error()
				where := at()
				switch {
				case strings.HasPrefix(msg, "invalid subnet"):
					where = at("subnet")
				case strings.HasPrefix(msg, "invalid ip-range"):
					where = at("ip_range")
				case strings.HasPrefix(msg, "invalid gateway"):
					where = at("gateway")
				case strings.HasPrefix(msg, "invalid auxiliary address "):
					name, _, _ := strings.Cut(strings.TrimPrefix(msg, "invalid auxiliary address "), ":")
					where = at("aux_addresses", name)
				}
				networks[key] = append(networks[key], valueProblem{path: where, msg: refusedByEngine + msg, noValue: true})
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		for _, key := range slices.Sorted(maps.Keys(s.Networks)) {
			sn := s.Networks[key]
			n, ok := p.Networks[key]
			if sn == nil || !ok || bool(n.External) {
				continue
			}
			for _, a := range []struct{ field, value string }{{"ipv4_address", sn.Ipv4Address}, {"ipv6_address", sn.Ipv6Address}} {
				addr, err := netip.ParseAddr(a.value)
				if a.value == "" || err != nil {
					continue // none, or reported on its own
				}
				addr = addr.Unmap()
				var subnets []string
				inside := false
				for _, cfg := range n.Ipam.Config {
					if cfg == nil {
						continue
					}
					if prefix, err := netip.ParsePrefix(cfg.Subnet); err == nil && prefix.Addr().Is4() == addr.Is4() {
						subnets = append(subnets, cfg.Subnet)
						inside = inside || prefix.Contains(addr)
					}
				}
				at := steps("networks", key, a.field)
				switch {
				case len(subnets) == 0:
					services[name] = append(services[name], refused(at, "a fixed address needs a subnet declared for network %s (ipam: config: - subnet: ...) that contains it", key))
				case !inside:
					services[name] = append(services[name], refused(at, "it is not in the subnets of network %s (%s)", key, strings.Join(subnets, ", ")))
				}
			}
		}
	}
	return networks, services
}

// leafErrors lists the errors joined inside err (network.ValidateIPAM joins one per
// value).
func leafErrors(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range x.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			if inner := x.Unwrap(); inner != nil && strings.HasPrefix(e.Error(), "invalid network config") {
				walk(inner)
				return
			}
			out = append(out, e)
		default:
			out = append(out, e)
		}
	}
	walk(err)
	return out
}

// A layer is one file's YAML declaring (part of) a service or a network; a rendered
// service's value is placed in the first layer, by precedence, that writes it.
type layer struct {
	file string
	node *yaml.Node
	what string // the path of node, in messages: "service", "rasa.service", "services.db"
}

// find walks steps down from n as far as they go: mapping keys, list indexes, and in
// a list of strings the entry that starts with "<step>=" or "<step>:" (sysctls,
// environment or extra_hosts written as a list). It returns the deepest node reached
// and how many steps it took.
func find(n *yaml.Node, path []string) (*yaml.Node, int) {
	cur := resolveAlias(n)
	depth := 0
	for _, step := range path {
		if cur == nil {
			break
		}
		next := child(cur, step, 0)
		if next == nil {
			break
		}
		cur = next
		depth++
	}
	return cur, depth
}

func child(n *yaml.Node, step string, depth int) *yaml.Node {
	if depth > 20 {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		var merged []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Value == "<<" && k.Tag == "!!merge" {
				merged = append(merged, mergeSources(n.Content[i+1])...)
				continue
			}
			if k.Value == step {
				v := resolveAlias(n.Content[i+1])
				if v.Line == 0 {
					return k
				}
				return v
			}
		}
		for _, m := range merged {
			if c := child(m, step, depth+1); c != nil {
				return c
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(step); err == nil {
			if i >= 0 && i < len(n.Content) {
				return resolveAlias(n.Content[i])
			}
			return nil
		}
		for _, item := range n.Content {
			item = resolveAlias(item)
			if item.Kind == yaml.ScalarNode && (item.Value == step || strings.HasPrefix(item.Value, step+"=") || strings.HasPrefix(item.Value, step+":")) {
				return item
			}
		}
	}
	return nil
}

// placed is a value problem placed at a node of a file.
type placed struct {
	file string
	at   *yaml.Node
	msg  string
}

// place finds where a problem goes among layers (by precedence): the first layer that
// writes its path, else one of its other paths, else the deepest match.
func place(p valueProblem, layers []layer) (placed, bool) {
	for _, path := range append([][]string{p.path}, p.also...) {
		for _, l := range layers {
			if n, depth := find(l.node, path); depth == len(path) {
				return placed{l.file, n, wording(l.what, path, n, p)}, true
			}
		}
	}
	best, bestDepth := -1, 0
	var bestNode *yaml.Node
	for i, l := range layers {
		if n, depth := find(l.node, p.path); depth > bestDepth {
			best, bestDepth, bestNode = i, depth, n
		}
	}
	if best < 0 {
		return placed{}, false
	}
	l := layers[best]
	q := p
	q.noValue = true
	return placed{l.file, bestNode, wording(l.what, p.path, nil, q)}, true
}

// wording words a problem: the path, the value as written when it is a scalar (never
// an interpolated value: a variable may be secret), then what is wrong.
func wording(what string, path []string, n *yaml.Node, p valueProblem) string {
	parts := []string{what}
	for _, step := range path {
		if step != "" { // an environment variable without a name
			parts = append(parts, step)
		}
	}
	where := strings.Join(parts, ".")
	if !p.noValue && n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return fmt.Sprintf("%s %q %s", where, clip(n.Value), p.msg)
	}
	return where + " " + p.msg
}

// checkFragmentValues runs the Engine checks on the fields one file declares for a
// service (node), once compose-go accepted them into s: unsupported fields at their
// keys, then each value the Engine would refuse.
func checkFragmentValues(c *collector, root, file string, node *yaml.Node, what string, s types.ServiceConfig, env map[string]string) {
	report := func(at *yaml.Node, msg string) { c.at(file, at, "%s", redactValues(msg, node, env)) }
	l := []layer{{file: file, node: node, what: what}}
	unsupported := unsupportedIn(s, true)
	for i, v := range s.Volumes {
		if v.Bind != nil && !bool(v.Bind.CreateHostPath) {
			if n, depth := find(node, steps("volumes", strconv.Itoa(i), "bind", "create_host_path")); depth == 4 && n.Kind == yaml.ScalarNode {
				unsupported = append(unsupported, UnsupportedField{Path: steps("volumes", strconv.Itoa(i), "bind", "create_host_path"),
					Reason: "a missing host directory is always created; remove create_host_path: false, and create the directory first if it must exist"})
			}
		}
	}
	for _, u := range unsupported {
		at, depth := find(node, u.Path)
		if depth == len(u.Path) { // report at the key
			if parent, _ := find(node, u.Path[:len(u.Path)-1]); parent != nil {
				if k := locateKey(parent, u.Path[len(u.Path)-1]); k != nil {
					at = k
				}
			}
		}
		report(at, strings.Join(append([]string{what}, u.Path...), ".")+" "+notSupported+u.Reason)
	}
	for i, o := range s.SecurityOpt {
		if reason := seccompFileProblem(root, o); reason != "" {
			p := steps("security_opt", strconv.Itoa(i))
			if pl, ok := place(valueProblem{path: p, msg: cannotApply + reason}, l); ok {
				report(pl.at, pl.msg)
			}
		}
	}
	ports := portIndexes(node, env)
	for _, p := range serviceValueProblems(s) {
		if covered(p.path, unsupported) {
			continue
		}
		if len(p.path) > 1 && p.path[0] == "ports" {
			i, _ := strconv.Atoi(p.path[1])
			if i < len(ports) {
				p.path = append(steps("ports", strconv.Itoa(ports[i])), p.path[2:]...)
			} else {
				p.path = steps("ports")
			}
		}
		if pl, ok := place(p, l); ok {
			report(pl.at, pl.msg)
		} else {
			report(node, wording(what, p.path, nil, valueProblem{msg: p.msg, noValue: true}))
		}
	}
}

// covered reports whether a path is at or under an unsupported field (reported as
// such, so its value is not checked too).
func covered(p []string, unsupported []UnsupportedField) bool {
	for _, u := range unsupported {
		if len(u.Path) <= len(p) && strings.Join(p[:len(u.Path)], "\x00") == strings.Join(u.Path, "\x00") {
			return true
		}
	}
	return false
}

// portIndexes maps each entry compose-go decodes from a service's ports: to the index
// of the entry written in YAML (a short-syntax range such as 8000-8001:8000-8001 is
// one entry per port).
func portIndexes(node *yaml.Node, env map[string]string) []int {
	ports, depth := find(node, steps("ports"))
	if depth != 1 || ports.Kind != yaml.SequenceNode {
		return nil
	}
	var out []int
	for i, item := range ports.Content {
		item = resolveAlias(item)
		count := 1
		if item.Kind == yaml.ScalarNode {
			if s, missing, err := interpolate(item.Value, MapLookup(env)); err == nil && len(missing) == 0 {
				if cfgs, err := types.ParsePortConfig(s); err == nil {
					count = len(cfgs)
				}
			}
		}
		for j := 0; j < count; j++ {
			out = append(out, i)
		}
	}
	return out
}

// checkRendered runs the checks only a rendered project can answer (a whole service,
// merged from every file declaring it; networks; addresses on networks) and, for
// services whose fields no check saw alone (with Compose merge tags), the others too.
func checkRendered(d *Declaration, p *types.Project) error {
	c := &collector{}
	secrets := d.SecretValues()
	report := func(pl placed) { c.at(pl.file, pl.at, "%s", MaskValues(pl.msg, secrets)) }
	fallback := func(name string) placed {
		if s, ok := d.composeServices[name]; ok {
			return placed{file: s.file, at: s.at}
		}
		for _, env := range d.Environments {
			if ServiceName(env.Name) == name {
				return placed{file: env.File}
			}
		}
		return placed{file: SettingsFile}
	}
	put := func(layers []layer, name, what string, problems []valueProblem) {
		for _, prob := range problems {
			if pl, ok := place(prob, layers); ok {
				report(pl)
				continue
			}
			pl := fallback(name)
			pl.msg = wording(what, prob.path, nil, valueProblem{msg: prob.msg, noValue: true})
			report(pl)
		}
	}
	networks, addresses := projectProblems(p)
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		layers := d.serviceLayers[name]
		what := "services." + name
		if len(layers) > 0 {
			what = layers[0].what
		}
		var problems []valueProblem
		for _, u := range UnsupportedFields(s) {
			if u.Field() == "image" && s.Image == "" {
				problems = append(problems, valueProblem{path: steps(), msg: "has no image, and rasa-gitops does not build images: build and push the image first, and name it in image", noValue: true})
				continue
			}
			problems = append(problems, valueProblem{path: u.Path, msg: notSupported + u.Reason, noValue: true})
		}
		for _, prob := range append(append(serviceValueProblems(s), serviceCrossProblems(s)...), addresses[name]...) {
			if !coveredPaths(prob.path, problems) {
				problems = append(problems, prob)
			}
		}
		put(layers, name, what, problems)
	}
	for _, key := range slices.Sorted(maps.Keys(networks)) {
		put(d.networkLayers[key], "", "networks."+key, networks[key])
	}
	return c.err()
}

func coveredPaths(p []string, unsupported []valueProblem) bool {
	for _, u := range unsupported {
		if strings.HasPrefix(u.msg, notSupported) && len(u.path) <= len(p) && strings.Join(p[:len(u.path)], "\x00") == strings.Join(u.path, "\x00") {
			return true
		}
	}
	return false
}
