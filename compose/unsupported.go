package compose

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
)

// Every field of compose-go's types.ServiceConfig is either applied by rasa-gitops or
// refused by name: never silently dropped. A field is named by its JSON path; "*"
// stands for any map key or list entry ("networks.*.mac_address"). A struct-valued
// field is listed whole, or split into its own fields when only some of them are
// applied. TestEveryServiceFieldIsAppliedOrRefused walks ServiceConfig by reflection,
// so a field added by a future compose-go release fails that test until it is listed
// in exactly one of AppliedFields and unsupportedFields.

// AppliedFields are the service fields rasa-gitops applies, with where: most are
// mapped to the Engine's create options by reconcile/convert.go's containerConfig; the
// others are resolved by compose-go's loader, used by reconcile (Prepare, the planner,
// Apply), or have no effect on a container under `docker compose up` either.
var AppliedFields = map[string]string{
	// compose-go's loader resolves these into other fields, or filters services.
	"profiles":   "compose-go's loader: a service with profiles is rendered only when one is active, and none is (as docker compose up)",
	"extends":    "compose-go's loader",
	"env_file":   "compose-go's loader, into environment",
	"label_file": "compose-go's loader, into labels",

	// reconcile: Prepare, the planner, Apply.
	"pull_policy": "reconcile.Prepare: always, never, missing, if_not_present (others are refused)",
	"depends_on":  "reconcile: start order, and dependants of a failed service are skipped",
	"build":       "never run: the image must be on the host or pullable (a service with build and no image is refused)",
	"scale":       "one container per service (other values are refused)",
	"image":       "containerConfig: Config.Image",

	// No effect on a container under docker compose up either.
	"attach":  "docker compose up's log attachment: no effect on the container",
	"develop": "docker compose watch only: docker compose up ignores it too",

	// containerConfig.
	"restart":           "containerConfig: HostConfig.RestartPolicy",
	"cap_add":           "containerConfig: HostConfig.CapAdd",
	"cap_drop":          "containerConfig: HostConfig.CapDrop",
	"cgroup_parent":     "containerConfig: HostConfig.CgroupParent",
	"cpus":              "containerConfig: HostConfig.NanoCPUs",
	"cpuset":            "containerConfig: HostConfig.CpusetCpus",
	"cpu_shares":        "containerConfig: HostConfig.CPUShares",
	"command":           "containerConfig: Config.Cmd",
	"entrypoint":        "containerConfig: Config.Entrypoint",
	"environment":       "containerConfig: Config.Env",
	"dns":               "containerConfig: HostConfig.DNS",
	"dns_opt":           "containerConfig: HostConfig.DNSOptions",
	"dns_search":        "containerConfig: HostConfig.DNSSearch",
	"domainname":        "containerConfig: Config.Domainname",
	"hostname":          "containerConfig: Config.Hostname",
	"extra_hosts":       "containerConfig: HostConfig.ExtraHosts",
	"group_add":         "containerConfig: HostConfig.GroupAdd",
	"init":              "containerConfig: HostConfig.Init",
	"ipc":               "containerConfig: HostConfig.IpcMode (service: is refused)",
	"pid":               "containerConfig: HostConfig.PidMode (service: is refused)",
	"uts":               "containerConfig: HostConfig.UTSMode",
	"userns_mode":       "containerConfig: HostConfig.UsernsMode",
	"labels":            "containerConfig: Config.Labels (compose.ContainerLabels)",
	"logging":           "containerConfig: HostConfig.LogConfig",
	"mem_limit":         "containerConfig: HostConfig.Memory",
	"mem_reservation":   "containerConfig: HostConfig.MemoryReservation",
	"memswap_limit":     "containerConfig: HostConfig.MemorySwap",
	"network_mode":      "containerConfig: HostConfig.NetworkMode (service: is refused)",
	"oom_kill_disable":  "containerConfig: HostConfig.OomKillDisable",
	"oom_score_adj":     "containerConfig: HostConfig.OomScoreAdj",
	"pids_limit":        "containerConfig: HostConfig.PidsLimit",
	"privileged":        "containerConfig: HostConfig.Privileged",
	"read_only":         "containerConfig: HostConfig.ReadonlyRootfs",
	"security_opt":      "containerConfig: HostConfig.SecurityOpt",
	"shm_size":          "containerConfig: HostConfig.ShmSize",
	"stop_grace_period": "containerConfig: Config.StopTimeout",
	"stop_signal":       "containerConfig: Config.StopSignal",
	"sysctls":           "containerConfig: HostConfig.Sysctls",
	"tmpfs":             "containerConfig: HostConfig.Tmpfs",
	"ulimits":           "containerConfig: HostConfig.Ulimits",
	"user":              "containerConfig: Config.User",
	"working_dir":       "containerConfig: Config.WorkingDir",
	"expose":            "containerConfig: Config.ExposedPorts",
	"healthcheck":       "containerConfig: Config.Healthcheck",
	"stdin_open":        "containerConfig: Config.OpenStdin",
	"tty":               "containerConfig: Config.Tty",

	"ports.*.target":       "containerConfig: Config.ExposedPorts, HostConfig.PortBindings",
	"ports.*.published":    "containerConfig: HostConfig.PortBindings",
	"ports.*.host_ip":      "containerConfig: HostConfig.PortBindings",
	"ports.*.protocol":     "containerConfig: Config.ExposedPorts, HostConfig.PortBindings",
	"ports.*.name":         "metadata: no effect on the container, as with docker compose up",
	"ports.*.app_protocol": "metadata: no effect on the container, as with docker compose up",
	"ports.*.mode":         "swarm only (host or ingress): docker compose up publishes the same way",

	"networks.*.aliases":      "containerConfig: EndpointSettings.Aliases",
	"networks.*.ipv4_address": "containerConfig: EndpointSettings.IPAMConfig",
	"networks.*.ipv6_address": "containerConfig: EndpointSettings.IPAMConfig",
	"networks.*.priority":     "containerConfig: the order networks are connected in",

	"volumes.*.type":                  "containerConfig: Binds or Mounts (image, npipe and cluster are refused)",
	"volumes.*.source":                "containerConfig: Binds, Mount.Source",
	"volumes.*.target":                "containerConfig: Binds, Mount.Target",
	"volumes.*.read_only":             "containerConfig: Binds (ro), Mount.ReadOnly",
	"volumes.*.consistency":           "Docker Desktop for Mac only: the Engine on Linux ignores it, as under docker compose up",
	"volumes.*.bind.selinux":          "containerConfig: Binds (z, Z)",
	"volumes.*.bind.propagation":      "containerConfig: Binds",
	"volumes.*.bind.create_host_path": "containerConfig: Binds create a missing host directory, as create_host_path: true (false is refused)",
	"volumes.*.volume.nocopy":         "containerConfig: Mount.VolumeOptions.NoCopy",
	"volumes.*.volume.subpath":        "containerConfig: Mount.VolumeOptions.Subpath",
	"volumes.*.tmpfs.size":            "containerConfig: Mount.TmpfsOptions.SizeBytes",
	"volumes.*.tmpfs.mode":            "containerConfig: Mount.TmpfsOptions.Mode",

	"deploy.replicas":                           "one container per service (other values are refused)",
	"deploy.resources.limits.cpus":              "containerConfig: HostConfig.NanoCPUs, when cpus is not set",
	"deploy.resources.limits.memory":            "containerConfig: HostConfig.Memory, when mem_limit is not set",
	"deploy.resources.limits.pids":              "containerConfig: HostConfig.PidsLimit, when pids_limit is not set",
	"deploy.restart_policy.condition":           "containerConfig: HostConfig.RestartPolicy, when restart is not set",
	"deploy.restart_policy.delay":               "swarm only: docker compose up ignores it too",
	"deploy.restart_policy.window":              "swarm only: docker compose up ignores it too",
	"deploy.mode":                               "swarm only: docker compose up ignores it too",
	"deploy.labels":                             "swarm only (service labels): docker compose up ignores it too",
	"deploy.update_config":                      "swarm only: docker compose up ignores it too",
	"deploy.rollback_config":                    "swarm only: docker compose up ignores it too",
	"deploy.placement":                          "swarm only: docker compose up ignores it too",
	"deploy.endpoint_mode":                      "swarm only: docker compose up ignores it too",
	"deploy.resources.limits.generic_resources": "swarm only: docker compose up ignores it too",
	// Mapped as docker compose v2.40.3 maps them (reconcile's differential test compares).
	"annotations":                        "containerConfig: HostConfig.Annotations (the Engine keeps them from API 1.43)",
	"blkio_config":                       "containerConfig: HostConfig.BlkioWeight, BlkioWeightDevice, BlkioDevice*",
	"cgroup":                             "containerConfig: HostConfig.CgroupnsMode",
	"cpu_count":                          "containerConfig: HostConfig.CPUCount",
	"cpu_percent":                        "containerConfig: HostConfig.CPUPercent",
	"cpu_period":                         "containerConfig: HostConfig.CPUPeriod",
	"cpu_quota":                          "containerConfig: HostConfig.CPUQuota",
	"cpu_rt_period":                      "containerConfig: HostConfig.CPURealtimePeriod",
	"cpu_rt_runtime":                     "containerConfig: HostConfig.CPURealtimeRuntime",
	"devices":                            "containerConfig: HostConfig.Devices",
	"device_cgroup_rules":                "containerConfig: HostConfig.DeviceCgroupRules",
	"gpus":                               "containerConfig: HostConfig.DeviceRequests",
	"isolation":                          "containerConfig: HostConfig.Isolation",
	"mem_swappiness":                     "containerConfig: HostConfig.MemorySwappiness",
	"mac_address":                        "containerConfig: the primary network's EndpointSettings.MacAddress (Config.MacAddress below API 1.44), as docker compose does",
	"platform":                           "ContainerCreate's platform",
	"runtime":                            "containerConfig: HostConfig.Runtime",
	"storage_opt":                        "containerConfig: HostConfig.StorageOpt (the Engine refuses it on drivers without quotas, as under docker compose up)",
	"networks.*.driver_opts":             "containerConfig: EndpointSettings.DriverOpts",
	"networks.*.gw_priority":             "containerConfig: EndpointSettings.GwPriority (API 1.48 and later, as docker compose)",
	"networks.*.interface_name":          "containerConfig: EndpointSettings.DriverOpts interface name (API 1.49 and later; refused at create below, as by docker compose)",
	"networks.*.link_local_ips":          "containerConfig: EndpointSettings.IPAMConfig.LinkLocalIPs",
	"networks.*.mac_address":             "containerConfig: EndpointSettings.MacAddress (API 1.44 and later; refused at create below, as by docker compose)",
	"volumes.*.bind.recursive":           "containerConfig: Mount.BindOptions (recursive read-only from API 1.44, as docker compose)",
	"volumes.*.volume.labels":            "containerConfig: Mount.VolumeOptions.Labels",
	"deploy.resources.reservations":      "containerConfig: HostConfig.MemoryReservation, DeviceRequests",
	"deploy.restart_policy.max_attempts": "containerConfig: HostConfig.RestartPolicy.MaximumRetryCount",
	"volume_driver":                      "containerConfig: the driver of anonymous volumes (Mount.VolumeOptions.DriverConfig)",
}

