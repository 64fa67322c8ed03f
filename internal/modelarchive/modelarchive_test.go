package modelarchive

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// archive builds a gzip'd tar holding the named entries (a trailing / is a directory).
func archive(t testing.TB, names ...string) []byte {
	t.Helper()
	files := map[string]string{}
	for _, n := range names {
		files[n] = ""
		if !strings.HasSuffix(n, "/") {
			files[n] = n
		}
	}
	b, err := Build(files)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipOf(b []byte) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.Write(b)
	gz.Close()
	return buf.Bytes()
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content []byte
		layout  Layout
		missing string // in the error when refused
	}{
		{"rasa 3", archive(t, "metadata.json", "train_DIETClassifier0/", "train_DIETClassifier0/x.npy"), Rasa3, ""},
		{"rasa 3 with ./ prefixes", archive(t, "./", "./metadata.json", "./components/domain.yml"), Rasa3, ""},
		{"rasa 2", archive(t, "fingerprint.json", "core/", "core/policy.json", "nlu/", "nlu/metadata.json"), Rasa2, ""},
		{"rasa 1 nlu only", archive(t, "fingerprint.json", "nlu/metadata.json"), Rasa2, ""},
		{"rasa 3 metadata alone", archive(t, "metadata.json"), "", "none of the trained components"},
		{"rasa 2 fingerprint alone", archive(t, "fingerprint.json", "domain.yml"), "", "neither core/ nor nlu/"},
		{"another tarball", archive(t, "README.md", "src/", "src/main.go"), "", `neither metadata.json (Rasa 3) nor fingerprint.json (Rasa 1/2) at its root (found "README.md", "src")`},
		{"empty tar", archive(t), "", "the archive is empty"},
		{"eight bytes", []byte("notmodel"), "", "not gzip-compressed"},
		{"gzip of text", gzipOf([]byte("hello, this is not a tar file at all, but it is long enough")), "", "not a readable tar archive"},
		{"truncated", archive(t, "metadata.json", "components/x")[:40], "", "not a readable tar archive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			layout, err := Check(bytes.NewReader(tc.content))
			if tc.missing == "" {
				if err != nil || layout != tc.layout {
					t.Fatalf("Check = %q, %v; want %q", layout, err, tc.layout)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrNotModel) || !strings.Contains(err.Error(), tc.missing) {
				t.Fatalf("Check = %q, %v; want ErrNotModel saying %q", layout, err, tc.missing)
			}
		})
	}
}

// TestCheckExamples: the models shipped with the examples are what Rasa 3 loads.
func TestCheckExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*", "models", "*.tar.gz"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example models: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if layout, err := Check(bytes.NewReader(data)); err != nil || layout != Rasa3 {
			t.Errorf("%s: %q, %v", f, layout, err)
		}
	}
}

// FuzzCheck: no input panics Check, and every refusal says it is not a model.
func FuzzCheck(f *testing.F) {
	f.Add(archive(f, "metadata.json", "components/x"))
	f.Add(archive(f, "fingerprint.json", "core/"))
	f.Add([]byte("notmodel"))
	f.Add(gzipOf([]byte("x")))
	f.Fuzz(func(t *testing.T, b []byte) {
		layout, err := Check(bytes.NewReader(b))
		if (err == nil) == (layout == "") {
			t.Fatalf("layout %q with error %v", layout, err)
		}
		if err != nil && !errors.Is(err, ErrNotModel) {
			t.Fatalf("refusal not marked ErrNotModel: %v", err)
		}
	})
}

func TestRasa3Model(t *testing.T) {
	a, b := Rasa3Model("a"), Rasa3Model("b")
	if bytes.Equal(a, b) {
		t.Fatal("two ids gave the same bytes")
	}
	if layout, err := Check(bytes.NewReader(a)); err != nil || layout != Rasa3 {
		t.Fatalf("%q, %v", layout, err)
	}
}
