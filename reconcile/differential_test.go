package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"gopkg.in/yaml.v3"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

// The differential test: Compose v2 is the oracle. Each case of the corpus is a
// declaration whose compose.files hold plain Compose services on the stand-in image.
// It is rendered by rasa-gitops and converged under one project name; the very same
// declaration rendered under a second project name is brought up with `docker compose
// up -d`; the two sets of containers are inspected and must agree field by field
// (Config, HostConfig, the networks with their aliases, Mounts) once project names,
// container IDs and anonymous volume names are normalised.
//
// The two projects run one after the other (the first is removed before the second
// comes up), so fixed host ports, MAC and IP addresses can be declared.

// diffCase is one Compose file of the corpus.
type diffCase struct {
	name string
	// fields are the compose-spec service fields the case sets: each must be a key of a
	// service in the case's files and a property of compose-go's service schema.
	fields []string
	// compose is compose.yml; {{IMAGE}} is the stand-in image, {{PORT1}}… free ports.
	compose string
	// files are other repository files (env files, an extended file, a profile…).
	files map[string]string
	// absent are services neither side may create (profiles not enabled).
	absent []string
	// mustApply cases may not be refused: these fields must be applied as Compose
	// applies them.
	mustApply bool
	// belowAPI, in diffBothRefuse, is the Engine API version from which Compose
	// accepts the case: on such an Engine it is skipped.
	belowAPI string
	// createOnly compares created containers that are never started, for fields this
	// host cannot run (privileged, real-time CPU): rasa-gitops runs its plan without
	// the start and health steps, docker compose runs `up --no-start`.
	createOnly bool
}

const diffImage = testengine.StubImage

// diffExcluded are fields that may legitimately differ on this Engine, with why. Keys
// are "<case>/<service> <field>" or "* <field>".
var diffExcluded = map[string]string{
	// compose.ComposeServiceHash hashes compose-go 2.16's JSON, docker compose 2.40
	// hashes compose-go 2.9's: an env_file entry is {"path":…} in one and a bare path
	// in the other, and create_host_path: false is written by one and left out by the
	// other (and create_host_path: true the other way round). `docker compose up`
	// recreates such containers. To be fixed in compose/ (composehash.go).
	"process/process Config.Labels[com.docker.compose.config-hash]":             "compose/: env_file hashed as compose-go 2.16 prints it",
	"mounts/mounts Config.Labels[com.docker.compose.config-hash]":               "compose/: bind.create_host_path hashed as compose-go 2.16 prints it",
	"mount-options/mount-options Config.Labels[com.docker.compose.config-hash]": "compose/: bind.create_host_path hashed as compose-go 2.16 prints it",
}

// diffUnobservable are fields both tools send but Engine 20.10 (API 1.41) keeps
// nothing of, so inspecting cannot tell them apart here: TestDifferentialRequests
// checks the request containerConfig makes for them instead.
var diffUnobservable = map[string]string{
	"annotations":                     "HostConfig.Annotations came with API 1.43",
	"networks.*.gw_priority":          "EndpointSettings.GwPriority came with API 1.48",
	"volumes.*.volume.subpath":        "VolumeOptions.Subpath came with API 1.45",
	"volumes.*.bind.create_host_path": "BindOptions.CreateMountpoint came with API 1.44",
	"platform":                        "a create parameter: the container only says its OS",
}

// diffNotRun are the compose-spec service fields no case brings up, and why: with
// diffCorpus, diffBothRefuse and diffRefused they name every service property of
// compose-go's schema (TestDifferentialFieldsAccountedFor).
var diffNotRun = map[string]string{
	"build":              "docker compose up builds only a service without an image, or with pull_policy: build; both are refused at validate",
	"develop":            "read by docker compose watch (and up --watch) only: docker compose up ignores it, as rasa-gitops does",
	"credential_spec":    "Windows containers only: docker compose 2.40 does not send it to the Engine either",
	"pull_refresh_after": "docker compose 2.40 ignores it (its compose-go has no such field): pull_policy decides",
}

