package hostcfg

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// Config names one host's inputs. It is a plain value built from flags, so every
// method re-reads the files it names: a long-running daemon sees an edited env file
// or token file at its next run without a restart.
type Config struct {
	// StateDir holds the state database, the secrets, the models and generated files.
	StateDir string
	// EnvFile is --env-file: KEY=VALUE lines that ${VAR} may name (empty: none).
	EnvFile string
	// ModelTokenFile is --model-token-file; it wins over the environment's file.
	ModelTokenFile string
	// ModelServerListen is --listen of the commands that serve the model server; when
	// set, a render whose modelServer.url the containers could not reach on it fails
	// (CheckModelServer) before anything is created.
	ModelServerListen string
	// Build is the rasa-gitops version; a new build changes every fingerprint, since
	// it may render differently.
	Build string
}

// Environment is the process environment merged with the env file (which wins), the
// variables ${VAR} in a declaration may name.
func (c Config) Environment() (map[string]string, error) {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	if c.EnvFile == "" {
		return env, nil
	}
	extra, err := compose.ReadEnvFile(c.EnvFile) // its errors name the file already
	if err != nil {
		return nil, err
	}
	for k, v := range extra {
		env[k] = v
	}
	return env, nil
}

// Load reads and validates the declaration directory DIR with the environment, which
// it returns too: rendering needs it for the tokens. The environment is read before DIR
// is checked, so an unreadable env file is reported first.
func (c Config) Load(dir string) (*compose.Declaration, map[string]string, error) {
	env, err := c.Environment()
	if err != nil {
		return nil, nil, err
	}
	if err := CheckDir(dir); err != nil {
		return nil, nil, err
	}
	d, err := compose.Load(dir, compose.LoadOptions{Env: env})
	return d, env, err
}

// NotDirError says a declaration directory argument is not a directory. It is a
// type so that the CLI can report it as a usage error (exit 64).
type NotDirError struct{ Dir string }

func (e *NotDirError) Error() string {
	return fmt.Sprintf("%s is not a directory: name the declaration repository (the directory holding %s)", e.Dir, compose.SettingsFile)
}

// CheckDir fails with a *NotDirError when dir is not a directory, before anything
// tries to parse files in it and reports a confusing read error instead.
func CheckDir(dir string) error {
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() {
		return &NotDirError{Dir: dir}
	}
	return nil
}

// ProjectOf reads only the project name of a declaration directory, so that `down`
// works on a repository that no longer validates (or lacks its ${VAR}s).
func ProjectOf(dir string) (string, error) {
	if err := CheckDir(dir); err != nil {
		return "", err
	}
	path := filepath.Join(dir, compose.SettingsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the project name: %w", err)
	}
	var settings struct {
		Project string `yaml:"project"`
	}
	if err := yaml.Unmarshal(data, &settings); err != nil || settings.Project == "" {
		return "", fmt.Errorf("%s has no readable 'project:'", path)
	}
	return settings.Project, nil
}
