package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/rasa-gitops/rasa-gitops/internal/modelarchive"
	"gopkg.in/yaml.v3"
)

// FormatVersion is the only declaration format version this build understands.
const FormatVersion = 1

// File names of a declaration repository (the README's "The declaration repository").
const (
	SettingsFile     = "rasa-gitops.yaml"
	ModelsFile       = "models.yaml"
	EnvironmentsDir  = "environments"
	EndpointsFile    = "endpoints.yml"
	CredentialsFile  = "credentials.yml"
	environmentExt   = ".yaml"
	defaultModelURL  = "http://host.docker.internal:8080"
	defaultRasaImage = "rasa/rasa:3.6.20-full"
)

// Declaration is a validated declaration repository: what the operator wants the host
// to run. It is produced only by Load, so every reference in it resolves.
type Declaration struct {
	// Dir is the repository directory (absolute, symlinks resolved); rendered bind
	// mounts point into it, so the daemon passes a checkout of one revision.
	Dir string
	// Project is the Compose project name and the Rasa X project id.
	Project string
	// Rasa holds the defaults every environment's Rasa server starts from.
	Rasa Rasa
	// ModelServerURL is the base URL at which containers reach the daemon.
	ModelServerURL string
	// ComposeFiles are extra Compose files, slash-separated and relative to Dir, in merge order.
	ComposeFiles []string
	// Models is the catalogue, by name.
	Models map[string]Model
	// Environments are sorted by name.
	Environments []Environment
	// HasEndpoints and HasCredentials say whether the repository ships endpoints.yml
	// and credentials.yml; without endpoints.yml a generated one is mounted.
	HasEndpoints, HasCredentials bool
	// env is the interpolation environment the declaration was loaded with; Render
	// hands the same one to compose-go.
	env map[string]string
	// composeServices says where compose.files declare each service, to place
	// problems that compose-go reports by service name.
	composeServices map[string]composeService
	// variables are the names of the daemon's variables the repository interpolates.
	variables map[string]bool
	// serviceLayers and networkLayers say which files declare each service and
	// network, highest precedence first, to place problems of the rendered project.
	serviceLayers map[string][]layer
	networkLayers map[string][]layer
	// probedClean holds the service fragments (as JSON) compose-go accepted without a
	// problem in this load.
	probedClean map[string]bool
}

// SecretValues are the values of every daemon variable the repository interpolates and
// of every environment's token: what must never reach a log or the audit log.
func (d *Declaration) SecretValues() []string {
	var out []string
	for name := range d.variables {
		if v := d.env[name]; v != "" {
			out = append(out, v)
		}
	}
	for _, env := range d.Environments {
		if env.Token != "" {
			out = append(out, env.Token)
		}
	}
	sort.Strings(out)
	return out
}

// Rasa is the project-wide template of a Rasa server.
type Rasa struct {
	Image        string
	Port         int
	PullInterval time.Duration
	// Service holds Compose service fields applied to every environment, uninterpolated
	// (compose-go interpolates them with the same environment).
	Service map[string]any
}

// Model is one entry of models.yaml.
type Model struct {
	Name   string
	SHA256 string // lowercase hex digest of the .tar.gz
	// Source is an https:// or file:// URL, a slash path inside the repository, or
	// empty when the model must already be in the daemon's store.
	Source string
}

// Environment is one environments/<name>.yaml: one Rasa server.
type Environment struct {
	Name string
	File string // slash path relative to the repository
	// Model names an entry of Models; empty means the environment serves no model.
	Model string
	Image string // empty means Rasa.Image
	// Publish is the host address the Rasa port is published on; nil means not published.
	Publish *Publish
	// Token is the Rasa auth token; empty means the daemon's default. It is a secret.
	Token string
	// Service holds Compose service fields merged last, uninterpolated.
	Service map[string]any
}

// Publish is a host IP (possibly empty, meaning all addresses) and port.
type Publish struct {
	HostIP   string
	HostPort int
}

// String renders the publish address in Compose's short port syntax prefix.
func (p Publish) String() string {
	if p.HostIP == "" {
		return strconv.Itoa(p.HostPort)
	}
	if strings.Contains(p.HostIP, ":") {
		return "[" + p.HostIP + "]:" + strconv.Itoa(p.HostPort)
	}
	return p.HostIP + ":" + strconv.Itoa(p.HostPort)
}

