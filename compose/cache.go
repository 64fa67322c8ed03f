package compose

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Fingerprint hashes everything Load and Render read, so that a render can be reused
// while none of it changed: every file under the repository (names, modes, contents,
// symlink targets; .git excluded), the variables of the interpolation environment
// that a file of the repository names (scanNames), the render options and the build
// of rasa-gitops. It reads the files but parses nothing, which makes a no-op `apply`
// cost a hash instead of a compose-go load.
func Fingerprint(dir string, env map[string]string, opts RenderOptions, build string) (string, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "rasa-gitops %s format %d\x00", build, FormatVersion)
	fmt.Fprintf(h, "%q %q %q\x00", opts.ModelToken, opts.DefaultToken, opts.GeneratedDir)
	scan := newNameScan(env)
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
			if err := scan.hashFile(h, p, info.Size()); err != nil {
				return err
			}
		}
		h.Write([]byte{0})
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", dir, err)
	}
	for _, k := range scan.named() {
		fmt.Fprintf(h, "%q=%q\x00", k, env[k])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// maxNameScan is the largest file scanned for variable names; a larger one that is
// not gzip'd (a model) makes every variable count, as if it named them all.
const maxNameScan = 16 << 20

// nameScan finds which variables the repository's files name. Only a variable whose
// name appears in some file can reach a render — in ${NAME} or $NAME, as a bare
// environment entry, in an env_file — so the others (the shell's PWD, _ or SHLVL) do
// not change the fingerprint, and a no-op apply from another shell still reuses the
// last render. Variables compose-go may read by convention (COMPOSE_*) always count.
type nameScan struct {
	pending map[string]bool
	found   []string
	all     bool
}

func newNameScan(env map[string]string) *nameScan {
	s := &nameScan{pending: map[string]bool{}}
	for k := range env {
		if strings.HasPrefix(k, "COMPOSE_") {
			s.found = append(s.found, k)
		} else if k != "" {
			s.pending[k] = true
		}
	}
	return s
}

// hashFile writes a file's content to h and looks for the pending names in it.
func (s *nameScan) hashFile(h io.Writer, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if size > maxNameScan {
		head := make([]byte, 2)
		n, _ := io.ReadFull(f, head)
		h.Write(head[:n])
		if n < 2 || head[0] != 0x1f || head[1] != 0x8b {
			s.all = true
		}
		_, err = io.Copy(h, f)
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	h.Write(data)
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		return nil // gzip: a model, which names no variable
	}
	for k := range s.pending {
		if bytes.Contains(data, []byte(k)) {
			s.found = append(s.found, k)
			delete(s.pending, k)
		}
	}
	return nil
}

// named are the variables that count, sorted.
func (s *nameScan) named() []string {
	out := slices.Clone(s.found)
	if s.all {
		out = append(out, slices.Collect(maps.Keys(s.pending))...)
	}
	slices.Sort(out)
	return out
}
