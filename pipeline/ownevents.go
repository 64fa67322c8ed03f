package pipeline

import (
	"slices"
	"sync"
	"time"

	"github.com/rasa-gitops/rasa-gitops/reconcile"
)

// ownEventTTL is how long a container this pipeline stops or removes is expected to
// send events: the longest stop grace period in practice, and then some.
const ownEventTTL = 2 * time.Minute

// ownEvents remembers the containers a run's plan stops or removes, so that the
// Docker events they cause (die, stop, destroy) start no heal run of their own: a
// replace made one useless run per replaced container before.
type ownEvents struct {
	mu  sync.Mutex
	ids map[string]time.Time // container ID → when its stop or removal was planned
}

// expect records the existing containers plan stops or removes.
func (o *ownEvents) expect(plan reconcile.Plan, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ids == nil {
		o.ids = map[string]time.Time{}
	}
	for id, at := range o.ids {
		if now.Sub(at) > ownEventTTL {
			delete(o.ids, id)
		}
	}
	for _, a := range plan.Actions {
		for _, s := range slices.Concat(a.Steps, a.Rollback, a.Retire) {
			if (s.Op == reconcile.OpStop || s.Op == reconcile.OpRemove) && s.Container != "" && s.Container != reconcile.SlotNew {
				o.ids[s.Container] = now
			}
		}
	}
}

// caused reports whether an event of container id (action die, stop, destroy…) comes
// from this pipeline's own stop or removal; destroy, the last event, forgets it.
func (o *ownEvents) caused(id, action string, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	at, ok := o.ids[id]
	if !ok {
		return false
	}
	if now.Sub(at) > ownEventTTL {
		delete(o.ids, id)
		return false
	}
	if action == "destroy" {
		delete(o.ids, id)
	}
	return true
}

// OwnEvent reports whether a Docker event of container id was caused by this
// pipeline's own actions (a replaced container's die and destroy), which the daemon
// then does not turn into a heal run.
func (p *Pipeline) OwnEvent(id, action string) bool {
	return p.own.caused(id, action, time.Now())
}