// diffRefused are service fields rasa-gitops refuses by name before anything changes,
// at validate (compose.Load, compose.Render) or at Prepare, each with a Compose file
// using it.
var diffRefused = map[string]string{
	"configs":        "services:\n  s:\n    image: {{IMAGE}}\n    configs: [c]\nconfigs:\n  c:\n    file: ./c.txt\n",
	"secrets":        "services:\n  s:\n    image: {{IMAGE}}\n    secrets: [c]\nsecrets:\n  c:\n    file: ./c.txt\n",
	"container_name": "services:\n  s:\n    image: {{IMAGE}}\n    container_name: fixed\n",
	"links":          "services:\n  s:\n    image: {{IMAGE}}\n    links: [t]\n  t:\n    image: {{IMAGE}}\n",
	"external_links": "services:\n  s:\n    image: {{IMAGE}}\n    external_links: [other]\n",
	"volumes_from":   "services:\n  s:\n    image: {{IMAGE}}\n    volumes_from: [t]\n  t:\n    image: {{IMAGE}}\n",
	"models":         "services:\n  s:\n    image: {{IMAGE}}\n    models: [m]\nmodels:\n  m:\n    model: ai/smollm2\n",
	"provider":       "services:\n  s:\n    provider:\n      type: model\n      options:\n        model: ai/smollm2\n",
	"pre_start":      "services:\n  s:\n    image: {{IMAGE}}\n    pre_start:\n      - command: [\"true\"]\n",
	"post_start":     "services:\n  s:\n    image: {{IMAGE}}\n    post_start:\n      - command: [\"true\"]\n",
	"pre_stop":       "services:\n  s:\n    image: {{IMAGE}}\n    pre_stop:\n      - command: [\"true\"]\n",
	"use_api_socket": "services:\n  s:\n    image: {{IMAGE}}\n    use_api_socket: true\n",
	// Not in the compose-spec schema (compose-go keeps the field): refused as unknown,
	// as docker compose refuses it.
	"volume_driver": "services:\n  s:\n    image: {{IMAGE}}\n    volume_driver: local\n",
}

func TestDifferentialCorpusCoversFields(t *testing.T) {
	props := serviceSchemaProperties(t)
	seen := map[string]bool{}
	mustApply := map[string]bool{}
	for _, c := range append(append([]diffCase(nil), diffCorpus...), diffBothRefuse...) {
		keys := caseServiceKeys(t, c)
		for _, f := range c.fields {
			if !props[f] {
				t.Errorf("case %s: %q is not a service property of the compose-spec schema", c.name, f)
			}
			if !keys[f] {
				t.Errorf("case %s lists %q but none of its services sets it", c.name, f)
			}
		}
	}
	for _, c := range diffCorpus {
		for _, f := range c.fields {
			seen[f] = true
			if c.mustApply {
				mustApply[f] = true
			}
		}
	}
	if len(seen) < 60 {
		t.Errorf("the corpus covers %d distinct service fields, want at least 60", len(seen))
	}
	if len(mustApply) < 60 {
		t.Errorf("the cases that must be applied cover %d distinct service fields, want at least 60", len(mustApply))
	}
	t.Logf("the corpus covers %d distinct compose-spec service fields, %d of them in cases that must be applied", len(seen), len(mustApply))
}

// TestDifferentialFieldsAccountedFor: every service property of compose-go's schema
// is brought up by the corpus, refused (diffRefused, diffBothRefuse) or has a reason
// not to be run (diffNotRun).
func TestDifferentialFieldsAccountedFor(t *testing.T) {
	accounted := map[string]string{}
	for _, c := range diffCorpus {
		for _, f := range c.fields {
			accounted[f] = "corpus"
		}
	}
	for _, c := range diffBothRefuse {
		for _, f := range c.fields {
			if accounted[f] == "" {
				accounted[f] = "refused by both"
			}
		}
	}
	for f := range diffRefused {
		accounted[f] = "refused"
	}
	for f := range diffNotRun {
		if accounted[f] != "" {
			t.Errorf("%s is in diffNotRun and %s", f, accounted[f])
		}
		accounted[f] = "not run"
	}
	for _, f := range slices.Sorted(maps.Keys(serviceSchemaProperties(t))) {
		if accounted[f] == "" {
			t.Errorf("service field %s is neither in the corpus, refused, nor in diffNotRun with a reason", f)
		}
	}
}

// TestDifferentialRefused: each field of diffRefused is refused by name before any
// container changes.
func TestDifferentialRefused(t *testing.T) {
	t.Parallel()
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	for _, field := range slices.Sorted(maps.Keys(diffRefused)) {
		t.Run(field, func(t *testing.T) {
			dir, gen := t.TempDir(), t.TempDir()
			project := testengine.ProjectName(t)
			testengine.CleanupProject(t, cli, project)
			writeDiffRepo(t, dir, project, diffCase{compose: diffRefused[field], files: map[string]string{"c.txt": "x\n"}}, nil, "")
			err := refusal(t, cli, dir, gen)
			if err == nil {
				t.Fatalf("%s was not refused", field)
			}
			if !namesAField(err, []string{field}) {
				t.Errorf("%s is refused without being named:\n%v", field, err)
			}
		})
	}
}

// refusal loads, renders and prepares a declaration, and returns the first error.
func refusal(t *testing.T, cli *client.Client, dir, gen string) error {
	t.Helper()
	d, err := compose.Load(dir, compose.LoadOptions{})
	if err != nil {
		return err
	}
	r, err := compose.Render(context.Background(), d, compose.RenderOptions{ModelToken: "model-token", DefaultToken: "rasa-token", GeneratedDir: gen})
	if err != nil {
		return err
	}
	_, err = Prepare(context.Background(), cli, r, "main@sha1:differential")
	return err
}