// LoadOptions say where variables come from and what limits apply.
type LoadOptions struct {
	// Env holds the variables ${VAR} may name: the daemon's environment merged with
	// its --env-file. Nil means no variables are set.
	Env map[string]string
	// Limits default to DefaultLimits when zero.
	Limits Limits
	// CheckModelFiles hashes every model file kept inside the repository and checks
	// that it is an archive Rasa loads, so `validate` catches a wrong sha256 or a file
	// that is not a model in the pull request, not after a promotion. The daemon
	// leaves it off: it checks the digest when it stores the model.
	CheckModelFiles bool
}

// dnsLabel is RFC 1123: what Compose, Docker DNS and Rasa X accept as a name.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// CheckModelName says whether a model name (the file name without .tar.gz) can be a
// key of models.yaml.
func CheckModelName(name string) error {
	if !dnsLabel.MatchString(name) {
		return fmt.Errorf("model name %q is not a DNS label: %s; rename the file", clip(name), dnsLabelHelp)
	}
	return nil
}

const dnsLabelHelp = "use lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit"

// maxEnvironmentName keeps the service name rasa-<name> a DNS label.
const maxEnvironmentName = 63 - len("rasa-")

const envNameHelp = "rename the file using lowercase letters, digits and '-', at most 58, starting and ending with a letter or digit"

// Load reads and validates the declaration repository at dir. Validation is total:
// every problem in every file is reported at once in a Problems error; nothing is
// returned unless the whole repository is valid.
func Load(dir string, opts LoadOptions) (*Declaration, error) {
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	if info, err := os.Stat(root); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("load %s: not a directory", dir)
	}
	l := &repoLoader{root: root, opts: opts, decl: &Declaration{Dir: root, Models: map[string]Model{}, env: opts.Env}}
	l.load()
	l.keepReferences()
	if err := l.c.err(); err != nil {
		var problems Problems
		if errors.As(err, &problems) {
			return nil, problems.Masked(l.decl.SecretValues())
		}
		return nil, err
	}
	return l.decl, nil
}

type repoLoader struct {
	root string
	opts LoadOptions
	c    collector
	decl *Declaration
	// modelRefs remember where each environment names its model, for error positions.
	modelRefs map[string]*yaml.Node
	// composeServices are the services declared by compose.files, by name.
	composeServices map[string]composeService
	// referenced are the variable names any file read mentions (noteReferences).
	referenced map[string]bool
	// modelsBroken is set when models.yaml exists but cannot be read or parsed.
	modelsBroken bool
	// hostPorts are the fixed host ports published by environments and Compose
	// services, in load order; templateAt is rasa.service, whose ports every
	// environment publishes.
	hostPorts  []hostPort
	templateAt *yaml.Node
	// envServiceAt is each environment's service: mapping, by environment name.
	envServiceAt map[string]*yaml.Node
	// serviceLayers and networkLayers become the Declaration's.
	serviceLayers map[string][]layer
	networkLayers map[string][]layer
	// probedClean holds the service fragments (as JSON) compose-go accepted without a
	// problem in this load.
	probedClean map[string]bool
}

// lookup resolves a variable and remembers that the repository used it, so the
// daemon knows which values to mask in everything it writes.
func (l *repoLoader) lookup(name string) (string, bool) {
	v, ok := l.opts.Env[name]
	if ok {
		if l.decl.variables == nil {
			l.decl.variables = map[string]bool{}
		}
		l.decl.variables[name] = true
	}
	return v, ok
}

func (l *repoLoader) reader(file string) reader {
	return reader{c: &l.c, file: file, lookup: l.lookup}
}

// readYAML reads and parses one repository file; missing reports whether it is absent.
func (l *repoLoader) readYAML(rel string) (node *yaml.Node, missing, ok bool) {
	data, err := readRepoFile(l.root, filepath.FromSlash(rel), l.opts.Limits.MaxFileSize)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, true, false
		}
		l.fileProblem(rel, err)
		return nil, false, false
	}
	l.noteReferences(data)
	node, ok = parseYAML(&l.c, rel, data, l.opts.Limits.MaxNodes)
	return node, false, ok
}

