package pipeline

import (
	"testing"
)

// ModelsSettled comes once a run, when its model stage is over: the promoted model
// is already served, and the run has not recorded it yet (a one-shot apply stops its
// model server then, while the rest of the run goes on).
func TestModelsSettledAfterTheModelStageBeforeTheRecord(t *testing.T) {
	h := converged(t, quickstart, nil)
	type seen struct{ served, recorded string }
	calls := make(chan seen, 10)
	cfg := h.config(h.pol, h.dir)
	cfg.ModelsSettled = func() {
		calls <- seen{served: h.rasa["production"].served(), recorded: h.status("production").ObservedModel}
	}
	h.p.Close()
	h.p = New(cfg)
	t.Cleanup(h.p.Close)
	h.files["environments/production.yaml"] = "model: moodbot-v2\n"
	h.commit()
	rep := h.run(Request{Fetch: true, WaitModels: true})
	if rep.Outcome != OutcomeApplied {
		t.Fatalf("promotion: %s (%v, %v)", rep.Outcome, rep.Err, rep.ModelsErr())
	}
	got := <-calls
	if got.served != "moodbot-v2.tar.gz" {
		t.Errorf("ModelsSettled came before the load: production served %q", got.served)
	}
	if got.recorded != "moodbot-v1.tar.gz" {
		t.Errorf("ModelsSettled came after the record: production's status already says %q", got.recorded)
	}
	if h.run(Request{Fetch: true, DryRun: true}); len(calls) != 0 {
		t.Errorf("ModelsSettled came %d more times (once a run, none for a dry run)", len(calls))
	}
}
