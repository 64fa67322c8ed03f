package modelarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"slices"
	"strings"
)

// Build makes a gzip'd tar of files (name → content; a name ending in / is a
// directory), in name order. It gives tests and benchmarks small models that Check
// accepts: Rasa3Model wraps it.
func Build(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		h := &tar.Header{Name: n, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(files[n]))}
		if strings.HasSuffix(n, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("build model archive: %w", err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			return nil, fmt.Errorf("build model archive: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("build model archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("build model archive: %w", err)
	}
	return buf.Bytes(), nil
}

// Rasa3Model is a minimal Rasa 3 model archive whose bytes (and so digest) depend on
// id: metadata.json naming it as model_id, and one component file.
func Rasa3Model(id string) []byte {
	b, err := Build(map[string]string{
		"metadata.json":                         fmt.Sprintf("{%q: %q}\n", "model_id", id),
		"components/domain_provider/domain.yml": "version: \"3.1\"\n# " + id + "\n",
	})
	if err != nil {
		panic(err) // writing to memory cannot fail
	}
	return b
}
