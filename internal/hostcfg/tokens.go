package hostcfg

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/atomicfile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// TokenStore finds the host's secrets: from the environment when the operator set
// them, else generated once and kept (mode 0600) in the state directory, so that
// renders are stable across restarts.
type TokenStore struct {
	// Dir is the state directory; generated tokens live in Dir/secrets.
	Dir string
	// Env is the environment (Config.Environment) the operator's tokens come from.
	Env map[string]string
	// ModelTokenFile is --model-token-file (wins over the environment's file).
	ModelTokenFile string
}

// Tokens is the token store of this host for the environment env.
func (c Config) Tokens(env map[string]string) TokenStore {
	return TokenStore{Dir: c.StateDir, Env: env, ModelTokenFile: c.ModelTokenFile}
}

// ModelToken is the model server's token: $RASA_GITOPS_MODEL_TOKEN, else the file named
// by --model-token-file or $RASA_GITOPS_MODEL_TOKEN_FILE, else <state>/secrets/model-token.
func (t TokenStore) ModelToken() (string, error) {
	if v := t.Env["RASA_GITOPS_MODEL_TOKEN"]; v != "" {
		return v, nil
	}
	f := t.ModelTokenFile
	if f == "" {
		f = t.Env["RASA_GITOPS_MODEL_TOKEN_FILE"]
	}
	if f == "" {
		return t.generated("model-token")
	}
	data, err := os.ReadFile(f)
	if err != nil {
		return "", fmt.Errorf("read model token file: %w", err)
	}
	if v := strings.TrimSpace(string(data)); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("model token file %s is empty", f)
}

// APIToken is the bearer token of the HTTP API (model upload, and the daemon's API):
// $RASA_GITOPS_API_TOKEN, else <state>/secrets/api-token.
func (t TokenStore) APIToken() (string, error) {
	if v := t.Env["RASA_GITOPS_API_TOKEN"]; v != "" {
		return v, nil
	}
	return t.generated("api-token")
}

// RasaToken is the default Rasa auth token: $RASA_TOKEN, else <state>/secrets/rasa-token.
func (t TokenStore) RasaToken() (string, error) {
	if v := t.Env["RASA_TOKEN"]; v != "" {
		return v, nil
	}
	return t.generated("rasa-token")
}

// generated reads <state>/secrets/NAME, creating it with a random token the first
// time: a token that changed at every start would restart every container.
func (t TokenStore) generated(name string) (string, error) {
	path := filepath.Join(t.Dir, "secrets", name)
	data, err := os.ReadFile(path)
	if v := strings.TrimSpace(string(data)); err == nil && v != "" {
		return v, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate %s: %w", name, err)
	}
	token := hex.EncodeToString(buf)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("store %s: %w", name, err)
	}
	if err := atomicfile.Write(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store %s: %w", name, err)
	}
	return token, nil
}

// ReadSecretFile reads a token file, trimmed; an empty path gives "" (the flag was not
// given), while an empty file is an error: it is a mistake, never meant as "no token".
// what names the secret in errors.
func ReadSecretFile(path, what string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("%s file %s is empty", what, path)
	}
	return v, nil
}

// ClientToken is the API token a client command (status --server, sync) sends:
// tokenFile, else $RASA_GITOPS_API_TOKEN, else the token a daemon generated into
// stateDir when the command runs beside it. "" means none was found.
func ClientToken(stateDir, tokenFile string) (string, error) {
	token, err := ReadSecretFile(tokenFile, "API token")
	if err != nil || token != "" {
		return token, err
	}
	if token = os.Getenv("RASA_GITOPS_API_TOKEN"); token != "" {
		return token, nil
	}
	token, _ = ReadSecretFile(stateDir+"/secrets/api-token", "API token")
	return token, nil
}

// SecretValues are the values the daemon treats as secret before any revision is
// read: every value of the env file, and process variables whose names say they are
// secret (TOKEN, SECRET, PASSWORD, PASS, KEY, CREDENTIAL). Values shorter than 6
// characters are left out: masking them would mangle ordinary words in the logs.
func SecretValues(env map[string]string, envFile string) []string {
	fromFile := map[string]bool{}
	if envFile != "" {
		if extra, err := compose.ReadEnvFile(envFile); err == nil {
			for k := range extra {
				fromFile[k] = true
			}
		}
	}
	var out []string
	for k, v := range env {
		if (fromFile[k] || secretName(k)) && len(v) >= 6 {
			out = append(out, v)
		}
	}
	return out
}

// secretName says whether a variable's name says its value is secret.
func secretName(name string) bool {
	upper := strings.ToUpper(name)
	for _, word := range []string{"TOKEN", "SECRET", "PASSWORD", "PASS", "KEY", "CREDENTIAL"} {
		if strings.Contains(upper, word) {
			return true
		}
	}
	return false
}

// Secrets are the daemon's API token, its webhook secret, and the values treated as
// secret in logs and the state.
type Secrets struct {
	API, Webhook string
	Values       []string
}

// DaemonSecrets reads the daemon's secrets and registers every one with m, so that no
// log line or audit row carries one. A given API token file replaces the model side's
// generated upload token, so that the API and the model upload take one token.
func (c Config) DaemonSecrets(side *Side, m *state.Masker, apiTokenFile, webhookFile string) (Secrets, error) {
	var s Secrets
	env, err := c.Environment()
	if err != nil {
		return s, err
	}
	s.Values = SecretValues(env, c.EnvFile)
	if s.API, err = ReadSecretFile(apiTokenFile, "API token"); err != nil {
		return s, err
	}
	if s.API != "" {
		side.Handler.UploadToken = s.API
	} else {
		s.API = side.Handler.UploadToken
	}
	if s.Webhook, err = ReadSecretFile(webhookFile, "webhook secret"); err != nil {
		return s, err
	}
	m.Add(s.Values...)
	m.Add(s.API, s.Webhook, side.Handler.Token)
	return s, nil
}
