package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/interpolation"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/go-viper/mapstructure/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gopkg.in/yaml.v3"
)

// maxIncludeDepth bounds nested Compose include: chains during the pre-scan.
const maxIncludeDepth = 8

// composeFiles pre-scans every compose.files entry (and what it includes) before
// compose-go sees it: syntax, size, alias expansion, unset variables and paths that
// leave the repository are reported with their positions. compose-go itself would
// stop at the first problem and substitute "" for an unset variable.
func (l *repoLoader) composeFiles() {
	l.composeServices = map[string]composeService{}
	if l.serviceLayers == nil {
		l.serviceLayers = map[string][]layer{}
	}
	l.networkLayers = map[string][]layer{}
	for _, rel := range l.decl.ComposeFiles {
		l.composeFile(rel, ".", 0)
	}
	for _, env := range l.decl.Environments {
		if s, ok := l.composeServices[ServiceName(env.Name)]; ok {
			l.c.at(s.file, s.at, "service %s is rendered from %s: rename this service, or put its fields under 'service:' in %s", ServiceName(env.Name), env.File, env.File)
		}
	}
}

// composeService remembers where a Compose file declares a service.
type composeService struct {
	file string
	at   *yaml.Node
}

// composeFile pre-scans one Compose file. base is the directory its relative paths
// resolve against: the repository root for compose.files (as with docker compose
// --project-directory <repo>), the included file's own directory for include:.
func (l *repoLoader) composeFile(rel, base string, depth int) {
	if depth > maxIncludeDepth {
		l.c.at(rel, nil, "include: nests deeper than %d files", maxIncludeDepth)
		return
	}
	n, missing, ok := l.readYAML(rel)
	if missing {
		l.c.at(rel, nil, "missing: it is listed in %s compose.files (or included)", SettingsFile)
		return
	}
	if !ok {
		return
	}
	if n == nil {
		l.c.at(rel, nil, "is empty: add a service, or stop listing it in compose.files of %s (or in include:)", SettingsFile)
		return
	}
	r := l.reader(rel)
	varsOK := r.checkVariables(n)
	top, ok := l.c.pairs(rel, n, "a Compose file")
	if !ok {
		return
	}
	for _, p := range top {
		v := resolveAlias(p.value)
		switch p.key.Value {
		case "include":
			l.composeIncludes(r, base, v, depth)
		case "services":
			services, _ := l.c.pairs(rel, v, "services")
			for _, s := range services {
				if prev, dup := l.composeServices[s.key.Value]; dup && depth == 0 && prev.file != rel {
					// Merging the same service across files is normal Compose; keep the first.
				} else if !dup {
					l.composeServices[s.key.Value] = composeService{file: rel, at: s.key}
				}
				svc := resolveAlias(s.value)
				if svc != nil && svc.Kind != yaml.MappingNode {
					l.c.at(rel, svc, "services.%s must be a mapping of service fields, not %s", s.key.Value, describe(svc))
					continue
				}
				if svc != nil { // a later file overrides an earlier one
					l.serviceLayers[s.key.Value] = append([]layer{{file: rel, node: svc, what: "services." + s.key.Value}}, l.serviceLayers[s.key.Value]...)
				}
				checkServicePaths(&l.c, l.root, rel, base, svc, l.opts.Env)
				l.hostPorts = append(l.hostPorts, servicePorts("service "+s.key.Value, rel, svc, l.opts.Env)...)
				if varsOK && svc != nil && svc.Kind == yaml.MappingNode && !hasComposeTag(svc, 0) {
					// compose-go would stop at the first problem of the project, at
					// no position, quoting values; check each service here instead.
					if m, err := decode(svc); err == nil && len(m) > 0 {
						probeService(&l.c, l.root, rel, svc, "services."+s.key.Value, m, l.opts.Env)
					}
				}
			}
		case "networks":
			entries, _ := (&collector{}).pairs(rel, v, "networks") // compose-go reports the shape
			for _, e := range entries {
				if n := resolveAlias(e.value); n != nil && n.Kind == yaml.MappingNode {
					l.networkLayers[e.key.Value] = append([]layer{{file: rel, node: n, what: "networks." + e.key.Value}}, l.networkLayers[e.key.Value]...)
				}
			}
		case "configs", "secrets":
			entries, _ := l.c.pairs(rel, v, p.key.Value)
			for _, e := range entries {
				if f := locateKey(resolveAlias(e.value), "file"); f != nil {
					val := resolveAlias(e.value)
					checkRepoPath(&l.c, l.root, rel, base, locate(val, []string{"file"}), l.opts.Env, false, p.key.Value+" file")
					_ = f
				}
			}
		}
	}
}

