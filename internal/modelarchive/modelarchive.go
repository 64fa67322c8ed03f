package modelarchive

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Layout is the model format an archive is laid out for, as Rasa loads it.
type Layout string

const (
	// Rasa3 is a Rasa 3 model: metadata.json and the trained components' directories.
	Rasa3 Layout = "Rasa 3"
	// Rasa2 is a Rasa 1 or 2 model: fingerprint.json with core/ and/or nlu/.
	Rasa2 Layout = "Rasa 1/2"
)

// ErrNotModel marks an archive that is not a model Rasa can load; the message says
// what is missing.
var ErrNotModel = errors.New("not a Rasa model archive")

// Check reads a whole archive (gzip'd tar) and returns its layout, or an error
// wrapping ErrNotModel that says what is missing: a Rasa 3 model has metadata.json at
// its root plus its components; a Rasa 1 or 2 model has fingerprint.json plus core/
// or nlu/. Entry contents are not read beyond what tar needs to skip them.
func Check(r io.Reader) (Layout, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return "", fmt.Errorf("%w: not gzip-compressed (%v); a model is the .tar.gz `rasa train` writes", ErrNotModel, err)
	}
	defer gz.Close()
	roots, err := rootEntries(tar.NewReader(gz))
	if err != nil {
		return "", err
	}
	return layoutOf(roots)
}

// rootEntries lists the top-level names of a tar stream ("core" for "./core/x.json").
func rootEntries(tr *tar.Reader) (map[string]bool, error) {
	roots := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return roots, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: not a readable tar archive inside the gzip (%v)", ErrNotModel, err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." || name == "" {
			continue
		}
		first, _, _ := strings.Cut(name, "/")
		roots[first] = true
	}
}

// layoutOf decides the layout from the archive's top-level names.
func layoutOf(roots map[string]bool) (Layout, error) {
	switch {
	case roots["metadata.json"]:
		if len(roots) < 2 {
			return "", fmt.Errorf("%w: it has metadata.json (Rasa 3) but none of the trained components' directories beside it", ErrNotModel)
		}
		return Rasa3, nil
	case roots["fingerprint.json"]:
		if !roots["core"] && !roots["nlu"] {
			return "", fmt.Errorf("%w: it has fingerprint.json (Rasa 1/2) but neither core/ nor nlu/", ErrNotModel)
		}
		return Rasa2, nil
	case len(roots) == 0:
		return "", fmt.Errorf("%w: the archive is empty", ErrNotModel)
	default:
		return "", fmt.Errorf("%w: it has neither metadata.json (Rasa 3) nor fingerprint.json (Rasa 1/2) at its root (found %s)", ErrNotModel, listRoots(roots))
	}
}

// listRoots names up to five top-level entries, sorted, for an error message.
func listRoots(roots map[string]bool) string {
	names := make([]string, 0, len(roots))
	for n := range roots {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) > 5 {
		names = names[:5]
	}
	for i, n := range names {
		names[i] = strconv.QuoteToGraphic(n)
	}
	if len(roots) > 5 {
		names = append(names, "…")
	}
	return strings.Join(names, ", ")
}
