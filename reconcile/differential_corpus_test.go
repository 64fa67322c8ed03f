package reconcile

// The corpus of the differential test (differential_test.go): Compose files of
// services on the stand-in image. {{IMAGE}} is the image, {{PORT1}}… free host ports
// ({{PORT5}} is {{PORT4}}+1, for a range), {{SUBNET}} a /24 no network of the Engine
// uses and {{ADDRESS}} an address in it.

// diffCorpus are the cases brought up by both rasa-gitops and docker compose. A case
// is either applied identically or, unless mustApply, refused by name at validate (or
// by Prepare): then it is not brought up, and its fields are not counted as applied.
// Every service must run on the stand-in, unless the case is createOnly.
var diffCorpus = []diffCase{
	{
		name:      "process",
		mustApply: true,
		fields: []string{"image", "entrypoint", "command", "environment", "env_file", "user", "working_dir",
			"hostname", "domainname", "tty", "stdin_open", "stop_signal", "stop_grace_period", "init",
			"labels", "attach", "pull_policy", "scale", "restart", "group_add", "healthcheck"},
		compose: `
x-base: &base
  image: {{IMAGE}}
  labels:
    tier: back
  restart: "no"
services:
  process:
    <<: *base
    entrypoint: ["/usr/local/bin/rasa-stub"]
    command: ["run", "--port", "5055"]
    environment:
      PLAIN: "1"
      EMPTY: ""
      DOLLAR: "a$$b"
      RASA_GITOPS_DIFFERENTIAL_UNSET:
    env_file:
      - path: app.env
      - path: missing.env
        required: false
    user: "1000:1000"
    working_dir: /tmp
    hostname: proc
    domainname: example.test
    tty: true
    stdin_open: true
    stop_signal: SIGINT
    stop_grace_period: 7s
    init: true
    labels:
      tier: front
      com.example.quoted: "a b"
    x-note: an extension field on a service
    attach: false
    pull_policy: never
    scale: 1
    restart: on-failure:3
    group_add: ["100", "2000"]
    healthcheck:
      test: ["CMD", "/usr/local/bin/rasa-stub", "health", "http://127.0.0.1:5055/"]
      interval: 1s
      timeout: 3s
      retries: 5
      start_period: 2s
  none-health:
    <<: *base
    healthcheck:
      test: ["NONE"]
  no-health:
    <<: *base
    restart: unless-stopped
    healthcheck:
      disable: true
`,
		files: map[string]string{"app.env": "FROM_FILE=yes\nPLAIN=from-file\n"},
	},
	{
		name:      "limits",
		mustApply: true,
		fields: []string{"cpu_shares", "cpuset", "mem_limit", "mem_reservation", "memswap_limit", "oom_kill_disable",
			"oom_score_adj", "pids_limit", "shm_size", "ulimits", "cgroup_parent", "cpus", "deploy"},
		compose: `
services:
  limits:
    image: {{IMAGE}}
    cpu_shares: 512
    cpuset: "0"
    mem_limit: 64m
    mem_reservation: 32m
    memswap_limit: 128m
    oom_kill_disable: true
    oom_score_adj: 100
    pids_limit: 64
    shm_size: 16m
    ulimits:
      nproc: 512
      nofile:
        soft: 1024
        hard: 2048
    cgroup_parent: rasa-gitops-differential
  nano:
    image: {{IMAGE}}
    cpus: 0.5
    pids_limit: -1
  deployed:
    image: {{IMAGE}}
    deploy:
      replicas: 1
      resources:
        limits:
          cpus: "0.25"
          memory: 48m
          pids: 32
      restart_policy:
        condition: any
`,
	},
	{
		// The issue: these three were dropped.
		name:      "cpu-quota",
		mustApply: true,
		fields:    []string{"cpu_period", "cpu_quota", "mem_swappiness"},
		compose: `
services:
  quota:
    image: {{IMAGE}}
    cpu_period: 100000
    cpu_quota: 50000
    mem_swappiness: 10
  swappiness-zero:
    image: {{IMAGE}}
    mem_swappiness: 0
`,
	},
	{
		// Windows-only: the Linux Engine keeps them in HostConfig and applies nothing.
		name:   "cpu-windows",
		fields: []string{"cpu_count", "cpu_percent"},
		compose: `
services:
  windows-cpu:
    image: {{IMAGE}}
    cpu_count: 1
    cpu_percent: 50
`,
	},
	{
		// This host gives containers no real-time CPU time: compared created.
		name:       "cpu-realtime",
		createOnly: true,
		fields:     []string{"cpu_rt_period", "cpu_rt_runtime"},
		compose: `
services:
  realtime:
    image: {{IMAGE}}
    cpu_rt_period: 1000000
    cpu_rt_runtime: 1000
`,
	},
	{
		// This host runs no privileged container (runc cannot apply every capability
		// here): compared created.
		name:       "privileged",
		mustApply:  true,
		createOnly: true,
		fields:     []string{"privileged"},
		compose: `
services:
  privileged:
    image: {{IMAGE}}
    privileged: true
`,
	},
	{
		name:      "security",
		mustApply: true,
		fields:    []string{"cap_add", "cap_drop", "read_only", "security_opt", "sysctls", "userns_mode", "ipc", "pid", "uts"},
		compose: `
services:
  confined:
    image: {{IMAGE}}
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE, sys_time]
    read_only: true
    security_opt:
      - no-new-privileges:true
      - seccomp=seccomp.json
      - label=disable
    sysctls:
      net.core.somaxconn: 1024
      net.ipv4.tcp_keepalive_time: "600"
    userns_mode: host
    ipc: shareable
  unconfined:
    image: {{IMAGE}}
    security_opt:
      - systempaths=unconfined
      - seccomp:unconfined
    pid: host
    uts: host
    ipc: private
`,
		files: map[string]string{"seccomp.json": "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n"},
	},
	{
		name:   "cgroup",
		fields: []string{"cgroup"},
		compose: `
services:
  private:
    image: {{IMAGE}}
    cgroup: private
  host:
    image: {{IMAGE}}
    cgroup: host
`,
	},
	{
		name:   "isolation",
		fields: []string{"isolation"},
		compose: `
services:
  isolated:
    image: {{IMAGE}}
    isolation: default
`,
	},
	{
		// HostConfig.Annotations came with API 1.43: both send it, Engine 20.10 keeps
		// nothing of it (see diffUnobservable).
		name:   "annotations",
		fields: []string{"annotations"},
		compose: `
services:
  annotated:
    image: {{IMAGE}}
    annotations:
      com.example.annotation: "1"
`,
	},
	{
		// The platform is a create parameter; the container inspects the same.
		name:   "platform",
		fields: []string{"platform"},
		compose: `
services:
  amd64:
    image: {{IMAGE}}
    platform: linux/amd64
`,
	},
	{
		name:      "network",
		mustApply: true,
		fields:    []string{"networks", "dns", "dns_opt", "dns_search", "extra_hosts", "expose", "ports", "network_mode"},
		compose: `
services:
  net:
    image: {{IMAGE}}
    networks:
      front:
        aliases: [web, www]
        priority: 10
        ipv4_address: {{ADDRESS}}
      back:
        aliases: [api]
    dns: [1.1.1.1, 9.9.9.9]
    dns_opt: [ndots:2, timeout:3]
    dns_search: example.test
    extra_hosts:
      - "db.local:10.0.0.5"
      - "cache.local=10.0.0.6"
      - "gateway:host-gateway"
    expose: ["7000", "7001-7002", "7003/udp"]
    ports:
      - "5055"
      - "127.0.0.1::5005"
      - "127.0.0.1:{{PORT1}}:5005"
      - "{{PORT2}}:5006/udp"
      - target: 5057
        published: "{{PORT3}}"
        host_ip: 127.0.0.1
        protocol: tcp
        mode: host
        name: web
        app_protocol: http
      - "127.0.0.1:{{PORT4}}-{{PORT5}}:5058-5059"
  plain:
    image: {{IMAGE}}
    extra_hosts:
      other.local: 10.0.0.7
    networks: [back]
  hostnet:
    image: {{IMAGE}}
    network_mode: host
    command: ["run", "--port", "{{PORT6}}"]
  nonet:
    image: {{IMAGE}}
    network_mode: none
networks:
  front:
    ipam:
      config:
        - subnet: {{SUBNET}}
  back: {}
`,
	},
	{
		// link_local_ips, driver_opts and gw_priority of an endpoint (gw_priority came
		// with API 1.48: see diffUnobservable).
		name:   "endpoint-options",
		fields: []string{"networks"},
		compose: `
services:
  endpoint:
    image: {{IMAGE}}
    networks:
      default:
        link_local_ips: [169.254.10.10]
        driver_opts:
          com.example.opt: "1"
        gw_priority: 1
`,
	},
	{
		// Below API 1.44 the MAC address is the container's (Config.MacAddress).
		name:   "mac-address",
		fields: []string{"mac_address"},
		compose: `
services:
  mac:
    image: {{IMAGE}}
    mac_address: "02:42:0a:d5:2f:0a"
`,
	},
	{
		name:      "mounts",
		mustApply: true,
		fields:    []string{"volumes", "tmpfs"},
		compose: `
services:
  mounts:
    image: {{IMAGE}}
    tmpfs:
      - /run:size=1m
      - /cache
    volumes:
      - ./data:/data
      - ./conf/app.conf:/etc/app.conf:ro
      - ./data:/relabel:z
      - named:/named
      - named:/named-ro:ro
      - /anonymous
      - type: bind
        source: ./data
        target: /long-bind
        read_only: true
      - type: bind
        source: ./data
        target: /propagated
        bind:
          propagation: private
      - type: bind
        source: ./data
        target: /consistent
        consistency: cached
      - type: volume
        source: named
        target: /nocopy
        volume:
          nocopy: true
      - type: volume
        source: named
        target: /subpath
        volume:
          subpath: sub
      - type: volume
        source: labelled
        target: /labelled
      - type: volume
        target: /anonymous-long
      - type: tmpfs
        target: /tmpfs
        tmpfs:
          size: 1048576
          mode: 01777
      - type: tmpfs
        target: /tmpfs-plain
volumes:
  named: {}
  labelled:
    labels:
      com.example.volume: "1"
`,
		files: map[string]string{"data/.keep": "", "data/sub/.keep": "", "conf/app.conf": "setting=1\n"},
	},
	{
		name:   "mount-options",
		fields: []string{"volumes"},
		compose: `
services:
  mount-options:
    image: {{IMAGE}}
    volumes:
      - type: bind
        source: ./data
        target: /no-create
        bind:
          create_host_path: false
      - type: bind
        source: ./data
        target: /non-recursive
        bind:
          recursive: disabled
      - type: volume
        target: /labelled-anonymous
        volume:
          labels:
            com.example.mount: "1"
`,
		files: map[string]string{"data/.keep": ""},
	},
	{
		name:      "logging",
		mustApply: true,
		fields:    []string{"logging", "restart"},
		compose: `
services:
  json-log:
    image: {{IMAGE}}
    restart: always
    logging:
      driver: json-file
      options:
        max-size: 1m
        max-file: "2"
  no-log:
    image: {{IMAGE}}
    restart: "no"
    logging:
      driver: none
  default-log:
    image: {{IMAGE}}
    logging:
      options:
        max-size: 2m
`,
	},
	{
		name:      "dependencies",
		mustApply: true,
		fields:    []string{"depends_on", "profiles", "extends"},
		compose: `
services:
  base:
    extends:
      file: common.yml
      service: parent
    healthcheck:
      test: ["CMD", "/usr/local/bin/rasa-stub", "health", "http://127.0.0.1:5005/"]
      interval: 1s
      start_period: 1s
  started:
    extends:
      service: base
    environment:
      CHILD: "1"
    depends_on:
      base:
        condition: service_started
  healthy:
    image: {{IMAGE}}
    depends_on:
      base:
        condition: service_healthy
        restart: true
      started:
        condition: service_started
        required: false
  job:
    image: {{IMAGE}}
    restart: "no"
    command: ["health", "http://base:5005/"]
    depends_on:
      base:
        condition: service_healthy
  after-job:
    image: {{IMAGE}}
    depends_on:
      job:
        condition: service_completed_successfully
  debug:
    image: {{IMAGE}}
    profiles: [debug]
`,
		files: map[string]string{"common.yml": `
services:
  parent:
    image: {{IMAGE}}
    labels:
      com.example.parent: "1"
    environment:
      PARENT: "1"
`},
		absent: []string{"debug"},
	},
	{
		name:   "label-file",
		fields: []string{"label_file"},
		compose: `
services:
  labelled:
    image: {{IMAGE}}
    label_file: labels.txt
`,
		files: map[string]string{"labels.txt": "com.example.from-file=1\n"},
	},
	{
		// deploy.restart_policy wins over restart, with its max_attempts, in Compose.
		name:   "deploy-restart",
		fields: []string{"deploy", "restart"},
		compose: `
services:
  deploy-restart:
    image: {{IMAGE}}
    restart: always
    deploy:
      restart_policy:
        condition: on-failure
        max_attempts: 2
`,
	},
	{
		// This host has no GPU: compared created.
		name:       "reservations",
		createOnly: true,
		fields:     []string{"deploy"},
		compose: `
services:
  reserved:
    image: {{IMAGE}}
    deploy:
      resources:
        reservations:
          memory: 16m
          devices:
            - driver: nvidia
              count: 1
              capabilities: [gpu, utility]
              options:
                com.example.opt: "1"
            - device_ids: ["0", "1"]
              capabilities: [compute]
`,
	},
	{
		name:       "gpus",
		createOnly: true,
		fields:     []string{"gpus"},
		compose: `
services:
  gpu:
    image: {{IMAGE}}
    gpus:
      - driver: nvidia
        count: 2
        capabilities: [utility]
`,
	},
	{
		name:   "devices",
		fields: []string{"devices", "device_cgroup_rules"},
		compose: `
services:
  devices:
    image: {{IMAGE}}
    devices:
      - /dev/null:/dev/xnull:rwm
      - source: /dev/zero
        target: /dev/xzero
        permissions: r
    device_cgroup_rules:
      - "c 1:3 mr"
`,
	},
	{
		name:   "runtime",
		fields: []string{"runtime"},
		compose: `
services:
  runc:
    image: {{IMAGE}}
    runtime: runc
`,
	},
	{
		name:   "blkio",
		fields: []string{"blkio_config"},
		compose: `
services:
  blkio:
    image: {{IMAGE}}
    blkio_config:
      weight: 300
      weight_device:
        - path: /dev/null
          weight: 400
`,
	},
}