func (l *repoLoader) fileProblem(rel string, err error) {
	switch {
	case errors.Is(err, errEscapes):
		l.c.at(rel, nil, "is a symlink that leads outside the repository: replace it with the file itself")
	case errors.Is(err, fs.ErrPermission):
		l.c.at(rel, nil, "cannot be read: permission denied")
	default:
		msg := err.Error()
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		l.c.at(rel, nil, "%s", msg)
	}
}

func (l *repoLoader) load() {
	settings, missing, ok := l.readYAML(SettingsFile)
	if missing {
		l.c.at(SettingsFile, nil, "missing: every declaration repository needs %s with at least 'version: %d' and 'project: <name>'", SettingsFile, FormatVersion)
	} else if ok {
		l.settings(settings)
	}
	l.models()
	l.environments()
	l.optionalFile(EndpointsFile, &l.decl.HasEndpoints)
	l.optionalFile(CredentialsFile, &l.decl.HasCredentials)
	l.composeFiles()
	l.decl.composeServices = l.composeServices
	for _, env := range l.decl.Environments {
		var layers []layer
		if n := l.envServiceAt[env.Name]; n != nil {
			layers = append(layers, layer{file: env.File, node: n, what: "service"})
		}
		if l.templateAt != nil {
			layers = append(layers, layer{file: SettingsFile, node: l.templateAt, what: "rasa.service"})
		}
		l.addServiceLayers(ServiceName(env.Name), layers...)
	}
	l.decl.serviceLayers, l.decl.networkLayers = l.serviceLayers, l.networkLayers
	l.crossCheck()
}

// addServiceLayers records files declaring a service, after (below) those recorded.
func (l *repoLoader) addServiceLayers(name string, layers ...layer) {
	if l.serviceLayers == nil {
		l.serviceLayers = map[string][]layer{}
	}
	l.serviceLayers[name] = append(l.serviceLayers[name], layers...)
}

func (l *repoLoader) settings(n *yaml.Node) {
	const file = SettingsFile
	r := l.reader(file)
	d := l.decl
	d.Rasa = Rasa{Image: defaultRasaImage, Port: 5005, PullInterval: 10 * time.Second}
	d.ModelServerURL = defaultModelURL
	if n == nil {
		l.c.at(file, nil, "is empty: write 'version: %d' and 'project: <name>'", FormatVersion)
		return
	}
	var sawVersion, sawProject bool
	l.c.fields(file, n, "rasa-gitops.yaml", map[string]field{
		"version": func(_, v *yaml.Node) {
			sawVersion = true
			if v.Kind != yaml.ScalarNode || v.Value != strconv.Itoa(FormatVersion) {
				l.c.at(file, v, "unsupported version %s: this build reads format version %d", clip(v.Value), FormatVersion)
			}
		},
		"project": func(_, v *yaml.Node) {
			sawProject = true
			if s, ok := r.str("project", v); ok {
				if !dnsLabel.MatchString(s) {
					l.c.at(file, v, "project %q is not a DNS label: %s", literal(v, s), dnsLabelHelp)
				}
				d.Project = s
			}
		},
		"rasa":        func(_, v *yaml.Node) { l.rasaSettings(r, v) },
		"modelServer": func(_, v *yaml.Node) { l.modelServerSettings(r, v) },
		"compose":     func(_, v *yaml.Node) { l.composeSettings(r, v) },
	})
	if n.Kind != yaml.MappingNode {
		return // reported by fields
	}
	if !sawVersion {
		l.c.at(file, n, "missing key \"version\": write 'version: %d'", FormatVersion)
	}
	if !sawProject {
		l.c.at(file, n, "missing key \"project\": name the Compose project, such as 'project: rasa'")
	}
}

// rasaSettings reads the rasa: section: image, port, pull interval, service template.
func (l *repoLoader) rasaSettings(r reader, v *yaml.Node) {
	const file = SettingsFile
	d := l.decl
	l.c.fields(file, v, "rasa", map[string]field{
		"image": func(_, v *yaml.Node) {
			if s, ok := r.str("rasa.image", v); ok {
				l.checkImage(file, v, s)
				d.Rasa.Image = s
			}
		},
		"port": func(_, v *yaml.Node) {
			if p, ok := r.integer("rasa.port", v, 1, 65535); ok {
				d.Rasa.Port = p
			}
		},
		"pullInterval": func(_, v *yaml.Node) {
			if p, ok := r.duration("rasa.pullInterval", v); ok {
				d.Rasa.PullInterval = p
			}
		},
		"service": func(_, v *yaml.Node) {
			d.Rasa.Service = l.serviceFragment(file, v, "rasa.service")
			if d.Rasa.Service != nil {
				l.templateAt = v
			}
		},
	})
}

