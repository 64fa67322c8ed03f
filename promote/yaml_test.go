package promote

import (
	"bytes"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSetModelLine(t *testing.T) {
	tests := []struct {
		name, in, want, old, err string
		model                    string // default "b"
	}{
		{name: "plain", in: "model: a\npublish: \"1\"\n", want: "model: b\npublish: \"1\"\n", old: "a"},
		{name: "comments kept", in: "# head\nmodel: a  # note\n# tail\n", want: "# head\nmodel: b  # note\n# tail\n", old: "a"},
		{name: "comment column kept", in: "model: moodbot-v1                # note\n", want: "model: v2                        # note\n", old: "moodbot-v1", model: "v2"},
		{name: "comment column when longer", in: "model: a # note\n", want: "model: moodbot-v2 # note\n", old: "a", model: "moodbot-v2"},
		{name: "comment column when much longer", in: "model: a  # note\n", want: "model: moodbot-v2 # note\n", old: "a", model: "moodbot-v2"},
		{name: "hash inside a plain value", in: "model: a#b\n", want: "model: c\n", old: "a#b", model: "c"},
		{name: "double quoted", in: "publish: x\nmodel: \"a\"\n", want: "publish: x\nmodel: \"b\"\n", old: "a"},
		{name: "double quoted with escape", in: "model: \"a\\\"q\"  # c\n", want: "model: \"b\"     # c\n", old: "a\"q"},
		{name: "single quoted", in: "model: 'a'\n", want: "model: 'b'\n", old: "a"},
		{name: "single quoted with doubled quote", in: "model: 'it''s'\nx: 1\n", want: "model: 'b'\nx: 1\n", old: "it's"},
		{name: "crlf", in: "model: a\r\npublish: x\r\n", want: "model: b\r\npublish: x\r\n", old: "a"},
		{name: "crlf with comment", in: "# c\r\nmodel: a # n\r\n", want: "# c\r\nmodel: b # n\r\n", old: "a"},
		{name: "empty value", in: "model:\npublish: x\n", want: "model: b\npublish: x\n", old: ""},
		{name: "empty value with comment", in: "model:   # none\n", want: "model: b   # none\n", old: ""},
		{name: "tilde", in: "model: ~\n", want: "model: b\n", old: ""},
		{name: "null", in: "model: null\n", want: "model: b\n", old: ""},
		{name: "quoted key", in: "\"model\": a\n", want: "\"model\": b\n", old: "a"},
		{name: "not last key", in: "publish: x\nmodel: a\nimage: i\n", want: "publish: x\nmodel: b\nimage: i\n", old: "a"},
		{name: "key order and nesting kept", in: "z: 1\nservice:\n  image: i # img\n  model: n\nmodel: a\na: [1, 2]\n", want: "z: 1\nservice:\n  image: i # img\n  model: n\nmodel: b\na: [1, 2]\n", old: "a"},
		{name: "flow mapping", in: "{publish: x, model: a}\n", want: "{publish: x, model: b}\n", old: "a"},
		{name: "flow mapping over lines", in: "{\n  model: 'a',\n  publish: x\n}\n", want: "{\n  model: 'b',\n  publish: x\n}\n", old: "a"},
		{name: "flow mapping after multibyte", in: "{clé: é, model: a}\n", want: "{clé: é, model: b}\n", old: "a"},
		{name: "document start", in: "---\nmodel: a\n", want: "---\nmodel: b\n", old: "a"},
		{name: "absent", in: "# worker\nservice: {}\n", want: "model: b\n# worker\nservice: {}\n"},
		{name: "absent crlf", in: "service: {}\r\n", want: "model: b\r\nservice: {}\r\n"},
		{name: "absent after document start", in: "# c\n---\nservice: {}\n", want: "# c\n---\nmodel: b\nservice: {}\n"},
		{name: "absent after commented document start", in: "# c\n--- # doc\nservice: {}\n", want: "# c\n--- # doc\nmodel: b\nservice: {}\n"},
		{name: "absent, document start at the end", in: "# c\n---", want: "# c\n---\nmodel: b\n"},
		{name: "absent, later --- untouched", in: "x: |\n  ---\n", want: "model: b\nx: |\n  ---\n"},
		{name: "empty file", in: "", want: "model: b\n"},
		{name: "only comments", in: "# nothing\n", want: "model: b\n# nothing\n"},
		{name: "nested model untouched", in: "service:\n  model: x\n", want: "model: b\nservice:\n  model: x\n"},
		{name: "absent in flow mapping", in: "{}\n", err: "flow-style"},
		{name: "block scalar", in: "model: |\n  a\n", err: "block scalar"},
		{name: "folded scalar", in: "model: >\n  a\n", err: "block scalar"},
		{name: "plain over two lines", in: "model: a\n  b\n", err: "spans several lines"},
		{name: "double quoted over two lines", in: "model: \"a\n  b\"\n", err: "spans several lines"},
		{name: "single quoted over two lines", in: "model: 'a\n  b'\n", err: "spans several lines"},
		{name: "anchored value", in: "model: &m a\n", err: "cannot locate model"},
		{name: "list", in: "- a\n", err: "not a mapping"},
		{name: "scalar", in: "just text\n", err: "not a mapping"},
		{name: "mapping value", in: "model: {name: a}\n", err: "not a plain name"},
		{name: "alias", in: "x: &m a\nmodel: *m\n", err: "alias"},
		{name: "duplicate model", in: "model: a\nmodel: c\n", err: "could not set model: b"},
		{name: "invalid", in: "model: [\n", err: "not valid YAML"},
		// Inserting before a root that starts on the --- line would move its keys to
		// a second document.
		{name: "absent, root tagged on the --- line", in: "--- !!map\nfoo: 1\n", err: "could not set model: b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := tt.model
			if model == "" {
				model = "b"
			}
			in := []byte(tt.in)
			out, old, err := setModelLine(in, model)
			if string(in) != tt.in {
				t.Errorf("input changed to %q", in)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q (output %q)", err, tt.err, out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want || old != tt.old {
				t.Errorf("got %q (old %q), want %q (old %q)", out, old, tt.want, tt.old)
			}
		})
	}
}