// serviceSchemaProperties are the service properties compose-go's schema knows.
func serviceSchemaProperties(t *testing.T) map[string]bool {
	t.Helper()
	var s struct {
		Defs map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal([]byte(schema.Schema), &s); err != nil {
		t.Fatal(err)
	}
	props := map[string]bool{}
	for _, def := range []string{"service", "container_spec", "workload_spec"} {
		for k := range s.Defs[def].Properties {
			props[k] = true
		}
	}
	if len(props) < 60 {
		t.Fatalf("read %d service properties from compose-go's schema", len(props))
	}
	return props
}

// caseServiceKeys are the keys set by any service of a case's files (anchors merged).
func caseServiceKeys(t *testing.T, c diffCase) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	docs := []string{c.compose}
	for name, content := range c.files {
		if strings.HasSuffix(name, ".yml") {
			docs = append(docs, content)
		}
	}
	for _, doc := range docs {
		var m struct {
			Services map[string]map[string]any `yaml:"services"`
		}
		if err := yaml.Unmarshal([]byte(expandCase(doc, nil, "10.213.47")), &m); err != nil {
			t.Fatalf("case %s: %v", c.name, err)
		}
		for _, svc := range m.Services {
			for k := range svc {
				keys[k] = true
			}
		}
	}
	return keys
}

// expandCase fills in a case's placeholders; subnet is the first three octets of the
// /24 for {{SUBNET}}.
func expandCase(s string, ports []int, subnet string) string {
	s = strings.ReplaceAll(s, "{{IMAGE}}", diffImage)
	s = strings.ReplaceAll(s, "{{SUBNET}}", subnet+".0/24")
	s = strings.ReplaceAll(s, "{{ADDRESS}}", subnet+".10")
	for i := len(ports); i > 0; i-- {
		s = strings.ReplaceAll(s, fmt.Sprintf("{{PORT%d}}", i), fmt.Sprint(ports[i-1]))
	}
	return s
}

// freeDiffSubnet picks a /24 under 10.213.0.0/16 that no network of the Engine uses,
// as its first three octets.
func freeDiffSubnet(t *testing.T, cli *client.Client) string {
	t.Helper()
	nets, err := cli.NetworkList(context.Background(), network.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				used[p.Masked().String()] = true
			}
		}
	}
	for i := 47; i < 47+256; i++ {
		prefix := fmt.Sprintf("10.213.%d", i%256)
		if !used[prefix+".0/24"] {
			return prefix
		}
	}
	t.Fatal("no free /24 under 10.213.0.0/16")
	return ""
}

// TestDifferentialCompose brings every case up twice, by rasa-gitops and by docker
// compose, and compares what the Engine made of each.
func TestDifferentialCompose(t *testing.T) {
	t.Parallel()
	bin := testengine.ComposeV2(t)
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	t.Cleanup(func() { removeDiffCgroupParent(t) })
	applied := map[string]bool{}
	ran := 0
	for _, c := range diffCorpus {
		t.Run(c.name, func(t *testing.T) {
			ran++
			ours, theirs, refused := bringUpBoth(t, cli, bin, c)
			if refused != nil {
				switch {
				case c.mustApply:
					t.Errorf("case %s must be applied as docker compose applies it, but rasa-gitops refuses it:\n%v", c.name, refused)
				case !namesAField(refused, c.fields):
					t.Errorf("case %s is refused without naming its fields %v:\n%v", c.name, c.fields, refused)
				default:
					t.Logf("case %s is refused by name, so not compared:\n%v", c.name, refused)
				}
				return
			}
			diffs, excluded := diffInspections(c.name, ours, theirs)
			for _, d := range diffs {
				t.Error(d)
			}
			for _, d := range excluded {
				t.Log("excluded: " + d)
			}
			for _, name := range c.absent {
				if _, ok := ours[name]; ok {
					t.Errorf("case %s: rasa-gitops created service %s, whose profile is not enabled", c.name, name)
				}
				if _, ok := theirs[name]; ok {
					t.Errorf("case %s: compose created service %s, whose profile is not enabled", c.name, name)
				}
			}
			if len(diffs) == 0 {
				for _, f := range c.fields {
					applied[f] = true
				}
			}
		})
	}
	t.Logf("%d distinct service fields applied as docker compose applies them: %v", len(applied), slices.Sorted(maps.Keys(applied)))
	if ran == len(diffCorpus) && len(applied) < 60 && !t.Failed() {
		t.Errorf("only %d distinct service fields were compared, want at least 60", len(applied))
	}
}

