package pipeline

import "testing"

// TestEveryModelLoadIsAudited: each model a Rasa server is first seen serving has one
// "load model" row, whether its load ended before or after the run was recorded (a
// load that beat the run's record used to leave no row). Repeated, since the order is
// a race by design.
func TestEveryModelLoadIsAudited(t *testing.T) {
	for i := 0; i < 10; i++ {
		h := converged(t, quickstart, nil)
		h.files["environments/production.yaml"] = "model: moodbot-v2\n"
		h.commit()
		h.poll()
		h.waitLoaded("production")
		rows := h.audit("load model")
		// experimental and production loaded at the first converge, production again now.
		want := map[string]int{"experimental moodbot-v2.tar.gz": 1, "production moodbot-v1.tar.gz": 1, "production moodbot-v2.tar.gz": 1}
		got := map[string]int{}
		for _, r := range rows {
			got[r.Environment+" "+r.After]++
		}
		if len(got) != len(want) || got["production moodbot-v2.tar.gz"] != 1 || got["production moodbot-v1.tar.gz"] != 1 || got["experimental moodbot-v2.tar.gz"] != 1 {
			t.Fatalf("round %d: load rows %v, want %v", i, got, want)
		}
	}
}