// composeIncludes checks include: entries and pre-scans the files they name.
func (l *repoLoader) composeIncludes(r reader, base string, v *yaml.Node, depth int) {
	if v.Kind != yaml.SequenceNode {
		return // compose-go reports the shape
	}
	for _, e := range v.Content {
		e = resolveAlias(e)
		var paths []*yaml.Node
		switch e.Kind {
		case yaml.ScalarNode:
			paths = append(paths, e)
		case yaml.MappingNode:
			if p := locate(e, []string{"path"}); p != nil && p != e {
				if p.Kind == yaml.SequenceNode {
					paths = append(paths, p.Content...)
				} else {
					paths = append(paths, p)
				}
			}
			for _, key := range []string{"env_file", "project_directory"} {
				if p := locate(e, []string{key}); p != nil && p != e {
					items := []*yaml.Node{p}
					if p.Kind == yaml.SequenceNode {
						items = p.Content
					}
					for _, item := range items {
						checkRepoPath(r.c, l.root, r.file, base, resolveAlias(item), l.opts.Env, false, "include "+key)
					}
				}
			}
		}
		for _, p := range paths {
			if rel, ok := checkRepoPath(r.c, l.root, r.file, base, resolveAlias(p), l.opts.Env, false, "include path"); ok && rel != "" {
				if _, err := resolveInside(l.root, filepath.FromSlash(rel)); errors.Is(err, fs.ErrNotExist) {
					// report it here, not in a file that does not exist
					l.c.at(r.file, resolveAlias(p), "include path %s: %s does not exist in the repository", clip(resolveAlias(p).Value), rel)
					continue
				}
				l.composeFile(rel, path.Dir(rel), depth+1)
			}
		}
	}
}

// checkServicePaths checks the paths a service reads or mounts: bind mounts,
// env_file, label_file, extends.file and build.context. Absolute bind-mount sources
// are host paths and allowed; every relative path must stay inside the repository.
func checkServicePaths(c *collector, root, file, base string, svc *yaml.Node, env map[string]string) {
	if svc == nil || svc.Kind != yaml.MappingNode {
		return
	}
	listOrOne := func(n *yaml.Node) []*yaml.Node {
		n = resolveAlias(n)
		if n.Kind == yaml.SequenceNode {
			return n.Content
		}
		return []*yaml.Node{n}
	}
	for i := 0; i+1 < len(svc.Content); i += 2 {
		key, v := svc.Content[i].Value, resolveAlias(svc.Content[i+1])
		switch key {
		case "volumes":
			if v.Kind != yaml.SequenceNode {
				continue
			}
			for _, vol := range v.Content {
				vol = resolveAlias(vol)
				switch vol.Kind {
				case yaml.ScalarNode:
					src, _, found := strings.Cut(vol.Value, ":")
					if found && (strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") || strings.HasPrefix(src, "~") || strings.HasPrefix(src, "$")) {
						checkRepoPath(c, root, file, base, &yaml.Node{Kind: yaml.ScalarNode, Value: src, Line: vol.Line, Column: vol.Column}, env, true, "bind mount source")
					}
				case yaml.MappingNode:
					typ := locate(vol, []string{"type"})
					if typ != nil && typ != vol && typ.Value == "bind" {
						if src := locate(vol, []string{"source"}); src != nil && src != vol {
							checkRepoPath(c, root, file, base, src, env, true, "bind mount source")
						}
					}
				}
			}
		case "env_file", "label_file":
			for _, item := range listOrOne(v) {
				item = resolveAlias(item)
				if item.Kind == yaml.MappingNode {
					item = locate(item, []string{"path"})
				}
				checkRepoPath(c, root, file, base, item, env, false, key)
			}
		case "extends":
			if f := locate(v, []string{"file"}); f != nil && f != v {
				checkRepoPath(c, root, file, base, f, env, false, "extends file")
			}
		case "build":
			n := v
			if v.Kind == yaml.MappingNode {
				n = locate(v, []string{"context"})
				if n == v {
					continue
				}
			}
			if n != nil && n.Kind == yaml.ScalarNode && !strings.Contains(n.Value, "://") {
				checkRepoPath(c, root, file, base, n, env, false, "build context")
			}
		}
	}
}

