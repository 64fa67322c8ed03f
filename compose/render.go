package compose

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/override"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// Paths inside every Rasa container.
const (
	ContainerEndpoints   = "/app/endpoints.yml"
	ContainerCredentials = "/app/credentials.yml"
	// GeneratedEndpointsName is the file name of the generated endpoints.yml.
	GeneratedEndpointsName = "endpoints.yml"
	hostGatewayName        = "host.docker.internal"
	generatedFileName      = "rasa-gitops (generated services)"
)

// ServiceName is the Compose service of environment env: rasa-<env>.
func ServiceName(env string) string { return "rasa-" + env }

// ModelTagPath is the model-server path at which environment env's Rasa server pulls
// its model: the tag name is the environment name, as in Rasa X.
func ModelTagPath(project, env string) string {
	return "/api/projects/" + project + "/models/tags/" + env
}

// RenderOptions carry what the repository must not contain: secrets, and the
// daemon-side directory for generated files.
type RenderOptions struct {
	// ModelToken is the model server's token, given to every Rasa server as
	// RASA_MODEL_TOKEN. Required.
	ModelToken string
	// DefaultToken is the Rasa auth token of environments that declare none. Required.
	DefaultToken string
	// GeneratedDir is an absolute directory the caller writes Rendered.Files into before
	// starting containers; required when the repository has no endpoints.yml.
	GeneratedDir string
	// loadEachService turns stamping off (stamp.go), for tests that compare the two.
	loadEachService bool
}

// GeneratedFile is a file the daemon must write before the rendered project can run.
type GeneratedFile struct {
	Path    string // absolute
	Content []byte
}

// RenderedEnvironment is what Rasa X's environments.yml and the model server need to
// know about one environment.
type RenderedEnvironment struct {
	Name    string
	Service string
	URL     string // inside the project network
	Token   string // secret
	Port    int    // Rasa's HTTP port inside the container
	Model   string // empty: serves no model
	SHA256  string
}

// Rendered is a declaration turned into a Compose project.
type Rendered struct {
	Project      *types.Project
	Files        []GeneratedFile
	Environments []RenderedEnvironment
	// Models is the catalogue the environments name, and Dir the repository that
	// relative model sources are read from.
	Models map[string]Model
	Dir    string
	// RepoMounts lists, per service, the bind-mount sources that are files of the
	// repository or generated files; their content is part of the config hash.
	RepoMounts map[string][]string
}

// Render builds the Compose project of a validated declaration (the README's "What is
// rendered"): one rasa-<env> service per environment, merged with compose-go's own
// loader after the services of compose.files, then the rasa.service template, then
// each environment's own service fields. Problems (such as a Compose file compose-go
// rejects) come back as Problems. It is the render stage of a pipeline run
// (docs/ARCHITECTURE.md).
func Render(ctx context.Context, d *Declaration, opts RenderOptions) (*Rendered, error) {
	if opts.ModelToken == "" || opts.DefaultToken == "" {
		return nil, fmt.Errorf("render: a model token and a default Rasa token are required")
	}
	out := &Rendered{RepoMounts: map[string][]string{}, Models: d.Models, Dir: d.Dir}
	tokenOf := func(env Environment) string {
		if env.Token == "" {
			return opts.DefaultToken
		}
		return env.Token
	}
	endpoints := filepath.Join(d.Dir, EndpointsFile)
	if !d.HasEndpoints {
		if opts.GeneratedDir == "" || !filepath.IsAbs(opts.GeneratedDir) {
			return nil, fmt.Errorf("render: the repository has no %s, so an absolute directory for the generated one is required", EndpointsFile)
		}
		endpoints = filepath.Join(opts.GeneratedDir, GeneratedEndpointsName)
		out.Files = append(out.Files, GeneratedFile{Path: endpoints, Content: GeneratedEndpoints(d.Rasa.PullInterval.Seconds())})
	}

	for _, env := range d.Environments {
		out.Environments = append(out.Environments, renderedEnvironment(d, env, tokenOf(env)))
	}
	project, err := loadProject(ctx, d, tokenOf, opts, endpoints)
	if err != nil {
		return nil, err
	}

	for name, svc := range project.Services {
		if svc.Labels == nil {
			svc.Labels = types.Labels{}
		}
		svc.Labels[LabelManaged] = "true"
		if env, ok := strings.CutPrefix(name, "rasa-"); ok && d.hasEnvironment(env) {
			svc.Labels[LabelEnvironment] = env
		}
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind && (within(d.Dir, v.Source) || (opts.GeneratedDir != "" && within(opts.GeneratedDir, v.Source))) {
				out.RepoMounts[name] = append(out.RepoMounts[name], v.Source)
			}
		}
		sort.Strings(out.RepoMounts[name])
		project.Services[name] = svc
	}
	labelResources(project)
	if err := checkRendered(d, project); err != nil {
		return nil, err
	}
	out.Project = project
	return out, nil
}

