package promote

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// errLocate is returned when the parser's position of model: does not match the
// bytes, so that the file is never edited at a guessed place.
var errLocate = errors.New("cannot locate model: in the file; edit it by hand")

// setModelLine returns data with the top-level model: value set to model, every other
// byte unchanged, and the model declared before ("" for none). A file without model:
// gets "model: NAME" as its first line (after a --- document start, if any).
func setModelLine(data []byte, model string) (out []byte, old string, err error) {
	root, err := parseRoot(data)
	if err != nil {
		return nil, "", err
	}
	key, val := findModelKey(root)
	if key == nil {
		if root != nil && root.Style&yaml.FlowStyle != 0 {
			return nil, "", errors.New("a flow-style mapping ({…}) without model:; add the line by hand")
		}
		out = insertModelLine(data, root, model)
	} else if out, old, err = replaceModelValue(data, key, val, model); err != nil {
		return nil, "", err
	}

	if !editedOnlyModel(root, out, model) {
		return nil, "", fmt.Errorf("could not set model: %s in this file; edit it by hand", model)
	}
	return out, old, nil
}

// editedOnlyModel reports whether out declares model: model and, besides it, the same
// top-level keys and values as before (the root of the input, nil when empty): the
// edit must have done exactly what it says, and nothing else.
func editedOnlyModel(before *yaml.Node, out []byte, model string) bool {
	var check struct {
		Model string `yaml:"model"`
	}
	if err := yaml.Unmarshal(out, &check); err != nil || check.Model != model {
		return false
	}
	after, err := parseRoot(out)
	if err != nil {
		return false
	}
	a, b := otherPairs(before), otherPairs(after)
	return slices.EqualFunc(a, b, sameNode)
}

// otherPairs is the keys and values of the mapping root but model:.
func otherPairs(root *yaml.Node) []*yaml.Node {
	if root == nil {
		return nil
	}
	var pairs []*yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i]; k.Kind != yaml.ScalarNode || k.Value != "model" {
			pairs = append(pairs, k, root.Content[i+1])
		}
	}
	return pairs
}

// sameNode compares two parsed values, ignoring their positions and comments; an
// alias compares by the anchor it names.
func sameNode(a, b *yaml.Node) bool {
	return a.Kind == b.Kind && a.Style == b.Style && a.Tag == b.Tag && a.Value == b.Value &&
		a.Anchor == b.Anchor && slices.EqualFunc(a.Content, b.Content, sameNode)
}

// parseRoot is the top-level mapping of the first document, nil when the document is
// empty or null.
func parseRoot(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	switch {
	case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
		return nil, nil
	case root.Kind != yaml.MappingNode:
		return nil, errors.New("not a mapping of keys (model:, publish:, …)")
	}
	return root, nil
}

// findModelKey is the last model: key of root and its value; nil, nil when none.
func findModelKey(root *yaml.Node) (key, val *yaml.Node) {
	if root == nil {
		return nil, nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Kind == yaml.ScalarNode && root.Content[i].Value == "model" {
			key, val = root.Content[i], root.Content[i+1]
		}
	}
	return key, val
}

// insertModelLine puts "model: NAME" on the first line, or after the --- that starts
// the document, using the file's line ending.
func insertModelLine(data []byte, root *yaml.Node, model string) []byte {
	eol := "\n"
	if i := bytes.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		eol = "\r\n"
	}
	at := 0
	limit := -1 // lines before the first key, 1-based; -1: the whole file
	if root != nil {
		limit = root.Line - 1
	}
	for line, off := 1, 0; off < len(data) && (limit < 0 || line <= limit); line++ {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		text := strings.TrimRight(string(data[off:next]), "\r\n")
		if text == "---" || strings.HasPrefix(text, "--- ") || strings.HasPrefix(text, "---\t") {
			at = next
			if end < 0 { // "---" without a newline at the end of the file
				data = append(data[:len(data):len(data)], eol...)
				at = len(data)
			}
		}
		off = next
	}
	out := make([]byte, 0, len(data)+len(model)+8)
	out = append(out, data[:at]...)
	out = append(out, "model: "+model+eol...)
	return append(out, data[at:]...)
}