// checkRepoPath reports a path (relative to base inside the repository) that leads
// outside the repository. hostPathOK allows absolute paths (bind mounts of host
// paths). It returns the slash path relative to the repository root, when inside.
func checkRepoPath(c *collector, root, file, base string, n *yaml.Node, env map[string]string, hostPathOK bool, what string) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", false
	}
	p, missing, err := interpolate(n.Value, MapLookup(env))
	if err != nil || len(missing) > 0 {
		return "", false // reported by checkVariables
	}
	if p == "" {
		return "", false
	}
	if filepath.IsAbs(p) || strings.HasPrefix(p, "~") {
		if hostPathOK {
			return "", true
		}
		c.at(file, n, "%s %s is outside the repository: use a path relative to %s", what, literal(n, p), file)
		return "", false
	}
	rel := path.Clean(path.Join(base, filepath.ToSlash(p)))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		c.at(file, n, "%s %s leads outside the repository: use a path inside it", what, literal(n, p))
		return "", false
	}
	if _, err := resolveInside(root, filepath.FromSlash(rel)); errors.Is(err, errEscapes) {
		c.at(file, n, "%s %s is a symlink that leads outside the repository", what, literal(n, p))
		return "", false
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.at(file, n, "%s %s cannot be read", what, literal(n, p))
		return "", false
	}
	return rel, true
}

// withLabelFilesIn makes a fragment's relative label_file paths absolute under root:
// the probe loads without resolving paths, and compose-go reads label files while it
// loads (relative to the process's directory otherwise).
func withLabelFilesIn(root string, frag map[string]any) map[string]any {
	abs := func(v any) any {
		if p, ok := v.(string); ok && p != "" && !filepath.IsAbs(p) && !strings.Contains(p, "$") {
			return filepath.Join(root, filepath.FromSlash(p))
		}
		return v
	}
	files, ok := frag["label_file"]
	if !ok {
		return frag
	}
	out := make(map[string]any, len(frag))
	for k, v := range frag {
		out[k] = v
	}
	switch list := files.(type) {
	case []any:
		resolved := make([]any, len(list))
		for i, f := range list {
			resolved[i] = abs(f)
		}
		out["label_file"] = resolved
	default:
		out["label_file"] = abs(files)
	}
	return out
}

// reportSchemaError places a schema error of a service's fields: an unknown key at
// the key, anything else at the value, with the schema's words.
func reportSchemaError(node *yaml.Node, steps []string, errKind jsonschema.ErrorKind, report func(*yaml.Node, string), where func([]string) string) {
	switch k := errKind.(type) {
	case *kind.FalseSchema:
		if len(steps) > 0 { // the schema forbids this key (additionalProperties: false)
			last, parent := steps[len(steps)-1], steps[:len(steps)-1]
			at := locateKey(locate(node, parent), last)
			if at == nil {
				at = locate(node, steps)
			}
			report(at, unknownField(last, where(parent)))
			return
		}
	case *kind.AdditionalProperties:
		parent := locate(node, steps)
		for _, key := range k.Properties {
			at := locateKey(parent, key)
			if at == nil {
				at = parent
			}
			report(at, unknownField(key, where(steps)))
		}
		return
	}
	report(locate(node, steps), where(steps)+" "+schemaMessage(errKind))
}