// diffBothRefuse are declarations Compose refuses on this Engine (API 1.41), or whose
// file Compose 2.40 cannot read: rasa-gitops must refuse them too, at validate, at
// Prepare or when apply creates the container, and never run them without the field.
var diffBothRefuse = []diffCase{
	{
		// The Docker client sends a start interval from API 1.44 only.
		name:     "start-interval",
		belowAPI: "1.44",
		fields:   []string{"healthcheck"},
		compose: `
services:
  start-interval:
    image: {{IMAGE}}
    healthcheck:
      test: ["CMD", "/usr/local/bin/rasa-stub", "health", "http://127.0.0.1:5005/"]
      start_period: 5s
      start_interval: 1s
`,
	},
	{
		// interface_name needs API 1.49.
		name:     "interface-name",
		belowAPI: "1.49",
		fields:   []string{"networks"},
		compose: `
services:
  ifname:
    image: {{IMAGE}}
    networks:
      default:
        interface_name: eth7
`,
	},
	{
		// A MAC address per endpoint needs API 1.44.
		name:     "network-mac-address",
		belowAPI: "1.44",
		fields:   []string{"networks"},
		compose: `
services:
  endpoint-mac:
    image: {{IMAGE}}
    networks:
      default:
        mac_address: "02:42:0a:d5:2f:0b"
`,
	},
	{
		// recursive: readonly needs API 1.44.
		name:     "bind-readonly-recursive",
		belowAPI: "1.44",
		fields:   []string{"volumes"},
		compose: `
services:
  readonly-recursive:
    image: {{IMAGE}}
    volumes:
      - type: bind
        source: ./data
        target: /data
        read_only: true
        bind:
          recursive: readonly
`,
		files: map[string]string{"data/.keep": ""},
	},
	{
		// overlay2 takes a size only on xfs with pquota, which this host lacks.
		name:   "storage-opt",
		fields: []string{"storage_opt"},
		compose: `
services:
  storage:
    image: {{IMAGE}}
    storage_opt:
      size: 1G
`,
	},
	{
		// Compose 2.40's compose-go (2.9) has no umask: it refuses the file.
		name:   "umask",
		fields: []string{"umask"},
		compose: `
services:
  umask:
    image: {{IMAGE}}
    umask: "0022"
`,
	},
	{
		// Compose 2.40's compose-go (2.9) has no use_service_name_alias.
		name:   "use-service-name-alias",
		fields: []string{"networks"},
		compose: `
services:
  no-alias:
    image: {{IMAGE}}
    networks:
      default:
        use_service_name_alias: false
`,
	},
}