// unsupportedFields are the service fields rasa-gitops refuses whenever they are set,
// with what to do instead. reconcile's containerConfig does not apply them: running
// the container without them would run something else than declared.
var unsupportedFields = map[string]string{
	"configs":            "Compose configs are not mounted; mount the file from the repository with a bind mount instead",
	"secrets":            "Compose secrets are not mounted; pass the value with environment: ${VAR} from the daemon's environment, or a bind mount",
	"credential_spec":    "it applies to Windows containers only; remove it",
	"log_driver":         "write logging: {driver: ...} instead",
	"log_opt":            "write logging: {options: ...} instead",
	"models":             "Compose models are not run; remove it",
	"provider":           "provider services are not run; remove it",
	"pull_refresh_after": "images are pulled only when missing or with pull_policy: always; remove it",
	"umask":              "it is not passed to the Engine; remove it",
	"use_api_socket":     "bind-mount /var/run/docker.sock explicitly if the container needs the Engine",
	"volumes_from":       "declare the volumes on this service instead",
	"links":              "services reach each other by name on a shared network; remove it",
	"external_links":     "containers reach each other by name on a shared network; remove it",
	"net":                "write network_mode instead",
	"pre_start":          "lifecycle hooks are not run; remove it",
	"post_start":         "lifecycle hooks are not run; remove it",
	"pre_stop":           "lifecycle hooks are not run; remove it",
	"container_name":     "containers are named <project>-<service>-1, as Compose names them; remove it",
	"dockerfile":         "images are not built; build and push the image, and name it in image",

	"networks.*.use_service_name_alias": "the service name is always an alias on its networks; remove it",

	"volumes.*.image": "image volumes are not mounted; remove it",

	"deploy.resources.limits.devices": "devices are not passed to the Engine; remove it",
}