// renderedEnvironment is what the model server and Rasa X need to know of env.
func renderedEnvironment(d *Declaration, env Environment, token string) RenderedEnvironment {
	name := ServiceName(env.Name)
	re := RenderedEnvironment{
		Name: env.Name, Service: name, Token: token, Model: env.Model, Port: d.Rasa.Port,
		URL: "http://" + name + ":" + strconv.Itoa(d.Rasa.Port),
	}
	if env.Model != "" {
		re.SHA256 = d.Models[env.Model].SHA256
	}
	return re
}

// loadProject loads the rendered project with compose-go: the services of
// compose.files, and one rasa-<env> service per environment, stamped from a template
// where environments share a shape (stamp.go). When stamping cannot be used, or the
// template load reports a problem, every service is loaded as itself, so problems are
// placed at the environment they are about.
func loadProject(ctx context.Context, d *Declaration, tokenOf func(Environment) string, opts RenderOptions, endpoints string) (*types.Project, error) {
	modelToken := opts.ModelToken
	if direct, shapes, ok := planShapes(d); ok && len(shapes) > 0 && !opts.loadEachService {
		services, err := generatedServices(d, direct, shapes, tokenOf, modelToken, endpoints)
		if err == nil {
			project, err := loadServices(ctx, d, services)
			if err == nil && stampServices(d, project, shapes, tokenOf) {
				return project, nil
			}
		}
	}
	services, err := generatedServices(d, d.Environments, nil, tokenOf, modelToken, endpoints)
	if err != nil {
		return nil, err
	}
	project, err := loadServices(ctx, d, services)
	if err != nil {
		return nil, composeProblems(d, err)
	}
	return project, nil
}

// generatedServices are the rasa services of the generated Compose file: direct
// environments as themselves, and one template service per shape. Each is merged
// here, base → rasa.service → the environment's own service fields, with compose-go's
// override rules; handing compose-go one file per environment would make it re-merge
// and re-validate the whole model per file.
func generatedServices(d *Declaration, direct []Environment, shapes []*shape, tokenOf func(Environment) string, modelToken, endpoints string) (map[string]any, error) {
	services := make(map[string]any, len(direct)+len(shapes))
	add := func(name string, env Environment, token string) error {
		svc, err := mergeService(name, escapeDollars(baseService(d, env, token, modelToken, endpoints)).(map[string]any), d.Rasa.Service, env.Service)
		if err != nil {
			c := &collector{}
			c.at(env.File, nil, "cannot merge the service fields of %s: %v", ServiceName(env.Name), err)
			return c.err()
		}
		services[name] = svc
		return nil
	}
	for _, env := range direct {
		if err := add(ServiceName(env.Name), env, tokenOf(env)); err != nil {
			return nil, err
		}
	}
	for _, s := range shapes {
		if err := add(s.template, s.templateEnvironment(), placeholderToken); err != nil {
			return nil, err
		}
	}
	return services, nil
}

// loadServices runs compose-go's loader over compose.files and the generated services.
func loadServices(ctx context.Context, d *Declaration, services map[string]any) (*types.Project, error) {
	files := make([]types.ConfigFile, 0, len(d.ComposeFiles)+1)
	for _, f := range d.ComposeFiles {
		files = append(files, types.ConfigFile{Filename: filepath.Join(d.Dir, filepath.FromSlash(f))})
	}
	files = append(files, types.ConfigFile{Filename: generatedFileName, Config: map[string]any{"services": services}})
	return loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  d.Dir,
		ConfigFiles: files,
		Environment: types.Mapping(d.env),
	}, func(o *loader.Options) {
		o.SetProjectName(d.Project, true)
	})
}

// labelResources marks the project's own networks and volumes as managed, as its
// services are, so those `docker compose up` creates from the rendered file are the
// ones rasa-gitops would create (and it finds them).
func labelResources(project *types.Project) {
	for key, n := range project.Networks {
		if !bool(n.External) {
			n.Labels = n.Labels.Add(LabelManaged, "true")
			project.Networks[key] = n
		}
	}
	for key, v := range project.Volumes {
		if !bool(v.External) {
			v.Labels = v.Labels.Add(LabelManaged, "true")
			project.Volumes[key] = v
		}
	}
}

func (d *Declaration) hasEnvironment(name string) bool {
	i := sort.Search(len(d.Environments), func(i int) bool { return d.Environments[i].Name >= name })
	return i < len(d.Environments) && d.Environments[i].Name == name
}