// removeDiffCgroupParent removes the (empty) cgroup the limits case names as its
// cgroup_parent, which the Engine creates and leaves behind (under one hierarchy or
// another, or none when the case was refused: a missing one is no error).
func removeDiffCgroupParent(t *testing.T) {
	dirs, err := filepath.Glob("/sys/fs/cgroup/*/rasa-gitops-differential")
	if err != nil {
		t.Error(err)
	}
	for _, d := range append(dirs, "/sys/fs/cgroup/rasa-gitops-differential") {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("remove the cgroup %s: %v", d, err)
		}
	}
}

// TestDifferentialBothRefuse: what docker compose refuses here, rasa-gitops refuses
// too (at validate, Prepare or create) instead of running it without the field.
func TestDifferentialBothRefuse(t *testing.T) {
	t.Parallel()
	bin := testengine.ComposeV2(t)
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	for _, c := range diffBothRefuse {
		t.Run(c.name, func(t *testing.T) {
			if c.belowAPI != "" && !versions.LessThan(cli.ClientVersion(), c.belowAPI) {
				t.Skipf("the Engine speaks API %s: docker compose accepts this from API %s", cli.ClientVersion(), c.belowAPI)
			}
			ctx := context.Background()
			project := testengine.ProjectName(t)
			testengine.CleanupProject(t, cli, project)
			dir, gen := t.TempDir(), t.TempDir()
			writeDiffRepo(t, dir, project, c, nil, "")
			if err := refusal(t, cli, dir, gen); err != nil {
				if !namesAField(err, c.fields) {
					t.Errorf("refused without naming %v:\n%v", c.fields, err)
				}
				t.Logf("rasa-gitops refuses it before anything changes:\n%v", err)
			} else {
				d, err := compose.Load(dir, compose.LoadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				r, err := compose.Render(ctx, d, compose.RenderOptions{ModelToken: "model-token", DefaultToken: "rasa-token", GeneratedDir: gen})
				if err != nil {
					t.Fatal(err)
				}
				run, err := Converge(ctx, cli, r, "main@sha1:differential", RunOptions{
					ApplyOptions: ApplyOptions{HealthTimeout: 30 * time.Second, StableFor: time.Second},
					Timeout:      2 * time.Minute,
				})
				switch {
				case err != nil:
					t.Logf("rasa-gitops refuses it: %v", err)
				case run.Result.Err() != nil:
					t.Logf("rasa-gitops refuses it at apply, where the Engine's API version is known:\n%v", run.Result.Err())
				default:
					t.Errorf("rasa-gitops ran it although docker compose refuses it")
				}
			}

			composeProject := testengine.ProjectName(t)
			testengine.CleanupProject(t, cli, composeProject)
			cmd := exec.Command(bin, "-p", composeProject, "--project-directory", dir, "-f", filepath.Join(dir, "compose.yml"), "up", "-d")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Errorf("docker compose up accepted it: update diffBothRefuse\n%s", out)
			} else {
				t.Logf("docker compose up refuses it: %s", bytes.TrimSpace(out))
			}
		})
	}
}

// namesAField says an error is a refusal (rasa-gitops does not support or apply a
// field, or Compose does not know it) that names one of the fields.
func namesAField(err error, fields []string) bool {
	msg := err.Error()
	if !strings.Contains(msg, "is not supported by rasa-gitops") && !strings.Contains(msg, "which rasa-gitops does not apply") &&
		!strings.Contains(msg, "unknown Compose field") {
		return false
	}
	for _, f := range fields {
		if strings.Contains(msg, f) {
			return true
		}
	}
	return false
}