// probeService loads one service's fields alone through compose-go (interpolation,
// schema, then decoding), placing each problem at its node and never quoting a
// variable's value. compose-go's load error tells only whether the fields are good:
// its schema error keeps the failing path to itself and its interpolation error
// names the path in its text only. So when the load fails, interpolation and schema
// validation are run again with compose-go's public pieces, whose errors are typed
// and say where, and decoding errors are read as mapstructure's typed errors.
func probeService(c *collector, root, file string, node *yaml.Node, what string, frag map[string]any, env map[string]string) {
	const probe = "rasa-gitops-service"
	cfg := map[string]any{"services": map[string]any{probe: withLabelFilesIn(root, frag)}}
	details := types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: file, Config: cfg}},
		Environment: env,
	}
	options := func(o *loader.Options) {
		o.SetProjectName("rasa-gitops-check", true)
		o.SkipNormalization = true
		o.SkipConsistencyCheck = true // a fragment need not name an image
		o.SkipExtends = true
		o.SkipInclude = true
		o.SkipResolveEnvironment = true
		o.ResolvePaths = false
	}
	// A full load (not only the model) also decodes durations, sizes and ports, which
	// the schema leaves to the decoder.
	project, err := loader.LoadWithContext(context.Background(), details, options)
	if err == nil {
		if svc, ok := project.Services[probe]; ok {
			checkFragmentValues(c, root, file, node, what, svc, env)
		}
		return
	}
	report := func(at *yaml.Node, msg string) { c.at(file, at, "%s", redactValues(msg, node, env)) }
	where := func(steps []string) string { return strings.Join(append([]string{what}, steps...), ".") }

	// Interpolation, with the loader's own options (its type casts included).
	opts := loader.ToOptions(&details, []func(*loader.Options){options})
	interpolated := cfg
	if opts.Interpolate != nil {
		var ierr error
		if interpolated, ierr = interpolation.Interpolate(cfg, *opts.Interpolate); ierr != nil {
			reported := false
			eachString(frag, nil, func(x any) any { return map[string]any{"services": map[string]any{probe: x}} }, func(steps []string, value string, alone map[string]any) {
				if _, err := interpolation.Interpolate(alone, *opts.Interpolate); err != nil {
					at := locate(node, steps)
					report(at, where(steps)+": "+interpolationFailure(err, at, value, env))
					reported = true
				}
			})
			if reported {
				return
			}
		}
	}

	// Decoding: mapstructure's errors name the field they are about.
	if decodeErrs := leafDecodeErrors(err, nil); len(decodeErrs) > 0 {
		prefix := "services[" + probe + "]"
		for _, de := range decodeErrs {
			name, ok := strings.CutPrefix(de.Name(), prefix)
			if !ok {
				report(node, what+": "+de.Error())
				continue
			}
			steps := decodePath(name)
			report(locate(node, steps), where(steps)+": "+errors.Unwrap(de).Error())
		}
		return
	}

	// The schema: compose-go's own, validated here so that the error keeps its
	// instance location.
	if verr := validateComposeSchema(interpolated); verr != nil && len(verr.InstanceLocation) >= 2 &&
		verr.InstanceLocation[0] == "services" && verr.InstanceLocation[1] == probe {
		reportSchemaError(node, verr.InstanceLocation[2:], verr.ErrorKind, report, where)
		return
	}

	// Anything else: compose-go's message, about the fields of this service.
	msg := strings.Join(strings.Fields(err.Error()), " ")
	msg = strings.NewReplacer("services."+probe+".", what+".", "services["+probe+"]", what, probe, what).Replace(msg)
	report(node, what+": "+msg)
}

func unknownField(key, in string) string {
	return fmt.Sprintf("unknown Compose field %q in %s: see https://docs.docker.com/reference/compose-file/services/", key, in)
}

// eachString calls fn for each string under v, with its path and with the smallest
// configuration that holds it at the same place (wrap builds it around a value).
func eachString(v any, steps []string, wrap func(any) any, fn func(steps []string, value string, alone map[string]any)) {
	switch v := v.(type) {
	case string:
		if alone, ok := wrap(v).(map[string]any); ok {
			fn(steps, v, alone)
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			eachString(v[k], append(steps[:len(steps):len(steps)], k), func(x any) any { return wrap(map[string]any{k: x}) }, fn)
		}
	case []any:
		for i, e := range v {
			eachString(e, append(steps[:len(steps):len(steps)], strconv.Itoa(i)), func(x any) any { return wrap([]any{x}) }, fn)
		}
	}
}