// UnsupportedField is one field of a service that rasa-gitops would not apply.
type UnsupportedField struct {
	// Path is where the field is in the service: ["networks", "front", "mac_address"].
	Path []string
	// Reason says what would happen and what to do instead.
	Reason string
}

// Field is the dotted path of the field, such as cpu_quota or networks.front.mac_address.
func (u UnsupportedField) Field() string { return strings.Join(u.Path, ".") }

// UnsupportedFields lists the fields of a rendered service that rasa-gitops would not
// apply, so that a declaration using them is refused (at validate, each at its key;
// in reconcile.Prepare again) instead of silently running something else.
func UnsupportedFields(s types.ServiceConfig) []UnsupportedField {
	return unsupportedIn(s, false)
}

// unsupportedIn lists the unsupported fields of s. A fragment (the fields one file
// declares for a service) need not name an image: others may.
func unsupportedIn(s types.ServiceConfig, fragment bool) []UnsupportedField {
	var out []UnsupportedField
	add := func(reason string, path ...string) {
		out = append(out, UnsupportedField{Path: path, Reason: reason})
	}
	for _, field := range sortedFieldPaths() {
		for _, path := range setPaths(reflect.ValueOf(s), strings.Split(field, "."), nil) {
			add(unsupportedFields[field], path...)
		}
	}
	if !fragment && s.Image == "" {
		add("build-only services are not supported: build and push the image first, and name it in image", "image")
	}
	if s.Scale != nil && *s.Scale != 1 {
		add("one container runs per service; write scale: 1 or remove it", "scale")
	}
	if s.Deploy != nil && s.Deploy.Replicas != nil && *s.Deploy.Replicas != 1 {
		add("one container runs per service; write replicas: 1 or remove it", "deploy", "replicas")
	}
	switch s.PullPolicy {
	case "", types.PullPolicyAlways, types.PullPolicyNever, types.PullPolicyMissing, types.PullPolicyIfNotPresent:
	default:
		add("images are pulled when missing, always or never; write pull_policy: missing, always or never", "pull_policy")
	}
	for _, f := range []struct{ name, value string }{{"network_mode", s.NetworkMode}, {"ipc", s.Ipc}, {"pid", s.Pid}} {
		if strings.HasPrefix(f.value, types.ServicePrefix) {
			add(f.value+" is not resolved to the service's container; use a shared network, or container:<project>-<service>-1", f.name)
		}
	}
	for i, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeImage, types.VolumeTypeNamedPipe, types.VolumeTypeCluster:
			add("volumes of type "+v.Type+" are not mounted; use a bind mount, a named volume or tmpfs", "volumes", strconv.Itoa(i), "type")
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field() < out[j].Field() })
	return out
}