// writeDiffRepo lays out a case as a declaration repository for project.
func writeDiffRepo(t *testing.T, dir, project string, c diffCase, ports []int, subnet string) {
	t.Helper()
	files := map[string]string{
		compose.SettingsFile:           fmt.Sprintf("version: 1\nproject: %s\nrasa:\n  image: %s\n  pullInterval: 60s\nmodelServer:\n  url: http://127.0.0.1:1\ncompose:\n  files: [compose.yml]\n", project, diffImage),
		"environments/production.yaml": "",
		"compose.yml":                  expandCase(c.compose, ports, subnet),
	}
	for name, content := range c.files {
		files[name] = expandCase(content, ports, subnet)
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// renderDiffRepo loads and renders a declaration; an error is a refusal.
func renderDiffRepo(dir, gen string) (*compose.Rendered, error) {
	d, err := compose.Load(dir, compose.LoadOptions{})
	if err != nil {
		return nil, err
	}
	return compose.Render(context.Background(), d, compose.RenderOptions{ModelToken: "model-token", DefaultToken: "rasa-token", GeneratedDir: gen})
}

// bringUpBoth converges the case with rasa-gitops under one project, inspects and
// removes it, then brings the same declaration, rendered under a second project name,
// up with docker compose and inspects that. Both maps are keyed by service. refused is
// rasa-gitops' refusal of the case (validate or Prepare): nothing is brought up then.
func bringUpBoth(t *testing.T, cli *client.Client, bin string, c diffCase) (ours, theirs map[string]diffContainer, refused error) {
	t.Helper()
	ctx := context.Background()
	var ports []int
	for range 8 {
		ports = append(ports, freePort(t))
	}
	// a range of two consecutive free ports for {{PORT4}}-{{PORT5}}
	ports[4] = ports[3] + 1
	projectA, projectB := testengine.ProjectName(t), testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, projectA)
	testengine.CleanupProject(t, cli, projectB)
	dir, gen := t.TempDir(), t.TempDir()
	subnet := freeDiffSubnet(t, cli)

	writeDiffRepo(t, dir, projectA, c, ports, subnet)
	rendered, err := renderDiffRepo(dir, gen)
	if err != nil {
		return nil, nil, err
	}
	opts := RunOptions{
		Options:      Options{Prune: true},
		ApplyOptions: ApplyOptions{HealthTimeout: 45 * time.Second, StableFor: time.Second},
		Timeout:      3 * time.Minute,
		DryRun:       c.createOnly,
	}
	run, err := Converge(ctx, cli, rendered, "main@sha1:differential", opts)
	var needsPerson *NeedsPersonError
	if errors.As(err, &needsPerson) && strings.Contains(err.Error(), "does not apply") {
		return nil, nil, err
	}
	if err != nil {
		t.Fatalf("rasa-gitops converge: %v", err)
	}
	if c.createOnly {
		if err := WriteGenerated(rendered.Files); err != nil {
			t.Fatal(err)
		}
		run.Result = Apply(ctx, cli, run.Desired, withoutStart(run.Plan), opts.ApplyOptions)
	}
	if err := run.Result.Err(); err != nil {
		t.Fatalf("rasa-gitops apply failed:\n%v\nplan:\n%s", err, run.Plan)
	}
	ours = inspectDiffProject(t, cli, projectA)
	removeDiffProject(t, ctx, cli, projectA)

	writeDiffRepo(t, dir, projectB, c, ports, subnet)
	renderedB, err := renderDiffRepo(dir, gen)
	if err != nil {
		t.Fatal(err)
	}
	yml, err := renderedB.ComposeYAML()
	if err != nil {
		t.Fatal(err)
	}
	yml = withCreateHostPath(t, yml)
	t.Cleanup(func() {
		// Only logged: the project's CleanupProject (registered above, run after this)
		// removes whatever down left.
		cmd := exec.Command(bin, "-p", projectB, "down", "-v", "--timeout", "1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("docker compose down: %v\n%s", err, out)
		}
	})
	up := []string{"-p", projectB, "--project-directory", dir, "-f", "-", "up", "-d"}
	if c.createOnly {
		up[len(up)-1] = "--no-start"
	}
	cmd := exec.Command(bin, up...)
	cmd.Stdin = bytes.NewReader(yml)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker compose up: %v\n%s\nrendered file:\n%s", err, out, yml)
	}
	theirs = inspectDiffProject(t, cli, projectB)
	for name, ctr := range ours {
		ctr.project = projectA
		ours[name] = ctr
	}
	for name, ctr := range theirs {
		ctr.project = projectB
		theirs[name] = ctr
	}
	t.Logf("rendered file given to docker compose (shown on failure and with -v):\n%s", yml)
	return ours, theirs, nil
}

// withoutStart is a plan that creates what it would create, and starts nothing.
func withoutStart(p Plan) Plan {
	out := p
	out.Actions = nil
	for _, a := range p.Actions {
		var steps []Step
		for _, s := range a.Steps {
			if s.Op != OpStart && s.Op != OpWaitHealthy {
				steps = append(steps, s)
			}
		}
		a.Steps = steps
		out.Actions = append(out.Actions, a)
	}
	return out
}

