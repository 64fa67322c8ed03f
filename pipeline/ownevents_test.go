package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// TestOwnEventsAreRecognised: the die, stop and destroy events of a container the
// pipeline replaced are its own (the daemon starts no heal run for them); a container
// killed by someone else is not.
func TestOwnEventsAreRecognised(t *testing.T) {
	h := converged(t, quickstart, nil)
	old := h.containerID("production")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, errs := h.engine.Events(ctx, events.ListOptions{Filters: filters.NewArgs(filters.Arg("type", "container"))})
	h.files["environments/production.yaml"] = "model: moodbot-v1\nservice:\n  environment: {CHANGED: \"1\"}\n"
	h.commit()
	if rep := h.poll(); rep.Result.Err() != nil || h.containerID("production") == old {
		t.Fatalf("the change did not replace production: %v", rep.Result.Err())
	}
	seen := map[string]bool{}
	for !seen["destroy"] {
		select {
		case m := <-msgs:
			if m.Actor.ID != old {
				continue
			}
			seen[string(m.Action)] = true
			if !h.p.OwnEvent(m.Actor.ID, string(m.Action)) {
				t.Errorf("%s of the replaced container is not recognised as the pipeline's own", m.Action)
			}
		case err := <-errs:
			t.Fatalf("event stream: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no destroy event of the replaced container; saw %v", seen)
		}
	}
	if !seen["die"] {
		t.Errorf("the replaced container sent no die event: %v", seen)
	}
	current := h.containerID("production")
	if err := h.engine.Kill(current, 137); err != nil {
		t.Fatal(err)
	}
	if h.p.OwnEvent(current, "die") {
		t.Error("a container killed from outside was taken for the pipeline's own action")
	}
	if h.p.OwnEvent(old, "die") {
		t.Error("the replaced container is still expected after its destroy event")
	}
}