// modelServerSettings reads the modelServer: section: the base URL containers use.
func (l *repoLoader) modelServerSettings(r reader, v *yaml.Node) {
	const file = SettingsFile
	l.c.fields(file, v, "modelServer", map[string]field{
		"url": func(_, v *yaml.Node) {
			if s, ok := r.str("modelServer.url", v); ok {
				u, err := url.Parse(s)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
					l.c.at(file, v, "modelServer.url must be an http:// or https:// base URL without credentials or query, such as %s", defaultModelURL)
					return
				}
				l.decl.ModelServerURL = strings.TrimRight(s, "/")
			}
		},
	})
}

// composeSettings reads the compose: section: Compose files inside the repository.
func (l *repoLoader) composeSettings(r reader, v *yaml.Node) {
	const file = SettingsFile
	l.c.fields(file, v, "compose", map[string]field{
		"files": func(_, v *yaml.Node) {
			files, _ := r.strings("compose.files", v)
			for i, f := range files {
				at := resolveAlias(v.Content[i])
				if f == "" {
					continue
				}
				clean := path.Clean(filepath.ToSlash(f))
				if _, err := resolveInside(l.root, filepath.FromSlash(clean)); err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						l.c.at(file, at, "compose file %s does not exist in the repository", literal(at, f))
					} else {
						l.c.at(file, at, "compose file %s leads outside the repository: use a path inside it", literal(at, f))
					}
					continue
				}
				l.decl.ComposeFiles = append(l.decl.ComposeFiles, clean)
			}
		},
	})
}

// checkImage rejects image references Docker would refuse, at their position.
func (l *repoLoader) checkImage(file string, at *yaml.Node, image string) {
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		if interpolated(at, image) { // the reference error would quote the value
			l.c.at(file, at, "image %q is not a valid image reference once interpolated: set the variable to one like rasa/rasa:3.6.20-full", literal(at, image))
			return
		}
		l.c.at(file, at, "image %q is not a valid image reference (%v): write it like rasa/rasa:3.6.20-full", clip(image), err)
	}
}

