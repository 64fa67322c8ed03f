package compose

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestHashesGolden pins the config hash of every service, network and volume of the
// examples. A change of compose-go, of the Docker client or of the hash code that
// moves a hash would recreate every container on every host: it fails here until the
// goldens are regenerated with -update, which a commit must explain.
func TestHashesGolden(t *testing.T) {
	for _, example := range []string{"quickstart", "rasa-x"} {
		t.Run(example, func(t *testing.T) {
			d, r := renderForTest(t, filepath.Join("..", "examples", example), nil)
			var b strings.Builder
			for _, name := range sortedNames(r.Project.Services) {
				digests, err := r.MountDigests(name)
				if err != nil {
					t.Fatal(err)
				}
				hash, err := ConfigHash(r.Project.Services[name], HashInputs{MountDigests: digests, ImageID: "sha256:" + strings.Repeat("0", 64), RepoRoot: r.Dir})
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "service %s %s\n", name, hash)
			}
			for _, name := range sortedNames(r.Project.Networks) {
				hash, err := NetworkHash(r.Project.Networks[name])
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "network %s %s\n", name, hash)
			}
			for _, name := range sortedNames(r.Project.Volumes) {
				hash, err := VolumeHash(r.Project.Volumes[name])
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "volume %s %s\n", name, hash)
			}
			golden(t, filepath.Join("testdata", "golden", example, "hashes.txt"), portable(d, []byte(b.String())))
		})
	}
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