// interpolationFailure explains why compose-go could not interpolate one value:
// a ${...} expression, or a result that is not of the field's type.
func interpolationFailure(err error, at *yaml.Node, value string, env map[string]string) string {
	var required *template.MissingRequiredError
	var invalid *template.InvalidTemplateError
	if errors.As(err, &required) || errors.As(err, &invalid) {
		if _, _, ierr := interpolate(value, MapLookup(env)); ierr != nil {
			return ierr.Error()
		}
	}
	var num *strconv.NumError
	if errors.As(err, &num) {
		// as strconv words it, with the value as written (a variable's value may be secret)
		return "failed to cast to expected type: " + (&strconv.NumError{Func: num.Func, Num: literal(at, num.Num), Err: num.Err}).Error()
	}
	cause := err // the cast's own error, innermost
	for {
		next := errors.Unwrap(cause)
		if next == nil {
			if joined, ok := cause.(interface{ Unwrap() []error }); ok && len(joined.Unwrap()) > 0 {
				next = joined.Unwrap()[0]
			}
		}
		if next == nil {
			break
		}
		cause = next
	}
	return "failed to cast to expected type: " + cause.Error()
}

// leafDecodeErrors lists the innermost mapstructure decoding errors in err's tree.
func leafDecodeErrors(err error, out []*mapstructure.DecodeError) []*mapstructure.DecodeError {
	if err == nil {
		return out
	}
	if de, ok := err.(*mapstructure.DecodeError); ok {
		if inner := leafDecodeErrors(de.Unwrap(), nil); len(inner) > 0 {
			return append(out, inner...)
		}
		return append(out, de)
	}
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, child := range e.Unwrap() {
			out = leafDecodeErrors(child, out)
		}
		return out
	case interface{ Unwrap() error }:
		return leafDecodeErrors(e.Unwrap(), out)
	}
	return out
}

// decodePath turns the rest of a mapstructure field name (".ports[0].published")
// into path steps.
func decodePath(name string) []string {
	name = strings.NewReplacer("[", ".", "]", "").Replace(strings.TrimPrefix(name, "."))
	if name == "" {
		return []string{}
	}
	return strings.Split(name, ".")
}

// composeSchema is compose-go's Compose schema, compiled as compose-go compiles it.
var composeSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema.Schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("compose-spec.json", doc); err != nil {
		return nil, err
	}
	c.RegisterFormat(&jsonschema.Format{Name: "duration", Validate: func(v any) error {
		s, ok := v.(string)
		if !ok {
			return errors.New("expected a string")
		}
		_, err := time.ParseDuration(s)
		return err
	}})
	return c.Compile("compose-spec.json")
})

// validateComposeSchema validates a configuration against the Compose schema and
// returns the error compose-go would report: the one about the deepest value, an
// unknown key counting one level deeper (nil when the configuration is valid, or
// cannot be checked here).
func validateComposeSchema(cfg map[string]any) *jsonschema.ValidationError {
	sch, err := composeSchema()
	if err != nil {
		return nil
	}
	// as compose-go does: the validator takes JSON's types only
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil
	}
	var doc any
	if json.Unmarshal(data, &doc) != nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(sch.Validate(doc), &verr) {
		return nil
	}
	var best *jsonschema.ValidationError
	bestDepth := -1
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, cause := range e.Causes {
				walk(cause)
			}
			return
		}
		depth := len(e.InstanceLocation)
		if _, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
			depth++
		}
		if depth > bestDepth {
			best, bestDepth = e, depth
		}
	}
	walk(verr)
	return best
}

// schemaMessage says what a value must be, after the path of the value.
func schemaMessage(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, t := range k.Want {
			switch t {
			case "object":
				t = "mapping"
			case "array":
				t = "list"
			}
			want[i] = t
		}
		sort.Strings(want)
		if len(want) > 1 {
			return "must be a " + strings.Join(want[:len(want)-1], ", ") + " or " + want[len(want)-1]
		}
		return "must be a " + strings.Join(want, "")
	case *kind.Minimum:
		return "must be greater than or equal to " + k.Want.RatString()
	case *kind.Maximum:
		return "must be less than or equal to " + k.Want.RatString()
	}
	return k.LocalizedString(message.NewPrinter(language.English))
}