// replaceModelValue swaps the value of the model: key for model, keeping the quoting
// style and, when it can, the column of a trailing comment.
func replaceModelValue(data []byte, key, val *yaml.Node, model string) ([]byte, string, error) {
	if val.Kind != yaml.ScalarNode {
		return nil, "", errors.New("model: is not a plain name (an alias, list or mapping); edit it by hand")
	}
	if val.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return nil, "", errors.New("model: is a block scalar (| or >); write it as model: NAME")
	}
	old := val.Value
	if val.Tag == "!!null" && (val.Value == "" || val.Value == "~" || strings.EqualFold(val.Value, "null")) {
		old = ""
	}
	if val.Value == "" && val.Style == 0 {
		out, err := fillEmptyValue(data, key, model)
		return out, old, err
	}
	out, err := replaceScalar(data, val, model)
	return out, old, err
}

// fillEmptyValue writes model after the colon of a key with an empty value, which
// yaml.v3 places after the key rather than at a column of its own.
func fillEmptyValue(data []byte, key *yaml.Node, model string) ([]byte, error) {
	kstart, err := nodeOffset(data, key)
	if err != nil {
		return nil, err
	}
	kend, err := scalarEnd(data, kstart, key)
	if err != nil {
		return nil, err
	}
	colon := kend
	for colon < len(data) && (data[colon] == ' ' || data[colon] == '\t') {
		colon++
	}
	if colon >= len(data) || data[colon] != ':' {
		return nil, errors.New("cannot find the colon after model; edit it by hand")
	}
	out := make([]byte, 0, len(data)+len(model)+1)
	out = append(out, data[:colon+1]...)
	out = append(out, ' ')
	out = append(out, model...)
	return append(out, data[colon+1:]...), nil
}

// replaceScalar replaces the one-line scalar val by model in the same quoting style,
// moving a trailing comment so that it keeps its column when the padding allows.
func replaceScalar(data []byte, val *yaml.Node, model string) ([]byte, error) {
	start, err := nodeOffset(data, val)
	if err != nil {
		return nil, err
	}
	end, err := scalarEnd(data, start, val)
	if err != nil {
		return nil, err
	}
	replacement := model
	switch {
	case val.Style&yaml.DoubleQuotedStyle != 0:
		replacement = `"` + model + `"`
	case val.Style&yaml.SingleQuotedStyle != 0:
		replacement = `'` + model + `'`
	}

	rest := data[end:]
	pad := 0
	for pad < len(rest) && rest[pad] == ' ' {
		pad++
	}
	if pad > 0 && pad < len(rest) && rest[pad] == '#' {
		newPad := max(pad+(end-start)-len(replacement), 1)
		replacement += strings.Repeat(" ", newPad)
		end += pad
	}

	out := make([]byte, 0, len(data)+len(replacement))
	out = append(out, data[:start]...)
	out = append(out, replacement...)
	return append(out, data[end:]...), nil
}

// nodeOffset turns a node's line and column (1-based, in characters) into a byte offset.
func nodeOffset(data []byte, n *yaml.Node) (int, error) {
	off := 0
	for line := 1; line < n.Line; line++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return 0, errLocate
		}
		off += i + 1
	}
	for col := 1; col < n.Column; col++ {
		if off >= len(data) || data[off] == '\n' {
			return 0, errLocate
		}
		_, size := utf8.DecodeRune(data[off:])
		off += size
	}
	return off, nil
}

// errMultiLine refuses a model: value that is not on one line, which a one-line edit
// cannot replace.
var errMultiLine = errors.New("model: spans several lines; write it as model: NAME")

// scalarEnd is the byte offset just after the scalar n that starts at off, which must
// sit on one line.
func scalarEnd(data []byte, off int, n *yaml.Node) (int, error) {
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		return quotedEnd(data, off, '"')
	case n.Style&yaml.SingleQuotedStyle != 0:
		return quotedEnd(data, off, '\'')
	}
	end := off + len(n.Value)
	if end <= len(data) && string(data[off:end]) == n.Value {
		return end, nil
	}
	if bytes.IndexByte(data[off:min(end, len(data))], '\n') >= 0 {
		return 0, errMultiLine
	}
	return 0, errLocate
}

// quotedEnd is the byte offset just after the quoted scalar that starts at off with
// quote: a backslash escapes in double quotes, a doubled quote in single quotes.
func quotedEnd(data []byte, off int, quote byte) (int, error) {
	if off >= len(data) || data[off] != quote {
		return 0, errLocate
	}
	for i := off + 1; i < len(data); i++ {
		switch {
		case data[i] == '\n':
			return 0, errMultiLine
		case quote == '"' && data[i] == '\\':
			i++
		case quote == '\'' && data[i] == '\'' && i+1 < len(data) && data[i+1] == '\'':
			i++
		case data[i] == quote:
			return i + 1, nil
		}
	}
	return 0, errLocate
}