// serviceFragment checks Compose service fields embedded in a declaration file.
func (l *repoLoader) serviceFragment(file string, v *yaml.Node, what string) map[string]any {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		l.c.at(file, v, "%s must be a mapping of Compose service fields, not %s", what, describe(v))
		return nil
	}
	r := l.reader(file)
	if !r.checkVariables(v) {
		return nil
	}
	m, err := decode(v)
	if err != nil {
		l.c.at(file, v, "%s: %s", what, strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	if len(m) == 0 {
		return nil
	}
	checkServicePaths(&l.c, l.root, file, ".", v, l.opts.Env)
	l.probeFragment(file, v, what, m)
	return m
}

// probeFragment runs probeService once per distinct fragment: environments often
// carry the same service fields, and fields compose-go accepted once without a
// problem are accepted again (only the positions of problems depend on the file, so a
// fragment with problems is probed for each file that has it). Fragments that differ
// only in plain values of environment: and labels: count as one (genericFields):
// no check looks at those values.
func (l *repoLoader) probeFragment(file string, v *yaml.Node, what string, frag map[string]any) {
	generic, _ := genericFields(frag)
	key, err := json.Marshal(generic)
	if err == nil && l.probedClean[string(key)] {
		return
	}
	before := len(l.c.problems)
	probeService(&l.c, l.root, file, v, what, frag, l.opts.Env)
	if err == nil && len(l.c.problems) == before {
		if l.probedClean == nil {
			l.probedClean = map[string]bool{}
		}
		l.probedClean[string(key)] = true
	}
}

func (l *repoLoader) models() {
	const file = ModelsFile
	n, missing, ok := l.readYAML(file)
	if !missing && !ok {
		l.modelsBroken = true // reported; references to it are not checked
	}
	if missing || !ok || n == nil {
		return
	}
	r := l.reader(file)
	sawModels := false
	defer func() {
		if !sawModels { // the unknown key or wrong shape is reported; skip references
			l.modelsBroken = true
		}
	}()
	l.c.fields(file, n, "models.yaml", map[string]field{
		"models": func(_, v *yaml.Node) {
			sawModels = true
			entries, _ := l.c.pairs(file, v, "models")
			for _, e := range entries {
				name := e.key.Value
				if !dnsLabel.MatchString(name) {
					l.c.at(file, e.key, "model name %q is not a DNS label: %s", clip(name), dnsLabelHelp)
				}
				m := Model{Name: name}
				var sawDigest bool
				var sourceAt, digestAt *yaml.Node
				l.c.fields(file, resolveAlias(e.value), "model "+name, map[string]field{
					"sha256": func(_, v *yaml.Node) {
						sawDigest, digestAt = true, v
						if s, ok := r.str("sha256", v); ok {
							if !sha256Hex.MatchString(s) {
								l.c.at(file, v, "sha256 of model %s must be 64 lowercase hex digits (sha256sum of the .tar.gz)", name)
							}
							m.SHA256 = s
						}
					},
					"source": func(_, v *yaml.Node) {
						if s, ok := r.str("source", v); ok {
							m.Source = l.modelSource(file, v, name, s)
							sourceAt = v
						}
					},
				})
				if !sawDigest && resolveAlias(e.value).Kind == yaml.MappingNode {
					l.c.at(file, e.key, "model %s has no sha256: add the digest of its .tar.gz", name)
				}
				if l.opts.CheckModelFiles && sourceAt != nil {
					l.checkModelFile(file, sourceAt, digestAt, m)
				}
				l.decl.Models[name] = m
			}
		},
	})
}

// checkModelFile hashes a model kept in the repository (a source that is neither
// https:// nor file://) against its declared sha256 and checks it is a model archive.
func (l *repoLoader) checkModelFile(file string, at, digestAt *yaml.Node, m Model) {
	if m.Source == "" || strings.Contains(m.Source, "://") {
		return
	}
	f, err := os.Open(filepath.Join(l.root, filepath.FromSlash(m.Source)))
	if err != nil {
		l.c.at(file, at, "source of model %s: %v", m.Name, err)
		return
	}
	defer f.Close()
	h := sha256.New()
	_, checkErr := modelarchive.Check(io.TeeReader(f, h))
	if _, err := io.Copy(h, f); err != nil { // what Check did not need to read
		l.c.at(file, at, "source of model %s: %v", m.Name, err)
		return
	}
	if checkErr != nil {
		l.c.at(file, at, "%s (model %s) is %v", m.Source, m.Name, checkErr)
	}
	if got := hex.EncodeToString(h.Sum(nil)); sha256Hex.MatchString(m.SHA256) && got != m.SHA256 {
		l.c.at(file, digestAt, "sha256 of %s is %s, not %s: set model %s's sha256 to the file's (sha256sum %s)", m.Source, got, m.SHA256, m.Name, m.Source)
	}
}

// modelSource checks a model's source: an https:// or file:// URL, or a repository path.
func (l *repoLoader) modelSource(file string, at *yaml.Node, name, s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		switch u.Scheme {
		case "https":
			if u.Host == "" {
				l.c.at(file, at, "source of model %s has no host", name)
			}
			return s
		case "file":
			if u.Path == "" || !path.IsAbs(u.Path) {
				l.c.at(file, at, "source of model %s must be an absolute file:// URL, such as file:///srv/models/%s.tar.gz", name, name)
			}
			return s
		default:
			l.c.at(file, at, "source of model %s must be an https:// or file:// URL or a path inside the repository, not %s://", name, u.Scheme)
			return ""
		}
	}
	clean := path.Clean(filepath.ToSlash(s))
	real, err := resolveInside(l.root, filepath.FromSlash(clean))
	switch {
	case errors.Is(err, errEscapes):
		l.c.at(file, at, "source of model %s leads outside the repository: use a path inside it or a URL", name)
		return ""
	case err != nil:
		l.c.at(file, at, "source of model %s: %s does not exist in the repository", name, literal(at, s))
		return ""
	}
	if info, err := os.Stat(real); err != nil || !info.Mode().IsRegular() {
		l.c.at(file, at, "source of model %s: %s is not a regular file", name, literal(at, s))
		return ""
	}
	return clean
}

