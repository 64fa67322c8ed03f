package compose

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// field handles the value of one known key of a mapping.
type field func(key, value *yaml.Node)

// pair is one key/value entry of a mapping, merge keys (<<) already expanded.
type pair struct{ key, value *yaml.Node }

// pairs lists a mapping's entries, expanding YAML merge keys and reporting duplicates.
func (c *collector) pairs(file string, n *yaml.Node, what string) ([]pair, bool) {
	n = resolveAlias(n)
	if n == nil {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		c.at(file, n, "%s must be a mapping, not %s", what, describe(n))
		return nil, false
	}
	var out []pair
	seen := map[string]*yaml.Node{}
	var merged []pair
	var mergeKey *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
			if mergeKey != nil {
				c.at(file, k, "merge key << is repeated (first at line %d): write one merge key with a list, such as <<: [*a, *b]", mergeKey.Line)
			}
			mergeKey = k
			for _, src := range mergeSources(v) {
				sub, _ := c.pairs(file, src, what)
				merged = append(merged, sub...)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			c.at(file, k, "%s has a key that is not a string", what)
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			c.at(file, k, "key %q is repeated (first at line %d): keep one", k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, v})
	}
	for _, p := range merged { // explicit keys win over merged ones
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = p.key
			out = append(out, p)
		}
	}
	return out, true
}

func mergeSources(v *yaml.Node) []*yaml.Node {
	v = resolveAlias(v)
	if v.Kind == yaml.SequenceNode {
		var out []*yaml.Node
		for _, e := range v.Content {
			out = append(out, resolveAlias(e))
		}
		return out
	}
	return []*yaml.Node{v}
}

// fields walks a mapping with a fixed set of keys; any other key is an error.
func (c *collector) fields(file string, n *yaml.Node, what string, known map[string]field) {
	ps, _ := c.pairs(file, n, what)
	for _, p := range ps {
		handle, ok := known[p.key.Value]
		if !ok {
			c.at(file, p.key, "unknown key %q in %s: allowed keys are %s", p.key.Value, what, keyList(known))
			continue
		}
		handle(p.key, resolveAlias(p.value))
	}
}

func keyList(known map[string]field) string {
	keys := make([]string, 0, len(known))
	for k := range known {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// literal is what a message may show of value, read from n: value itself when it was
// written literally, else the text as written (such as ${VAR}), because a variable's
// value is often a secret and must never appear in a problem.
func literal(n *yaml.Node, value string) string {
	if interpolated(n, value) {
		return clip(n.Value)
	}
	return clip(value)
}

// interpolated reports whether value came from n through ${VAR} interpolation.
func interpolated(n *yaml.Node, value string) bool {
	return n != nil && n.Value != value && strings.Contains(n.Value, "$")
}

// describe names a node's kind for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	}
	return "an alias"
}

// reader turns scalar nodes into typed values, interpolating ${VAR} from the daemon's
// environment and reporting each problem at its node.
type reader struct {
	c      *collector
	file   string
	lookup Lookup
}

// str reads an interpolated string. ok is false when a problem was reported.
func (r reader) str(what string, n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		r.c.at(r.file, n, "%s must be a string, not %s", what, describe(n))
		return "", false
	}
	return r.expand(n, n.Value)
}

// expand interpolates one string found at n.
func (r reader) expand(n *yaml.Node, s string) (string, bool) {
	out, missing, err := interpolate(s, r.lookup)
	ok := true
	for _, name := range missing {
		r.c.at(r.file, n, "variable %s is not set and has no default: set it in the daemon's environment or --env-file, or write ${%s:-default}", name, name)
		ok = false
	}
	if err != nil {
		r.c.at(r.file, n, "%s", err.Error())
		ok = false
	}
	return out, ok
}

// integer reads an interpolated whole number within [min, max].
func (r reader) integer(what string, n *yaml.Node, min, max int) (int, bool) {
	s, ok := r.str(what, n)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < min || v > max {
		r.c.at(r.file, n, "%s must be a whole number from %d to %d", what, min, max)
		return 0, false
	}
	return v, true
}

// duration reads a Go duration such as 10s or 1m30s.
func (r reader) duration(what string, n *yaml.Node) (time.Duration, bool) {
	s, ok := r.str(what, n)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		if v, ierr := strconv.Atoi(strings.TrimSpace(s)); ierr == nil {
			d, err = time.Duration(v)*time.Second, nil
		}
	}
	if err != nil || d < time.Second || d > 24*time.Hour {
		r.c.at(r.file, n, "%s must be a duration from 1s to 24h, such as 10s or 1m", what)
		return 0, false
	}
	return d, true
}

// strings reads a list of interpolated strings.
func (r reader) strings(what string, n *yaml.Node) ([]string, bool) {
	if n.Kind != yaml.SequenceNode {
		r.c.at(r.file, n, "%s must be a list of strings, not %s", what, describe(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	allOK := true
	for _, e := range n.Content {
		s, ok := r.str(what+" entry", resolveAlias(e))
		allOK = allOK && ok
		out = append(out, s)
	}
	return out, allOK
}

// checkVariables reports every ${VAR} inside a subtree (keys and values) that is
// unset and has no default, or is malformed. The subtree is left uninterpolated: it
// is handed to compose-go, which interpolates it from the same environment.
func (r reader) checkVariables(n *yaml.Node) bool {
	ok := true
	var walk func(*yaml.Node, int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || depth > 200 {
			return
		}
		switch n.Kind {
		case yaml.AliasNode:
			return // the anchor itself is checked where it is defined
		case yaml.ScalarNode:
			if strings.Contains(n.Value, "$") {
				if _, good := r.expand(n, n.Value); !good {
					ok = false
				}
			}
		default:
			for _, child := range n.Content {
				walk(child, depth+1)
			}
		}
	}
	walk(n, 0)
	return ok
}

// decode turns a node into plain Go values for compose-go.
func decode(n *yaml.Node) (map[string]any, error) {
	var out map[string]any
	if err := n.Decode(&out); err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	return out, nil
}

// locate finds the deepest node along a dotted path (mapping keys, list indexes); for
// a path that ends in a key, it returns that key's value.
func locate(n *yaml.Node, path []string) *yaml.Node {
	cur := resolveAlias(n)
	for _, step := range path {
		if cur == nil {
			return nil
		}
		var next *yaml.Node
		switch cur.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(cur.Content); i += 2 {
				if cur.Content[i].Value == step {
					next = resolveAlias(cur.Content[i+1])
					if next.Line == 0 { // an empty value has no position; use its key
						next = cur.Content[i]
					}
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(step); err == nil && i >= 0 && i < len(cur.Content) {
				next = resolveAlias(cur.Content[i])
			}
		}
		if next == nil {
			return cur
		}
		cur = next
	}
	return cur
}

// locateKey finds the key node named key directly inside mapping n.
func locateKey(n *yaml.Node, key string) *yaml.Node {
	n = resolveAlias(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}