// mergeService applies Compose override files' merge rules to one service: each
// non-empty layer is merged over the result so far.
func mergeService(name string, base map[string]any, layers ...map[string]any) (map[string]any, error) {
	doc := map[string]any{"services": map[string]any{name: base}}
	for _, layer := range layers {
		if len(layer) == 0 {
			continue
		}
		var err error
		doc, err = override.Merge(doc, map[string]any{"services": map[string]any{name: deepCopy(layer)}})
		if err != nil {
			return nil, err
		}
	}
	return doc["services"].(map[string]any)[name].(map[string]any), nil
}

// deepCopy copies decoded YAML so a template merged into many services is never shared.
func deepCopy(v map[string]any) map[string]any {
	return copyValue(v).(map[string]any)
}

func copyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = copyValue(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}

// baseService is the service rasa-gitops derives for one environment before the
// template and the environment's own fields are merged over it.
func baseService(d *Declaration, env Environment, token, modelToken, endpoints string) map[string]any {
	image := env.Image
	if image == "" {
		image = d.Rasa.Image
	}
	port := strconv.Itoa(d.Rasa.Port)
	command := []any{"run", "--enable-api", "--port", port, "--auth-token", token, "--endpoints", ContainerEndpoints}
	volumes := []any{map[string]any{"type": "bind", "source": endpoints, "target": ContainerEndpoints, "read_only": true}}
	if d.HasCredentials {
		command = append(command, "--credentials", ContainerCredentials)
		volumes = append(volumes, map[string]any{"type": "bind", "source": filepath.Join(d.Dir, CredentialsFile), "target": ContainerCredentials, "read_only": true})
	}
	command = append(command, "--cors", "*")
	dbName := databaseName(env.Name)
	svc := map[string]any{
		"image":   image,
		"command": command,
		"restart": "unless-stopped",
		"environment": map[string]any{
			"RASA_ENVIRONMENT":         env.Name,
			"RASA_MODEL_SERVER":        d.ModelServerURL + ModelTagPath(d.Project, env.Name),
			"RASA_MODEL_PULL_INTERVAL": strconv.Itoa(int(d.Rasa.PullInterval.Seconds())),
			"RASA_MODEL_TOKEN":         modelToken,
			"DB_DATABASE":              dbName,
			"RABBITMQ_QUEUE":           dbName + "_events",
		},
		"volumes": volumes,
		"labels": map[string]any{
			LabelManaged:     "true",
			LabelEnvironment: env.Name,
		},
	}
	if env.Publish != nil {
		svc["ports"] = []any{env.Publish.String() + ":" + port}
	}
	if u, err := url.Parse(d.ModelServerURL); err == nil && u.Hostname() == hostGatewayName {
		svc["extra_hosts"] = []any{hostGatewayName + ":host-gateway"}
	}
	return svc
}

// databaseName is the database (and, with _events, the queue) of environment env.
func databaseName(env string) string { return "rasa_" + strings.ReplaceAll(env, "-", "_") }

// escapeDollars protects generated values (tokens may contain $) from compose-go's
// interpolation, which runs over every file it loads.
func escapeDollars(v any) any {
	switch t := v.(type) {
	case string:
		return strings.ReplaceAll(t, "$", "$$")
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = escapeDollars(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = escapeDollars(e)
		}
		return out
	}
	return v
}

// GeneratedEndpoints is the endpoints.yml mounted when the repository has none: Rasa
// substitutes the ${...} variables from each container's environment, so one file
// serves every environment. The pull interval is literal: Rasa needs a number there.
func GeneratedEndpoints(pullSeconds float64) []byte {
	return []byte(fmt.Sprintf(`# Generated by rasa-gitops: the declaration repository has no endpoints.yml.
models:
  url: ${RASA_MODEL_SERVER}
  token: ${RASA_MODEL_TOKEN}
  wait_time_between_pulls: %d
`, int(pullSeconds)))
}

// composeProblems turns a compose-go load error into a Problem placed in the file it
// names, at the node its path points to when the file can be parsed.
func composeProblems(d *Declaration, err error) error {
	msg := MaskFragments(err.Error(), d.SecretValues())
	file := SettingsFile
	if len(d.ComposeFiles) > 0 {
		file = d.ComposeFiles[0]
	}
	var at *yaml.Node
	for _, f := range append(append([]string{}, d.ComposeFiles...), SettingsFile) {
		abs := filepath.Join(d.Dir, filepath.FromSlash(f))
		for _, prefix := range []string{"validating " + abs + ": ", "validating " + f + ": ", "failed to parse " + abs + ": "} {
			if rest, ok := strings.CutPrefix(msg, prefix); ok {
				file, msg = f, rest
				at = nodeForPath(d.Dir, f, msg)
			}
		}
	}
	for _, env := range d.Environments {
		if rest, ok := strings.CutPrefix(msg, "validating "+env.File+": "); ok {
			file, msg = env.File, rest
		}
	}
	msg = strings.ReplaceAll(msg, d.Dir+string(filepath.Separator), "")
	msg = strings.Join(strings.Fields(msg), " ") // one problem, one line
	if at == nil {
		// Semantic errors ("service \"nginx\" depends on undefined service ...") name a
		// service: place them where a Compose file declares it.
		if _, rest, ok := strings.Cut(msg, "service \""); ok {
			name, _, _ := strings.Cut(rest, "\"")
			if s, ok := d.composeServices[name]; ok {
				file, at = s.file, s.at
			}
		}
	}
	c := &collector{}
	if p := yamlProblem(file, fmt.Errorf("%s", msg)); p.Line > 1 {
		c.add(p)
	} else {
		c.at(file, at, "%s", msg)
	}
	return c.err()
}

