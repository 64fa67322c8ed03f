package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits bound what a repository can make the parser do, so a hostile or broken
// revision cannot exhaust the daemon's memory or time.
type Limits struct {
	// MaxFileSize is the largest declaration file read, in bytes.
	MaxFileSize int64
	// MaxNodes bounds the YAML nodes of one file after anchors and aliases are expanded
	// (the "billion laughs" guard).
	MaxNodes int
	// MaxEnvironments bounds the number of environment files.
	MaxEnvironments int
}

// DefaultLimits are generous for real repositories (a Rasa X stack is a few KiB).
var DefaultLimits = Limits{MaxFileSize: 1 << 20, MaxNodes: 200_000, MaxEnvironments: 1000}

// errEscapes is returned when a path or symlink leads outside the repository.
var errEscapes = errors.New("leads outside the repository")

// within reports whether path is root itself or lies under it (both cleaned, absolute).
func within(root, path string) bool {
	if path == root {
		return true
	}
	return strings.HasPrefix(path, root+string(filepath.Separator))
}

// resolveInside resolves rel against root, following symlinks, and fails when the
// result is outside root. It returns the resolved absolute path; a path that does not
// exist is returned unresolved with an fs.ErrNotExist error.
func resolveInside(root, rel string) (string, error) {
	if filepath.IsAbs(rel) {
		return "", errEscapes
	}
	joined := filepath.Join(root, rel)
	if !within(root, joined) {
		return "", errEscapes
	}
	real, err := filepath.EvalSymlinks(joined)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// A dangling link inside the tree may still point outside: check its target.
			if target, lerr := os.Readlink(joined); lerr == nil {
				if !filepath.IsAbs(target) {
					target = filepath.Join(filepath.Dir(joined), target)
				}
				if !within(root, filepath.Clean(target)) {
					return "", errEscapes
				}
			}
			return joined, fs.ErrNotExist
		}
		return "", err
	}
	if !within(root, real) {
		return "", errEscapes
	}
	return real, nil
}

// readRepoFile reads a regular file of the repository within the size limit.
func readRepoFile(root, rel string, limit int64) ([]byte, error) {
	real, err := resolveInside(root, rel)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("is not a regular file")
	}
	if info.Size() > limit {
		return nil, fmt.Errorf("is %d bytes, larger than the limit of %d bytes: shorten it", info.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("is larger than the limit of %d bytes: shorten it", limit)
	}
	return data, nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+)(?:, column (\d+))?: `)

// yamlPrefixRE matches the wrappers YAML libraries put around a message.
var yamlPrefixRE = regexp.MustCompile(`^(?:yaml: )?(?:construct errors:|unmarshal errors:)?\s*`)

// parseYAML parses one YAML document into a node tree, keeping positions. It reports
// syntax errors with their line, more than one document, and documents whose anchors
// and aliases expand past maxNodes.
func parseYAML(c *collector, file string, data []byte, maxNodes int) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true // an empty file
		}
		c.add(placeSyntaxError(yamlProblem(file, err), data))
		return nil, false
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		c.at(file, &second, "a second YAML document is not allowed: keep one document per file")
		return nil, false
	} else if !errors.Is(err, io.EOF) {
		c.add(placeSyntaxError(yamlProblem(file, err), data))
		return nil, false
	}
	if len(doc.Content) == 0 {
		return nil, true
	}
	if n := countNodes(&doc, maxNodes); n > maxNodes {
		c.at(file, nil, "YAML anchors and aliases expand past the limit of %d nodes: remove the alias chain", maxNodes)
		return nil, false
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, true
	}
	return root, true
}

func yamlProblem(file string, err error) Problem {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	line, col := 1, 1
	// Nested messages ("line 15: line 56: ...") name the innermost position last.
	for {
		m := yamlLineRE.FindStringSubmatchIndex(msg)
		if m == nil {
			break
		}
		line, _ = strconv.Atoi(msg[m[2]:m[3]])
		col = 1
		if m[4] >= 0 {
			col, _ = strconv.Atoi(msg[m[4]:m[5]])
		}
		msg = msg[:m[0]] + msg[m[1]:]
	}
	msg = strings.TrimSpace(yamlPrefixRE.ReplaceAllString(msg, ""))
	if strings.Contains(msg, `"<<" already defined`) {
		msg += ": write one merge key with a list, such as <<: [*a, *b]"
	}
	return Problem{File: file, Line: line, Col: col, Message: "invalid YAML: " + msg}
}

// placeSyntaxError moves a syntax error to the line an operator must edit. yaml.v3
// reports the line where the enclosing block starts (its "context"), which for a
// mis-indented key or an unclosed quote can be lines above the culprit. When the
// file up to the reported line parses, a binary search over prefixes of whole lines
// finds where parsing starts to fail: the culprit line (or the start of a multi-line
// flow or quoted scalar before it). It parses O(log lines) prefixes, so a hostile
// file cannot make it quadratic.
func placeSyntaxError(p Problem, data []byte) Problem {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if n := len(lines); n > 0 && len(lines[n-1]) == 0 {
		lines = lines[:n-1]
	}
	ends := make([]int, len(lines)+1) // ends[k]: bytes in the first k lines
	for i, line := range lines {
		ends[i+1] = ends[i] + len(line)
	}
	fails := func(k int) bool {
		dec := yaml.NewDecoder(bytes.NewReader(data[:ends[k]]))
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == nil {
			err = dec.Decode(&doc) // a second document fails in its own right
		}
		return err != nil && !errors.Is(err, io.EOF)
	}
	if p.Line >= 1 && p.Line < len(lines) && !fails(p.Line) && fails(len(lines)) {
		lo, hi := p.Line, len(lines) // the first lo lines parse; the first hi fail
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			if fails(mid) {
				hi = mid
			} else {
				lo = mid
			}
		}
		p.Line = hi
		p.Col = 1 + len(lines[hi-1]) - len(bytes.TrimLeft(lines[hi-1], " \t"))
	}
	if p.Line >= 1 && p.Line <= len(lines) && bytes.Contains(lines[p.Line-1], []byte("\t")) &&
		strings.Contains(p.Message, "cannot start any token") {
		p.Message += ": indent with spaces, not tabs"
	}
	return p
}

// countNodes counts nodes with aliases expanded, stopping as soon as limit is passed.
func countNodes(n *yaml.Node, limit int) int {
	count := 0
	var walk func(*yaml.Node, int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || count > limit {
			return
		}
		count++
		if depth > 1000 {
			count = limit + 1
			return
		}
		if n.Kind == yaml.AliasNode {
			walk(n.Alias, depth+1)
			return
		}
		for _, child := range n.Content {
			walk(child, depth+1)
		}
	}
	walk(n, 0)
	return count
}

// resolveAlias follows an alias to the node it names.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}