func (l *repoLoader) environments() {
	dir := filepath.Join(l.root, EnvironmentsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			l.c.at(EnvironmentsDir+"/", nil, "missing: declare at least one environment as environments/<name>.yaml, such as environments/production.yaml")
		} else {
			l.c.at(EnvironmentsDir+"/", nil, "cannot be read: %v", errors.Unwrap(err))
		}
		return
	}
	if info, err := os.Lstat(dir); err == nil && info.Mode()&fs.ModeSymlink != 0 {
		if _, err := resolveInside(l.root, EnvironmentsDir); errors.Is(err, errEscapes) {
			l.c.at(EnvironmentsDir+"/", nil, "is a symlink that leads outside the repository: make it a directory")
			return
		}
	}
	l.modelRefs = map[string]*yaml.Node{}
	count, rejected := 0, 0
	for _, e := range entries {
		name := e.Name()
		rel := EnvironmentsDir + "/" + name
		if strings.HasPrefix(name, ".") {
			continue // .gitkeep and editor files
		}
		if e.IsDir() {
			l.c.at(rel, nil, "is a directory: environments/ holds only <name>.yaml files")
			rejected++
			continue
		}
		if !strings.HasSuffix(name, environmentExt) {
			if base, ok := strings.CutSuffix(name, ".yml"); ok {
				l.c.at(rel, nil, "is not an environment file: environment files end in .yaml, rename it to %s/%s%s", EnvironmentsDir, base, environmentExt)
			} else {
				l.c.at(rel, nil, "is not an environment file: name it environments/<name>.yaml")
			}
			rejected++
			continue
		}
		count++
		if count > l.opts.Limits.MaxEnvironments {
			l.c.at(rel, nil, "more than %d environments: remove environment files to stay within the limit of %d", l.opts.Limits.MaxEnvironments, l.opts.Limits.MaxEnvironments)
			return
		}
		envName := strings.TrimSuffix(name, environmentExt)
		if !dnsLabel.MatchString(envName) || len(envName) > maxEnvironmentName {
			help := envNameHelp
			if s := strings.NewReplacer("_", "-", ".", "-", " ", "-").Replace(strings.ToLower(envName)); dnsLabel.MatchString(s) && len(s) <= maxEnvironmentName {
				help = fmt.Sprintf("rename it to %s/%s%s", EnvironmentsDir, s, environmentExt)
			}
			l.c.at(rel, nil, "environment name %q is not a DNS label of at most %d characters: %s", clip(envName), maxEnvironmentName, help)
			continue
		}
		l.environment(envName, rel)
	}
	if count == 0 && rejected == 0 { // else the rejected entries say what to fix
		l.c.at(EnvironmentsDir+"/", nil, "no environments declared: add environments/<name>.yaml, such as environments/production.yaml")
	}
	sort.Slice(l.decl.Environments, func(i, j int) bool { return l.decl.Environments[i].Name < l.decl.Environments[j].Name })
}

func (l *repoLoader) environment(name, file string) {
	n, _, ok := l.readYAML(file)
	if !ok && n == nil {
		// readYAML reported the problem (or the file vanished); an empty file is ok.
		if len(l.c.problems) > 0 && l.c.problems[len(l.c.problems)-1].File == file {
			return
		}
	}
	env := Environment{Name: name, File: file}
	r := l.reader(file)
	if n != nil {
		l.c.fields(file, n, file, map[string]field{
			"model": func(_, v *yaml.Node) {
				if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
					return
				}
				if s, ok := r.str("model", v); ok {
					env.Model = s
					l.modelRefs[name] = v
				}
			},
			"image": func(_, v *yaml.Node) {
				if s, ok := r.str("image", v); ok {
					l.checkImage(file, v, s)
					env.Image = s
				}
			},
			"publish": func(_, v *yaml.Node) {
				if s, ok := r.str("publish", v); ok {
					p, err := parsePublish(s)
					if err != nil {
						if interpolated(v, s) { // the error would quote the value
							l.c.at(file, v, "publish %q: its value is not [host_ip:]host_port with a port from 1 to 65535, such as 127.0.0.1:5005", literal(v, s))
						} else {
							l.c.at(file, v, "publish %q: %v", clip(s), err)
						}
						return
					}
					env.Publish = &p
					l.hostPorts = append(l.hostPorts, hostPort{owner: "environment " + name, file: file, at: v, ip: p.HostIP, port: p.HostPort, proto: "tcp"})
				}
			},
			"token": func(_, v *yaml.Node) {
				if s, ok := r.str("token", v); ok {
					if s == "" {
						l.c.at(file, v, "token is empty: remove the key to use the daemon's default token")
					} else if strings.ContainsAny(s, " \t\r\n") {
						l.c.at(file, v, "token contains white space: Rasa passes it on the command line")
					}
					env.Token = s
				}
			},
			"service": func(_, v *yaml.Node) {
				env.Service = l.serviceFragment(file, v, "service")
				if env.Service != nil {
					if l.envServiceAt == nil {
						l.envServiceAt = map[string]*yaml.Node{}
					}
					l.envServiceAt[name] = v
					l.hostPorts = append(l.hostPorts, servicePorts("environment "+name, file, v, l.opts.Env)...)
				}
			},
		})
	}
	l.decl.Environments = append(l.decl.Environments, env)
}