// nodeForPath parses a Compose file and finds the node a schema message's dotted path names.
func nodeForPath(dir, rel, msg string) *yaml.Node {
	data, err := readRepoFile(dir, filepath.FromSlash(rel), DefaultLimits.MaxFileSize)
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	pathText, tail, _ := strings.Cut(msg, " ")
	at := locate(doc.Content[0], strings.Split(pathText, "."))
	if k := additionalProperty(tail); k != "" {
		if key := locateKey(at, k); key != nil {
			at = key
		}
	}
	return at
}

// EnvironmentsYAML renders Rasa X's environments.yml for the rendered project, so a
// team leaving the daemon can run the same stack with plain Compose and Rasa X.
// With mask set, tokens are replaced by asterisks.
func (r *Rendered) EnvironmentsYAML(mask bool) []byte {
	var b bytes.Buffer
	b.WriteString("rasa:\n")
	for _, env := range r.Environments {
		token := env.Token
		if mask {
			token = Mask
		}
		fmt.Fprintf(&b, "  %s:\n    url: %s\n    token: %s\n", env.Name, yamlQuote(env.URL), yamlQuote(token))
	}
	return b.Bytes()
}

// Mask stands in for a secret in anything printed.
const Mask = "********"

func yamlQuote(s string) string {
	out, _ := yaml.Marshal(s)
	return strings.TrimSpace(string(out))
}

// ComposeYAML prints the rendered project as a Compose file that `docker compose -f -
// config` accepts. Every $ in a value is written as $$, as `docker compose config`
// does, so that loading the file again yields the same values instead of
// interpolating them a second time.
func (r *Rendered) ComposeYAML() ([]byte, error) {
	out, err := r.Project.MarshalYAML()
	if err != nil {
		return nil, fmt.Errorf("print compose file: %w", err)
	}
	if !bytes.Contains(out, []byte("$")) {
		return out, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("print compose file: %w", err)
	}
	escapeScalars(&doc)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(4)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("print compose file: %w", err)
	}
	return b.Bytes(), nil
}

// escapeScalars doubles every $ in string scalars (keys included).
func escapeScalars(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "$") {
		n.Value = strings.ReplaceAll(n.Value, "$", "$$")
	}
	for _, c := range n.Content {
		escapeScalars(c)
	}
}

// Validate is what `rasa-gitops validate` and a pull request's CI run: Load, then a
// render with placeholder secrets, so that problems only compose-go finds (a Compose
// file it rejects, a merge that fails) are reported too. It touches nothing.
func Validate(ctx context.Context, dir string, opts LoadOptions) (*Declaration, error) {
	opts.CheckModelFiles = true
	d, err := Load(dir, opts)
	if err != nil {
		return nil, err
	}
	if _, err := Render(ctx, d, RenderOptions{ModelToken: Mask, DefaultToken: Mask, GeneratedDir: placeholderGeneratedDir}); err != nil {
		return nil, err
	}
	return d, nil
}

// placeholderGeneratedDir stands in for the state directory when nothing is written.
const placeholderGeneratedDir = "/nonexistent/rasa-gitops/generated"

// MaskValues replaces every secret value (of at least 4 characters; longest first)
// in s with Mask.
func MaskValues(s string, secrets []string) string {
	list := append([]string(nil), secrets...)
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	for _, v := range list {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, Mask)
		}
	}
	return s
}

// ComposeYAMLMasked prints the rendered project like ComposeYAML with every secret
// value replaced by Mask, wherever it appears (a token reused in an environment
// variable or a health-check URL included).
func (r *Rendered) ComposeYAMLMasked(secrets []string) ([]byte, error) {
	out, err := r.Project.MarshalYAML()
	if err != nil {
		return nil, fmt.Errorf("print compose file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("print compose file: %w", err)
	}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			n.Value = MaskValues(n.Value, secrets)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	escapeScalars(&doc)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(4)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("print compose file: %w", err)
	}
	return b.Bytes(), nil
}
