package pipeline

import (
	"testing"
)

// A container replaced for a service change (its model unchanged) pulled its model
// when it started: the model stage sees it served and sends no load.
func TestReplacedServerServingItsModelIsNotNudged(t *testing.T) {
	h := converged(t, quickstart, nil)
	id := h.containerID("production")
	putsBefore, _ := h.rasa["production"].counts()
	h.files["environments/production.yaml"] = "model: moodbot-v1\nservice:\n  environment: {CHANGED: \"1\"}\n"
	h.commit()
	rep := h.run(Request{Fetch: true, WaitModels: true})
	if h.containerID("production") == id {
		t.Fatalf("production's container was not replaced:\n%s", rep.Plan)
	}
	if err := rep.ModelsErr(); err != nil {
		t.Fatal(err)
	}
	if puts, _ := h.rasa["production"].counts(); puts != putsBefore {
		t.Errorf("%d loads sent to a server that already served its declared model", puts-putsBefore)
	}
}

// A promotion's load starts at once: it does not wait for the other servers to say
// what they serve. Experimental's server answers GET /status only once production has
// had its PUT /model. A model stage that asked everyone before loading would see
// experimental's question time out, take it for a server that lost its model and send
// it a needless load.
func TestPromotionLoadDoesNotWaitForOtherServers(t *testing.T) {
	h := converged(t, quickstart, nil)
	gate := make(chan struct{})
	exp, prod := h.rasa["experimental"], h.rasa["production"]
	exp.mu.Lock()
	exp.gate = gate
	exp.mu.Unlock()
	prod.mu.Lock()
	prod.onPut = func() { close(gate) }
	prod.mu.Unlock()
	putsBefore, _ := exp.counts()
	h.files["environments/production.yaml"] = "model: moodbot-v2\n"
	h.commit()
	rep := h.run(Request{Fetch: true, WaitModels: true})
	if err := rep.ModelsErr(); err != nil {
		t.Fatal(err)
	}
	if puts, _ := exp.counts(); puts != putsBefore {
		t.Errorf("experimental, which serves its model, was sent %d loads", puts-putsBefore)
	}
	for _, ms := range rep.Models {
		if !ms.Synced {
			t.Errorf("%s", ms)
		}
	}
}

// The servers whose containers a run leaves alone are asked once per run, while the
// containers converge, and the model stage uses those answers.
func TestUntouchedServersAskedOncePerRun(t *testing.T) {
	h := converged(t, quickstart, nil)
	_, before := h.rasa["experimental"].counts()
	h.files["environments/production.yaml"] = "model: moodbot-v1\nservice:\n  environment: {CHANGED: \"1\"}\n"
	h.commit()
	rep := h.run(Request{Fetch: true, WaitModels: true})
	if err := rep.ModelsErr(); err != nil {
		t.Fatal(err)
	}
	if _, after := h.rasa["experimental"].counts(); after-before != 1 {
		t.Errorf("experimental's server was asked %d times in one run, want 1", after-before)
	}
}