var sortedFieldPaths = sync.OnceValue(func() []string {
	out := make([]string, 0, len(unsupportedFields))
	for f := range unsupportedFields {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
})

// setPaths returns the concrete paths at which the field path steps is set (not
// empty) in v, "*" matching each map key (sorted) or list index.
func setPaths(v reflect.Value, steps, at []string) [][]string {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		if len(steps) == 0 && v.Kind() == reflect.Pointer && v.Elem().Kind() != reflect.Struct {
			// A pointer to a scalar is set when it is there, even to false or 0
			// (use_service_name_alias: false).
			return [][]string{append([]string(nil), at...)}
		}
		v = v.Elem()
	}
	if len(steps) == 0 {
		if isEmpty(v) {
			return nil
		}
		return [][]string{append([]string(nil), at...)}
	}
	step, rest := steps[0], steps[1:]
	var out [][]string
	switch v.Kind() {
	case reflect.Struct:
		if idx, ok := jsonFields(v.Type())[step]; ok {
			out = setPaths(v.FieldByIndex(idx), rest, append(at, step))
		}
	case reflect.Map:
		if step != "*" {
			return nil
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			out = append(out, setPaths(v.MapIndex(k), rest, append(at, k.String()))...)
		}
	case reflect.Slice, reflect.Array:
		if step != "*" {
			return nil
		}
		for i := 0; i < v.Len(); i++ {
			out = append(out, setPaths(v.Index(i), rest, append(at, strconv.Itoa(i)))...)
		}
	}
	return out
}

// isEmpty reports whether a field holds nothing: its zero value, or an empty map or list.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Map, reflect.Slice:
		return v.Len() == 0
	}
	return v.IsZero()
}

var jsonFieldCache sync.Map // reflect.Type → map[string][]int

// jsonFields maps the JSON names of a struct's fields (embedded structs without a
// name flattened, as encoding/json does) to their index paths.
func jsonFields(t reflect.Type) map[string][]int {
	if m, ok := jsonFieldCache.Load(t); ok {
		return m.(map[string][]int)
	}
	m := map[string][]int{}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(append([]int(nil), index...), i)
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if tag == "-" || !f.IsExported() {
				continue
			}
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if name == "" {
				name = f.Name
			}
			m[name] = idx
		}
	}
	walk(t, nil)
	jsonFieldCache.Store(t, m)
	return m
}
