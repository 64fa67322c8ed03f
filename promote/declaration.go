package promote

import (
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"gopkg.in/yaml.v3"
)

// edit checks that the model is in the catalogue and the environment exists, both at
// HEAD, and computes the environment file's new content.
func (p *promotion) edit(dir, at string) error {
	if err := p.checkModel(path.Join(dir, "models.yaml"), at); err != nil {
		return err
	}
	var err error
	if p.oldContent, err = readCommitted(p.base, p.envFile); err != nil {
		if errors.Is(err, object.ErrFileNotFound) {
			envs := committedEnvironments(p.base, path.Join(dir, "environments"))
			return fmt.Errorf("%s: no environment %q at %s (environments: %s)", p.envFile, p.env, at, list(envs))
		}
		return err
	}
	if p.newContent, p.oldModel, err = setModelLine(p.oldContent, p.model); err != nil {
		return fmt.Errorf("%s: %w", p.envFile, err)
	}
	if p.oldModel == p.model {
		return fmt.Errorf("%s: already declares model: %s at %s; nothing to promote", p.envFile, p.model, at)
	}
	return nil
}

// checkModel refuses a model that models.yaml does not declare at HEAD.
func (p *promotion) checkModel(modelsFile, at string) error {
	models, err := readCommitted(p.base, modelsFile)
	if err != nil {
		if errors.Is(err, object.ErrFileNotFound) {
			return fmt.Errorf("%s: not found at %s; is --path the declaration directory?", modelsFile, at)
		}
		return err
	}
	names, err := catalogueModels(models)
	if err != nil {
		return fmt.Errorf("%s: %w", modelsFile, err)
	}
	if !slices.Contains(names, p.model) {
		return fmt.Errorf("%s: no model %q at %s (models: %s)", modelsFile, p.model, at, list(names))
	}
	return nil
}

// declarationDir is the declaration directory as a slash path relative to the work
// tree root: rel taken relative to repo, which may be a subdirectory of root.
func declarationDir(root, repo, rel string) (string, error) {
	if filepath.IsAbs(rel) {
		return "", optionErrorf("--path %s: must be relative to --repo", rel)
	}
	root, err := realPath(root)
	if err != nil {
		return "", err
	}
	repoDir, err := realPath(repo)
	if err != nil {
		return "", err
	}
	r, err := filepath.Rel(root, filepath.Join(repoDir, rel))
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", optionErrorf("--path %s: outside the repository's work tree %s", rel, root)
	}
	return filepath.ToSlash(r), nil
}

// realPath is p absolute with its symbolic links resolved when they can be, so that
// a work tree reached through a link still contains the directories inside it.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	}
	return abs, nil
}

// readCommitted reads a regular file of the commit's tree, at most maxFile bytes.
func readCommitted(c *object.Commit, name string) ([]byte, error) {
	file, err := c.File(name)
	if err != nil {
		return nil, err
	}
	if !file.Mode.IsFile() || file.Mode == filemode.Symlink {
		return nil, fmt.Errorf("%s: not a regular file at HEAD (mode %s)", name, file.Mode)
	}
	if file.Size > maxFile {
		return nil, fmt.Errorf("%s: %d bytes, more than the limit of %d", name, file.Size, maxFile)
	}
	r, err := file.Reader()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer r.Close()
	return io.ReadAll(r)
}

// catalogueModels lists the keys of models.yaml's models: mapping, sorted.
func catalogueModels(data []byte) ([]string, error) {
	var doc struct {
		Models map[string]yaml.Node `yaml:"models"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("cannot read the model catalogue: %w", err)
	}
	names := make([]string, 0, len(doc.Models))
	for name := range doc.Models {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// committedEnvironments lists the environments of the commit's environments
// directory, for the error that names an unknown one; nil when it cannot be read.
func committedEnvironments(c *object.Commit, dir string) []string {
	tree, err := c.Tree()
	if err != nil {
		return nil
	}
	if dir != "." {
		if tree, err = tree.Tree(dir); err != nil {
			return nil
		}
	}
	var envs []string
	for _, e := range tree.Entries {
		if name, ok := strings.CutSuffix(e.Name, ".yaml"); ok && e.Mode.IsFile() {
			envs = append(envs, name)
		}
	}
	sort.Strings(envs)
	return envs
}

// list joins names for an error message, "none" when there are none.
func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
