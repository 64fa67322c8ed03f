package hostcfg

import (
	"context"
	"fmt"
	"os"

	"github.com/docker/docker/client"

	"github.com/rasa-gitops/rasa-gitops/pipeline"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// DefaultStateDir is $RASA_GITOPS_STATE_DIR, else /var/lib/rasa-gitops for root (a
// system service), else ./.rasa-gitops (someone trying it out in a checkout).
func DefaultStateDir() string {
	if d := os.Getenv("RASA_GITOPS_STATE_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/rasa-gitops"
	}
	return ".rasa-gitops"
}

// ConnectEngine connects to the local Docker Engine (DOCKER_HOST) and settles the API
// version with it before returning. Left to itself the client negotiates on its first
// request, without a lock, so two first requests made at once (Observe lists
// containers, networks and volumes concurrently) race on the version; an Engine that
// does not answer the ping here is negotiated with on first use, as before.
func ConnectEngine(ctx context.Context) (*client.Client, error) {
	engine, err := reconcile.NewClient()
	if err != nil {
		return nil, fmt.Errorf("connect to the Docker Engine: %w", err)
	}
	engine.NegotiateAPIVersion(ctx)
	return engine, nil
}

// Host is what every converging command opens: the state, the Engine and the model
// side (store, tag table, model server handler).
type Host struct {
	State  *state.Store
	Engine *client.Client
	Side   *Side
}

// OpenHost opens the state directory first (it is the lock that keeps two processes
// from converging one host; report gets the interrupted applies it finds), then the
// model side and the Engine. On an error nothing is left open.
func (c Config) OpenHost(ctx context.Context, report func(string)) (*Host, error) {
	st, err := pipeline.OpenState(ctx, c.StateDir, report)
	if err != nil {
		return nil, err
	}
	h := &Host{State: st}
	if h.Side, err = c.OpenSide(); err != nil {
		h.Close()
		return nil, err
	}
	if h.Engine, err = ConnectEngine(ctx); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Close closes the Engine connection and the state (releasing its lock).
func (h *Host) Close() {
	if h.Engine != nil {
		h.Engine.Close()
	}
	h.State.Close()
}