// TestInsertModelLineDoesNotAlias checks that inserting after a final "---" without
// a newline does not write into the caller's array.
func TestInsertModelLineDoesNotAlias(t *testing.T) {
	buf := make([]byte, 3, 64)
	copy(buf, "---")
	out := insertModelLine(buf, nil, "b")
	if string(out) != "---\nmodel: b\n" {
		t.Fatalf("got %q", out)
	}
	if string(buf[:cap(buf)][3:4]) != "\x00" {
		t.Errorf("insertModelLine wrote past the input's length: %q", buf[:cap(buf)])
	}
}

func TestCatalogueModels(t *testing.T) {
	names, err := catalogueModels([]byte("# c\nmodels:\n  zeta: {}\n  alpha:\n    sha256: x\nother: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "alpha,zeta" {
		t.Errorf("models %v, want [alpha zeta] sorted", names)
	}
	if _, err := catalogueModels([]byte("models: [a, b]\n")); err == nil || !strings.Contains(err.Error(), "cannot read the model catalogue") {
		t.Errorf("a list of models: error %v", err)
	}
	if names, err := catalogueModels(nil); err != nil || len(names) != 0 {
		t.Errorf("empty catalogue: %v %v", names, err)
	}
}

// fuzzModels are the names FuzzSetModelLine sets: valid names (Run refuses others
// before it edits anything), of several lengths, some of which YAML would read as
// another type.
var fuzzModels = []string{"b", "moodbot-v2", "a-rather-long-model-name-0123456789", "123", "true", "null", "0x1f", "1e3"}

// FuzzSetModelLine checks the edit's invariants on any input: it never panics or
// changes its input, and when it succeeds the output is YAML whose top-level model is
// the new one and whose other top-level keys keep their values.
func FuzzSetModelLine(f *testing.F) {
	for i, s := range []string{
		"model: a\npublish: \"1\"\n",
		"# head\nmodel: a  # note\n# tail\n",
		"model: 'a'\r\nx: 1\r\n",
		"{publish: x, model: \"a\"}\n",
		"# c\n---\nservice: {}\n",
		"model:   # none\n",
		"service:\n  model: x\n",
		"x: &m a\nmodel: *m\n",
		"--- !!map\nfoo: 1\n",
		"",
	} {
		f.Add([]byte(s), uint8(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, pick uint8) {
		model := fuzzModels[int(pick)%len(fuzzModels)]
		in := bytes.Clone(data)
		out, _, err := setModelLine(data, model)
		if !bytes.Equal(in, data) {
			t.Fatalf("input changed: %q -> %q", in, data)
		}
		if err != nil {
			return
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(out, &doc); err != nil {
			t.Fatalf("output is not YAML: %v\nin:  %q\nout: %q", err, data, out)
		}
		if got := topLevelModel(t, out); got != model {
			t.Fatalf("model %q, want %q\nin:  %q\nout: %q", got, model, data, out)
		}
		var before, after map[string]any
		if yaml.Unmarshal(data, &before) != nil {
			return // keys that are not strings: there is nothing to compare by name
		}
		if err := yaml.Unmarshal(out, &after); err != nil {
			t.Fatalf("output does not decode as the input did: %v\nin:  %q\nout: %q", err, data, out)
		}
		delete(before, "model")
		delete(after, "model")
		if b, a := canonical(t, before), canonical(t, after); b != a {
			t.Fatalf("other keys changed:\n%s\nwant:\n%s\nin:  %q\nout: %q", a, b, data, out)
		}
	})
}

// topLevelModel is the value of the top-level model: key of the first document.
func topLevelModel(t *testing.T, data []byte) string {
	t.Helper()
	root, err := parseRoot(data)
	if err != nil {
		t.Fatalf("output: %v", err)
	}
	_, val := findModelKey(root)
	if val == nil {
		t.Fatalf("output has no model: key: %q", data)
	}
	return val.Value
}

// canonical writes a decoded mapping in one form (sorted keys), so that values
// compare even when they are NaN.
func canonical(t *testing.T, m map[string]any) string {
	t.Helper()
	if len(m) == 0 {
		return "{}"
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
