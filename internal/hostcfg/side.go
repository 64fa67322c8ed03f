package hostcfg

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
)

// Side holds what the model side of a run needs: the store, the tag table, what each
// Rasa server was last seen serving, and the handler that serves them. apply, serve
// and the daemon share it so that the pipeline and the HTTP server see one tag table.
type Side struct {
	Store    *modelserver.Store
	Tags     *modelserver.Tags
	Observed *modelserver.Observed
	Handler  *modelserver.Handler
}

// OpenSide opens the model store and tag table of stateDir, served with modelToken
// (what Rasa sends) and accepting uploads with apiToken.
func OpenSide(stateDir, modelToken, apiToken string) (*Side, error) {
	store, err := modelserver.NewStore(stateDir)
	if err != nil {
		return nil, err
	}
	tags, err := modelserver.OpenTags(stateDir)
	if err != nil {
		return nil, err
	}
	obs := modelserver.NewObserved()
	return &Side{Store: store, Tags: tags, Observed: obs,
		Handler: &modelserver.Handler{Tags: tags, Store: store, Token: modelToken, UploadToken: apiToken, Observed: obs, CheckName: compose.CheckModelName}}, nil
}

// OpenSide opens the model side with the host's tokens: the same model token the
// rendered containers are given, and the API token for uploads.
func (c Config) OpenSide() (*Side, error) {
	env, err := c.Environment()
	if err != nil {
		return nil, err
	}
	tokens := c.Tokens(env)
	modelToken, err := tokens.ModelToken()
	if err != nil {
		return nil, err
	}
	apiToken, err := tokens.APIToken()
	if err != nil {
		return nil, err
	}
	return OpenSide(c.StateDir, modelToken, apiToken)
}

// Mux is the HTTP surface of serve: health, readiness (ready says whether a revision
// was applied), the model server and the upload.
func (s *Side) Mux(ready func() bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready: no revision applied yet", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	for _, p := range modelserver.Routes() {
		mux.Handle(p, s.Handler)
	}
	return mux
}

// ListenModelServer serves the model side on addr while a one-shot apply waits for
// the environments to load their models, and returns the function that stops it.
// When the address is taken (a `serve` or the daemon runs), that process serves the
// same store and tag table, and a no-op stop is returned.
func ListenModelServer(addr string, s *Side) (stop func(), err error) {
	srv, err := Serve(addr, s.Mux(func() bool { return true }))
	if errors.Is(err, syscall.EADDRINUSE) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	return func() { srv.Shutdown(5 * time.Second) }, nil
}

// PushModel puts the model archive FILE (NAME.tar.gz) into the store of stateDir
// under its name and returns the models.yaml entry to commit: the store refuses a
// model the declarations could not name.
func PushModel(stateDir, file string) (snippet string, err error) {
	store, err := modelserver.NewStore(stateDir)
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(file, ".tar.gz") {
		return "", fmt.Errorf("model push: %s is not a .tar.gz model archive", file)
	}
	name := strings.TrimSuffix(filepath.Base(file), ".tar.gz")
	if err := compose.CheckModelName(name); err != nil {
		return "", fmt.Errorf("model push: %w", err)
	}
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("model push: %w", err)
	}
	defer f.Close()
	digest, _, err := store.PutNamed(filepath.Base(file), f)
	if err != nil {
		return "", fmt.Errorf("model push: %s: %w", file, err)
	}
	return modelserver.Snippet(name, digest), nil
}