// parsePublish reads "[host_ip:]host_port", with IPv6 hosts in brackets.
func parsePublish(s string) (Publish, error) {
	host, portText := "", s
	if i := strings.LastIndex(s, ":"); i >= 0 {
		host, portText = s[:i], s[i+1:]
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		} else if strings.Contains(host, ":") {
			return Publish{}, fmt.Errorf("write an IPv6 address in brackets, such as [::1]:5005")
		}
		if _, err := strconv.Atoi(host); err == nil {
			return Publish{}, fmt.Errorf("write only the host side, [host_ip:]host_port, such as 127.0.0.1:%s (the container port is rasa.port)", host)
		}
		if net.ParseIP(host) == nil {
			return Publish{}, fmt.Errorf("host %q is not an IP address: write [host_ip:]host_port, such as 127.0.0.1:5005", clip(host))
		}
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return Publish{}, fmt.Errorf("host port must be a number from 1 to 65535: write [host_ip:]host_port, such as 127.0.0.1:5005")
	}
	return Publish{HostIP: host, HostPort: port}, nil
}

// optionalFile checks that an optional repository file, when present, is a readable
// YAML file inside the repository.
func (l *repoLoader) optionalFile(rel string, present *bool) {
	n, missing, ok := l.readYAML(rel)
	if missing {
		return
	}
	if !ok {
		return
	}
	*present = true
	if n != nil && n.Kind != yaml.MappingNode {
		l.c.at(rel, n, "%s must be a mapping, not %s", rel, describe(n))
	}
}

// crossCheck validates references between files.
func (l *repoLoader) crossCheck() {
	d := l.decl
	for _, env := range d.Environments {
		if env.Model != "" {
			if _, ok := d.Models[env.Model]; !ok {
				at := l.modelRefs[env.Name]
				name := literal(at, env.Model)
				if !dnsLabel.MatchString(env.Model) {
					l.c.at(env.File, at, "model %q is not a DNS label: %s", name, dnsLabelHelp)
				} else if l.modelsBroken {
					// models.yaml's own problem is reported; do not guess at references.
				} else if _, err := os.Stat(filepath.Join(l.root, ModelsFile)); err != nil {
					l.c.at(env.File, at, "model %s is not declared: add it to %s (there is no %s yet)", name, ModelsFile, ModelsFile)
				} else {
					l.c.at(env.File, at, "model %s is not declared in %s: add it there or fix the name", name, ModelsFile)
				}
			}
		}
	}
	ports := l.hostPorts
	if l.templateAt != nil { // every environment publishes rasa.service's ports
		for _, env := range d.Environments {
			for _, p := range servicePorts("environment "+env.Name, SettingsFile, l.templateAt, l.opts.Env) {
				p.template = true
				ports = append(ports, p)
			}
		}
	}
	reported := map[*yaml.Node]bool{} // one problem per ports entry (a range is many ports)
	for i, b := range ports {
		for _, a := range ports[:i] {
			if reported[b.at] || a.owner == b.owner || a.port != b.port || a.proto != b.proto || !ipsOverlap(a.ip, b.ip) {
				continue
			}
			reported[b.at] = true
			if a.template && b.template {
				l.c.at(b.file, b.at, "host port %d is published by rasa.service for every environment, but only one container can have it: publish per environment with 'publish:' in environments/<name>.yaml", b.port)
			} else {
				l.c.at(b.file, b.at, "host port %d is already published by %s (%s): choose another port", b.port, a.owner, a.file)
			}
			break
		}
	}
}