// withCreateHostPath writes create_host_path: true into every bind mount's bind:
// section that leaves it out. compose-go 2.16 (rasa-gitops) defaults it to true and so
// prints nothing for it; compose-go 2.9 (docker compose 2.40) reads the omission as
// false and would mount by the Mount API without creating the source, dropping an
// SELinux relabel. Until ComposeYAML writes it (compose/, see diffExcluded), the file
// is completed here so that the mounts themselves are compared.
func withCreateHostPath(t *testing.T, yml []byte) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(yml, &doc); err != nil {
		t.Fatal(err)
	}
	services := locateNode(doc.Content[0], "services")
	if services == nil {
		return yml
	}
	for i := 1; i < len(services.Content); i += 2 {
		volumes := locateNode(services.Content[i], "volumes")
		if volumes == nil {
			continue
		}
		for _, v := range volumes.Content {
			typ, bind := locateNode(v, "type"), locateNode(v, "bind")
			if typ == nil || typ.Value != "bind" || bind == nil || locateNode(bind, "create_host_path") != nil {
				continue
			}
			bind.Kind, bind.Style = yaml.MappingNode, 0
			bind.Content = append(bind.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "create_host_path"}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func locateNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

type diffContainer struct {
	container.InspectResponse
	project string
}

func inspectDiffProject(t *testing.T, cli *client.Client, project string) map[string]diffContainer {
	t.Helper()
	ctx := context.Background()
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", compose.LabelProject+"="+project))})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]diffContainer{}
	for _, c := range list {
		info, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		service := info.Config.Labels[compose.LabelService]
		if _, dup := out[service]; dup {
			t.Fatalf("project %s has two containers of service %s", project, service)
		}
		out[service] = diffContainer{InspectResponse: info}
	}
	return out
}

// removeDiffProject removes a project's containers, networks and volumes now, before
// docker compose brings up the same case on the same ports and subnet.
func removeDiffProject(t *testing.T, ctx context.Context, cli *client.Client, project string) {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", compose.LabelProject+"="+project))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			t.Fatalf("remove container %s of %s: %v", c.ID, project, err)
		}
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if err := cli.NetworkRemove(ctx, n.ID); err != nil {
			t.Fatalf("remove network %s of %s: %v", n.Name, project, err)
		}
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Volumes {
		if err := cli.VolumeRemove(ctx, v.Name, true); err != nil {
			t.Fatalf("remove volume %s of %s: %v", v.Name, project, err)
		}
	}
}

// diffInspections lists every field on which two projects' containers differ, as
// "case X service S field F: rasa-gitops A, compose B".
func diffInspections(caseName string, ours, theirs map[string]diffContainer) (out, excluded []string) {
	for _, name := range unionKeys(ours, theirs) {
		a, okA := ours[name]
		b, okB := theirs[name]
		if !okA || !okB {
			out = append(out, fmt.Sprintf("case %s service %s: created by rasa-gitops %t, by compose %t", caseName, name, okA, okB))
			continue
		}
		fa, fb := normalisedFields(a), normalisedFields(b)
		for _, field := range unionKeys(fa, fb) {
			va, inA := fa[field]
			vb, inB := fb[field]
			if !inA {
				va = "(absent)"
			}
			if !inB {
				vb = "(absent)"
			}
			if va == vb {
				continue
			}
			line := fmt.Sprintf("case %s service %s field %s: rasa-gitops %s, compose %s", caseName, name, field, va, vb)
			if reason, ok := excludedField(caseName, name, field); ok {
				excluded = append(excluded, line+" ("+reason+")")
				continue
			}
			out = append(out, line)
		}
	}
	return out, excluded
}

func excludedField(caseName, service, field string) (string, bool) {
	if r, ok := diffExcluded[caseName+"/"+service+" "+field]; ok {
		return r, true
	}
	r, ok := diffExcluded["* "+field]
	return r, ok
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return slices.Sorted(maps.Keys(keys))
}

// keptComposeLabels are the bookkeeping labels both sides must set alike; every other
// com.docker.compose.* and io.rasa-gitops.* label is bookkeeping of one tool.
var keptComposeLabels = map[string]bool{
	compose.LabelProject: true, compose.LabelService: true, "com.docker.compose.container-number": true,
	"com.docker.compose.oneoff": true,
}

var hex64 = regexp.MustCompile(`[0-9a-f]{64}`)

// normalisedFields flattens what is compared of one container into field → JSON, with
// the project name, the container's ID and anonymous volume names replaced by
// placeholders and lists whose order Compose does not keep sorted.
func normalisedFields(c diffContainer) map[string]string {
	out := map[string]string{}
	cfg := *c.Config
	cfg.Env = sortedCopy(cfg.Env)
	cfg.Labels = map[string]string{}
	for k, v := range c.Config.Labels {
		if keptComposeLabels[k] || !strings.HasPrefix(k, "com.docker.compose.") && !strings.HasPrefix(k, "io.rasa-gitops.") {
			cfg.Labels[k] = v
		}
	}
	// The Compose hash is compared on its own. A rendered Rasa service names its
	// project (RASA_MODEL_SERVER), so its hash differs between the projects by
	// construction.
	delete(cfg.Labels, compose.LabelConfigHash)
	if !strings.HasPrefix(c.Config.Labels[compose.LabelService], "rasa-") {
		out["Config.Labels["+compose.LabelConfigHash+"]"] = jsonString(c.Config.Labels[compose.LabelConfigHash])
	}
	flatten(out, "Config", cfg)

	host := *c.HostConfig
	host.Binds = sortedCopy(host.Binds)
	host.ExtraHosts = sortedCopy(host.ExtraHosts)
	host.Mounts = append(host.Mounts[:0:0], host.Mounts...)
	sort.Slice(host.Mounts, func(i, j int) bool { return host.Mounts[i].Target < host.Mounts[j].Target })
	host.Ulimits = append(host.Ulimits[:0:0], host.Ulimits...)
	sort.Slice(host.Ulimits, func(i, j int) bool { return host.Ulimits[i].Name < host.Ulimits[j].Name })
	flatten(out, "HostConfig", host)

	var networks []string
	for name, ep := range c.NetworkSettings.Networks {
		networks = append(networks, name)
		var aliases []string
		for _, a := range ep.Aliases {
			if !strings.HasPrefix(c.ID, a) { // the Engine adds the short container ID
				aliases = append(aliases, a)
			}
		}
		sort.Strings(aliases)
		prefix := "Networks." + name + "."
		out[prefix+"Aliases"] = jsonString(aliases)
		out[prefix+"IPAMConfig"] = jsonString(ep.IPAMConfig)
		out[prefix+"Links"] = jsonString(ep.Links)
		out[prefix+"DriverOpts"] = jsonString(ep.DriverOpts)
		if ep.IPAMConfig != nil && ep.IPAMConfig.IPv4Address != "" {
			out[prefix+"IPAddress"] = jsonString(ep.IPAddress)
		}
	}
	sort.Strings(networks)
	out["NetworkSettings.Networks"] = jsonString(networks)

	for _, m := range c.Mounts {
		out["Mounts."+m.Destination] = jsonString(m)
	}

	normal := make(map[string]string, len(out))
	for k, v := range out {
		v = strings.ReplaceAll(v, c.ID, "<container-id>")
		v = strings.ReplaceAll(v, c.ID[:12], "<container-id>")
		v = strings.ReplaceAll(v, c.project, "<project>")
		if strings.HasPrefix(k, "Mounts.") {
			v = hex64.ReplaceAllString(v, "<anonymous>") // anonymous volumes
		}
		normal[strings.ReplaceAll(k, c.project, "<project>")] = v
	}
	return normal
}

func sortedCopy(s []string) []string {
	if s == nil {
		return nil
	}
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// flatten adds each top-level JSON field of v as prefix.Field.
func flatten(out map[string]string, prefix string, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		out[prefix] = "error: " + err.Error()
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		out[prefix] = "error: " + err.Error()
		return
	}
	for k, v := range fields {
		out[prefix+"."+k] = string(v)
	}
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(b)
}

// TestDifferentialRequests checks what containerConfig asks the Engine for where
// inspecting Engine 20.10 cannot tell (diffUnobservable), and the mapping Compose uses
// on newer API versions.
func TestDifferentialRequests(t *testing.T) {
	dir := t.TempDir()
	gw := types.Duration(2 * time.Second)
	p := &types.Project{Name: "p", WorkingDir: dir,
		Networks: types.Networks{"default": {Name: "p_default"}, "back": {Name: "p_back"}},
		Volumes:  types.Volumes{"named": {Name: "p_named"}}}
	base := types.ServiceConfig{Name: "s", ContainerSpec: types.ContainerSpec{
		Image:       "i",
		Annotations: types.Mapping{"com.example.a": "1"},
		Platform:    "linux/arm64/v8",
		MacAddress:  "02:42:0a:00:00:01",
		Networks: map[string]*types.ServiceNetworkConfig{
			"default": {GatewayPriority: 3, Priority: 10},
			"back":    nil,
		},
		Volumes: []types.ServiceVolumeConfig{
			{Type: types.VolumeTypeVolume, Source: "named", Target: "/sub", Volume: &types.ServiceVolumeVolume{Subpath: "x"}},
			{Type: types.VolumeTypeBind, Source: dir, Target: "/b", Bind: &types.ServiceVolumeBind{CreateHostPath: false}},
			{Type: types.VolumeTypeBind, Source: dir, Target: "/c", Bind: &types.ServiceVolumeBind{CreateHostPath: true}},
		},
	}}

	cfg, err := containerConfig(p, base, nil, "1.41")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host.Annotations["com.example.a"] != "1" {
		t.Errorf("annotations: %v", cfg.Host.Annotations)
	}
	if pl := cfg.Platform; pl == nil || pl.OS != "linux" || pl.Architecture != "arm64" || pl.Variant != "" {
		t.Errorf("platform: %+v", cfg.Platform)
	}
	if cfg.Config.MacAddress != base.MacAddress { //nolint:staticcheck // API < 1.44
		t.Errorf("API 1.41: container MAC %q", cfg.Config.MacAddress) //nolint:staticcheck
	}
	ep := cfg.Networking.EndpointsConfig["p_default"]
	if ep == nil || ep.MacAddress != "" || ep.GwPriority != 3 || strings.Join(ep.Aliases, ",") != "p-s-1,s" {
		t.Errorf("API 1.41: primary endpoint %+v", ep)
	}
	if len(cfg.MoreNetworks) != 1 || cfg.MoreNetworks[0].Network != "p_back" || strings.Join(cfg.MoreNetworks[0].Endpoint.Aliases, ",") != "p-s-1,s" {
		t.Errorf("API 1.41: other networks %+v", cfg.MoreNetworks)
	}
	if got := jsonString(cfg.Host.Mounts); got != `[{"Type":"volume","Source":"p_named","Target":"/sub","VolumeOptions":{"Subpath":"x"}},{"Type":"bind","Source":"`+dir+`","Target":"/b","BindOptions":{}}]` {
		t.Errorf("mounts: %s", got)
	}
	if got := strings.Join(cfg.Host.Binds, " "); got != dir+":/c:rw" {
		t.Errorf("binds: %s", got)
	}

	cfg, err = containerConfig(p, base, nil, "1.44")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.MacAddress != "" || cfg.Networking.EndpointsConfig["p_default"].MacAddress != base.MacAddress { //nolint:staticcheck
		t.Errorf("API 1.44: the MAC address belongs to the primary endpoint: container %q, endpoint %q", cfg.Config.MacAddress, cfg.Networking.EndpointsConfig["p_default"].MacAddress) //nolint:staticcheck
	}

	twoMACs := base
	twoMACs.MacAddress = ""
	twoMACs.Networks = map[string]*types.ServiceNetworkConfig{"default": {MacAddress: "02:42:0a:00:00:02"}, "back": {MacAddress: "02:42:0a:00:00:03"}}
	if _, err := containerConfig(p, twoMACs, nil, "1.41"); err == nil || !strings.Contains(err.Error(), "API 1.44") {
		t.Errorf("API 1.41, two endpoint MACs: %v", err)
	}
	if cfg, err := containerConfig(p, twoMACs, nil, "1.44"); err != nil || cfg.Networking.EndpointsConfig["p_back"].MacAddress != "02:42:0a:00:00:03" ||
		cfg.MoreNetworks[0].Endpoint.MacAddress != "02:42:0a:00:00:02" {
		t.Errorf("API 1.44, two endpoint MACs: %v", err)
	}

	withIfname := base
	withIfname.Networks = map[string]*types.ServiceNetworkConfig{"default": {InterfaceName: "eth7"}}
	if _, err := containerConfig(p, withIfname, nil, "1.48"); err == nil || !strings.Contains(err.Error(), "interface_name") {
		t.Errorf("API 1.48, interface_name: %v", err)
	}
	if cfg, err := containerConfig(p, withIfname, nil, "1.49"); err != nil || cfg.Networking.EndpointsConfig["p_default"].DriverOpts["com.docker.network.endpoint.ifname"] != "eth7" {
		t.Errorf("API 1.49, interface_name: %v", err)
	}

	withStartInterval := base
	withStartInterval.HealthCheck = &types.HealthCheckConfig{Test: types.HealthCheckTest{"NONE"}, StartInterval: &gw}
	if _, err := containerConfig(p, withStartInterval, nil, "1.43"); err == nil || !strings.Contains(err.Error(), "start_interval") {
		t.Errorf("API 1.43, start_interval: %v", err)
	}
	if _, err := containerConfig(p, withStartInterval, nil, "1.44"); err == nil || !strings.Contains(err.Error(), "start_period") {
		t.Errorf("API 1.44, start_interval without start_period: %v", err)
	}
	withStartInterval.HealthCheck.StartPeriod = &gw
	if cfg, err := containerConfig(p, withStartInterval, nil, "1.44"); err != nil || cfg.Config.Healthcheck.StartInterval != 2*time.Second {
		t.Errorf("API 1.44, start_interval: %v", err)
	}

	noAlias := base
	noAlias.Networks = map[string]*types.ServiceNetworkConfig{"default": {UseServiceNameAlias: new(bool)}}
	if cfg, err := containerConfig(p, noAlias, nil, "1.41"); err != nil {
		t.Errorf("use_service_name_alias: false: %v", err)
	} else if aliases := cfg.Networking.EndpointsConfig["p_default"].Aliases; strings.Join(aliases, ",") != "p-s-1" {
		t.Errorf("use_service_name_alias: false: %v", aliases)
	}

	for spec, want := range map[string]string{
		"linux/amd64": "linux/amd64/", "amd64": "linux/amd64/", "linux/x86_64": "linux/amd64/", "linux/arm64/v8": "linux/arm64/",
		"linux/aarch64": "linux/arm64/", "linux/arm": "linux/arm/v7", "linux/arm/v6": "linux/arm/v6", "linux/armhf": "linux/arm/v7", "windows/amd64": "windows/amd64/",
	} {
		pl, err := parsePlatform(spec)
		if err != nil || pl.OS+"/"+pl.Architecture+"/"+pl.Variant != want {
			t.Errorf("platform %s: %+v %v, want %s", spec, pl, err, want)
		}
	}
	if _, err := parsePlatform("linux//amd64"); err == nil {
		t.Error("platform linux//amd64 accepted")
	}
}