// redactValues puts back the text as written (such as ${VAR}) wherever msg quotes
// the value of a variable that a scalar under n names: compose-go's messages quote
// interpolated values, and a variable's value may be a secret.
func redactValues(msg string, n *yaml.Node, env map[string]string) string {
	type swap struct{ value, written string }
	var swaps []swap
	var walk func(*yaml.Node, int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || depth > 200 || n.Kind == yaml.AliasNode {
			return
		}
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "$") {
			if v, missing, err := interpolate(n.Value, MapLookup(env)); err == nil && len(missing) == 0 && v != "" && v != n.Value {
				swaps = append(swaps, swap{v, n.Value})
			}
			for name, v := range env {
				if v != "" && (strings.Contains(n.Value, "${"+name) || strings.Contains(n.Value, "$"+name)) {
					swaps = append(swaps, swap{v, "${" + name + "}"})
				}
			}
		}
		for _, child := range n.Content {
			walk(child, depth+1)
		}
	}
	walk(n, 0)
	// Longest first, in one pass, so no replacement is rewritten by a shorter one.
	sort.SliceStable(swaps, func(i, j int) bool { return len(swaps[i].value) > len(swaps[j].value) })
	var pairs, values []string
	for _, s := range swaps {
		if len(s.value) >= 4 { // shorter values would garble numbers in the message
			pairs = append(pairs, s.value, s.written)
			values = append(values, s.value)
		}
	}
	// compose-go may quote a value cut short ("address secret:80:: too many colons"):
	// fragments of the values this node interpolates are masked too.
	return MaskFragments(strings.NewReplacer(pairs...).Replace(msg), values)
}

// hasComposeTag reports whether n holds a Compose merge tag (!reset, !override), which
// only compose-go's own loader understands.
func hasComposeTag(n *yaml.Node, depth int) bool {
	if n == nil || depth > 200 || n.Kind == yaml.AliasNode {
		return false
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return true
	}
	for _, child := range n.Content {
		if hasComposeTag(child, depth+1) {
			return true
		}
	}
	return false
}

// hostPort is one fixed host port that a container of the project publishes.
type hostPort struct {
	owner    string // "environment production", "service nginx"
	file     string
	at       *yaml.Node
	ip       string // "" (or 0.0.0.0, ::) means every address
	port     int
	proto    string
	template bool // from rasa.service, so published by every environment
}

// servicePorts lists the fixed host ports of a service's ports: field, short or long
// syntax. Host port ranges, which Docker resolves to any free port, are left out, and
// so are entries the schema check or interpolation reports.
func servicePorts(owner, file string, svc *yaml.Node, env map[string]string) []hostPort {
	svc = resolveAlias(svc)
	ports := locate(svc, []string{"ports"})
	if svc == nil || svc.Kind != yaml.MappingNode || ports == svc || ports == nil || ports.Kind != yaml.SequenceNode {
		return nil
	}
	text := func(n *yaml.Node) string {
		if n == nil || n.Kind != yaml.ScalarNode {
			return ""
		}
		s, missing, err := interpolate(n.Value, MapLookup(env))
		if err != nil || len(missing) > 0 {
			return ""
		}
		return s
	}
	var out []hostPort
	for _, item := range ports.Content {
		item = resolveAlias(item)
		var cfgs []types.ServicePortConfig
		switch item.Kind {
		case yaml.ScalarNode:
			cfgs, _ = types.ParsePortConfig(text(item))
		case yaml.MappingNode:
			field := func(k string) string {
				if v := locate(item, []string{k}); v != item {
					return text(v)
				}
				return ""
			}
			cfgs = []types.ServicePortConfig{{HostIP: field("host_ip"), Published: field("published"), Protocol: field("protocol")}}
		}
		for _, cfg := range cfgs {
			port, err := strconv.Atoi(cfg.Published)
			if err != nil || port < 1 {
				continue // unpublished, a range, or reported by the schema check
			}
			proto := strings.ToLower(cfg.Protocol)
			if proto == "" {
				proto = "tcp"
			}
			out = append(out, hostPort{owner: owner, file: file, at: item, ip: cfg.HostIP, port: port, proto: proto})
		}
	}
	return out
}

// ipsOverlap reports whether two host addresses of a published port collide: the
// same address, or either one is every address.
func ipsOverlap(a, b string) bool {
	every := func(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }
	return a == b || every(a) || every(b)
}

// additionalProperty extracts X from the schema message "additional properties 'X' not allowed".
// Only render.go's composeProblems still reads compose-go's text with it; probeService
// reads the schema error's kind instead.
func additionalProperty(msg string) string {
	const p = "additional properties '"
	i := strings.Index(msg, p)
	if i < 0 {
		return ""
	}
	rest := msg[i+len(p):]
	j := strings.Index(rest, "'")
	if j < 0 {
		return ""
	}
	return rest[:j]
}
