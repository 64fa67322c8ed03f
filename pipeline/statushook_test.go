package pipeline

import (
	"sync"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/state"
)

// TestStatusHookAfterRunAndLoad: the hook (the commit-status notifier) gets every
// environment's status after a run, with a held load still loading, and again once
// that load is recorded, serving the new model.
func TestStatusHookAfterRunAndLoad(t *testing.T) {
	h := converged(t, quickstart, nil)
	var mu sync.Mutex
	var calls []map[string]state.EnvStatus
	h.p.cfg.StatusHook = func(rows []state.EnvStatus) {
		m := map[string]state.EnvStatus{}
		for _, r := range rows {
			m[r.Name] = r
		}
		mu.Lock()
		calls = append(calls, m)
		mu.Unlock()
	}
	last := func() (int, map[string]state.EnvStatus) {
		mu.Lock()
		defer mu.Unlock()
		return len(calls), calls[len(calls)-1]
	}
	release := make(chan struct{})
	h.mu.Lock()
	h.hold = release
	h.mu.Unlock()
	h.files["environments/production.yaml"] = "model: moodbot-v2\n"
	h.commit()
	h.poll()
	n, after := last()
	if p := after["production"]; n != 1 || p.Sync != state.OutOfSync || p.SyncReason != "loading moodbot-v2" || len(after) != 3 {
		t.Errorf("after the run: %d calls, production %s %q, %d environments", n, p.Sync, p.SyncReason, len(after))
	}
	close(release)
	h.waitLoaded("production")
	n, loaded := last()
	if p := loaded["production"]; n != 2 || p.Sync != state.Synced || p.DesiredModel != "moodbot-v2" {
		t.Errorf("after the load: %d calls, production %s %s", n, p.Sync, p.DesiredModel)
	}
}
