package compose

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
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
	for _, rel := range l.decl.ComposeFiles {
		l.composeFile(rel, 0)
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

func (l *repoLoader) composeFile(rel string, depth int) {
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
		l.c.at(rel, nil, "is empty: a Compose file needs at least one service")
		return
	}
	r := l.reader(rel)
	r.checkVariables(n)
	base := path.Dir(rel)
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
				checkServicePaths(&l.c, l.root, rel, base, resolveAlias(s.value), l.opts.Env)
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
				l.composeFile(rel, depth+1)
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
		c.at(file, n, "%s %s is outside the repository: use a path relative to %s", what, clip(p), file)
		return "", false
	}
	rel := path.Clean(path.Join(base, filepath.ToSlash(p)))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		c.at(file, n, "%s %s leads outside the repository: use a path inside it", what, clip(p))
		return "", false
	}
	if _, err := resolveInside(root, filepath.FromSlash(rel)); errors.Is(err, errEscapes) {
		c.at(file, n, "%s %s is a symlink that leads outside the repository", what, clip(p))
		return "", false
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.at(file, n, "%s %s cannot be read", what, clip(p))
		return "", false
	}
	return rel, true
}

// checkServiceFragment validates Compose service fields embedded in a declaration file
// against the Compose schema, placing each problem at its node.
func checkServiceFragment(c *collector, root, file string, node *yaml.Node, what string, frag map[string]any, env map[string]string) {
	checkServicePaths(c, root, file, ".", node, env)
	const probe = "rasa-gitops-service"
	cfg := map[string]any{"services": map[string]any{probe: frag}}
	_, err := loader.LoadModelWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: file, Config: cfg}},
		Environment: env,
	}, func(o *loader.Options) {
		o.SetProjectName("rasa-gitops-check", true)
		o.SkipNormalization = true
		o.SkipExtends = true
		o.SkipInclude = true
		o.SkipResolveEnvironment = true
		o.ResolvePaths = false
	})
	if err != nil {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, "validating "+file+": ")
		prefix := "services." + probe
		at := node
		if strings.HasPrefix(msg, prefix) {
			rest := strings.TrimPrefix(msg, prefix)
			pathText, tail, _ := strings.Cut(rest, " ")
			steps := strings.Split(strings.TrimPrefix(pathText, "."), ".")
			if steps[0] == "" {
				steps = nil
			}
			at = locate(node, steps)
			if k := additionalProperty(tail); k != "" {
				if key := locateKey(at, k); key != nil {
					at = key
				}
			}
			msg = what + strings.TrimPrefix(rest, "")
		} else {
			msg = what + ": " + msg
		}
		msg = strings.Replace(msg, probe, what, 1)
		c.at(file, at, "%s", msg)
	}
}

// additionalProperty extracts X from the schema message "additional properties 'X' not allowed".
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
