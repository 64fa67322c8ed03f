package pipeline

import (
	"testing"
	"time"
)

// TestModelWaitIsNotSilent: while a run waits for a model load (apply), it says every
// few seconds which environment waits for which model and for how long; once the
// load ends it says nothing more.
func TestModelWaitIsNotSilent(t *testing.T) {
	h := converged(t, quickstart, nil)
	type line struct {
		env, model string
		waited     time.Duration
	}
	lines := make(chan line, 100)
	h.p.cfg.ModelWaitEvery = 10 * time.Millisecond
	h.p.cfg.ModelWaiting = func(env, model string, waited time.Duration) { lines <- line{env, model, waited} }
	release := make(chan struct{})
	h.mu.Lock()
	h.hold = release
	h.mu.Unlock()
	h.files["environments/production.yaml"] = "model: moodbot-v2\n"
	h.commit()
	done := make(chan Report, 1)
	go func() { done <- h.run(Request{Fetch: true, WaitModels: true}) }()
	select {
	case l := <-lines:
		if l.env != "production" || l.model != "moodbot-v2" || l.waited <= 0 {
			t.Errorf("waiting line %+v", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no waiting line while the load was held")
	}
	close(release)
	rep := <-done
	if err := rep.ModelsErr(); err != nil {
		t.Fatalf("the load failed: %v", err)
	}
	for len(lines) > 0 { // lines sent before the load ended
		<-lines
	}
	h.poll()
	if len(lines) != 0 {
		t.Errorf("waiting lines after the wait ended: %d", len(lines))
	}
}
