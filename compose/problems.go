package compose

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a declaration repository, placed at the file,
// line and column an operator must edit. Line and Col are 1-based; a problem about a
// whole file (missing, too large, unreadable) is placed at 1:1.
type Problem struct {
	File    string // slash-separated path relative to the repository root
	Line    int
	Col     int
	Message string
}

// String formats the problem the way compilers do, so editors and CI logs can jump to it.
func (p Problem) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Message)
}

// Problems is every problem found in one pass over a repository. It is returned as an
// error so callers can use errors.As to list the problems one per line.
type Problems []Problem

// Error prints every problem, sorted, one per line.
func (ps Problems) Error() string {
	sorted := append(Problems(nil), ps...)
	sorted.Sort()
	lines := make([]string, len(sorted))
	for i, p := range sorted {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Sort orders problems by file, line, column and message, so output is stable.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Message < b.Message
	})
}

// collector gathers problems while the parser keeps going, so one run reports all.
type collector struct {
	problems Problems
	seen     map[Problem]bool
}

// at records a problem at a YAML node (nil means the whole file).
func (c *collector) at(file string, n *yaml.Node, format string, args ...any) {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
	}
	c.add(Problem{File: file, Line: line, Col: col, Message: fmt.Sprintf(format, args...)})
}

func (c *collector) add(p Problem) {
	if c.seen == nil {
		c.seen = map[Problem]bool{}
	}
	if c.seen[p] {
		return
	}
	c.seen[p] = true
	c.problems = append(c.problems, p)
}

func (c *collector) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	c.problems.Sort()
	return c.problems
}

// Masked returns the problems with every secret value replaced by Mask.
func (ps Problems) Masked(secrets []string) Problems {
	out := make(Problems, len(ps))
	for i, p := range ps {
		p.Message = MaskValues(p.Message, secrets)
		out[i] = p
	}
	return out
}
