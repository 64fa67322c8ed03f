package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Fingerprint hashes everything Load and Render read, so that a render can be reused
// while none of it changed: every file under the repository (names, modes, contents,
// symlink targets; .git excluded), the interpolation environment, the render options
// and the build of rasa-gitops. It reads the files but parses nothing, which makes a
// no-op `apply` cost a hash instead of a compose-go load.
func Fingerprint(dir string, env map[string]string, opts RenderOptions, build string) (string, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "rasa-gitops %s format %d\x00", build, FormatVersion)
	fmt.Fprintf(h, "%q %q %q\x00", opts.ModelToken, opts.DefaultToken, opts.GeneratedDir)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%q=%q\x00", k, env[k])
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s\x00%o\x00", filepath.ToSlash(rel), info.Mode())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			io.WriteString(h, target)
		case info.Mode().IsRegular():
			if err := hashFile(h, p); err != nil {
				return err
			}
		}
		h.Write([]byte{0})
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", dir, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
