package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rasa-gitops/rasa-gitops/internal/atomicfile"
)

// tokenStore finds the daemon's secrets: from the environment when the operator set
// them, else generated once and kept (mode 0600) in the state directory, so that
// renders are stable across restarts.
type tokenStore struct {
	dir string
	env map[string]string
	// modelTokenFile is --model-token-file (wins over the environment's file).
	modelTokenFile string
}

// modelToken is the model server's token: $RASA_GITOPS_MODEL_TOKEN, else the file named
// by $RASA_GITOPS_MODEL_TOKEN_FILE, else <state>/secrets/model-token.
func (t tokenStore) modelToken() (string, error) {
	if v := t.env["RASA_GITOPS_MODEL_TOKEN"]; v != "" {
		return v, nil
	}
	f := t.modelTokenFile
	if f == "" {
		f = t.env["RASA_GITOPS_MODEL_TOKEN_FILE"]
	}
	if f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("read model token file: %w", err)
		}
		if v := strings.TrimSpace(string(data)); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("model token file %s is empty", f)
	}
	return t.generated("model-token")
}

// apiToken is the bearer token of the HTTP API (model upload, and the daemon's API):
// $RASA_GITOPS_API_TOKEN, else <state>/secrets/api-token.
func (t tokenStore) apiToken() (string, error) {
	if v := t.env["RASA_GITOPS_API_TOKEN"]; v != "" {
		return v, nil
	}
	return t.generated("api-token")
}

// rasaToken is the default Rasa auth token: $RASA_TOKEN, else <state>/secrets/rasa-token.
func (t tokenStore) rasaToken() (string, error) {
	if v := t.env["RASA_TOKEN"]; v != "" {
		return v, nil
	}
	return t.generated("rasa-token")
}

func (t tokenStore) generated(name string) (string, error) {
	path := filepath.Join(t.dir, "secrets", name)
	data, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(data))) > 0 {
		return strings.TrimSpace(string(data)), nil
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
