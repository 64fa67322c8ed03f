package reconcile

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// BenchmarkNoopReconcile measures one in-process no-op reconcile (Observe + MakePlan)
// against the real Engine for a project of n converged stand-in environments
// (targets: 3 → under 5 ms, 50 → under 20 ms, growing linearly).
func BenchmarkNoopReconcile(b *testing.B) {
	for _, n := range []int{3, 10, 50} {
		b.Run(fmt.Sprintf("envs=%d", n), func(b *testing.B) {
			envs := map[string]string{}
			for i := 0; i < n; i++ {
				envs[fmt.Sprintf("env-%02d", i)] = ""
			}
			s := newStack(b, envs)
			s.mustConverge()
			r := s.render()
			desired, err := Prepare(context.Background(), s.cli, r, "")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				observed, err := Observe(context.Background(), s.cli, s.project)
				if err != nil {
					b.Fatal(err)
				}
				if plan := MakePlan(desired, observed, Options{Prune: true}); !plan.Empty() {
					b.Fatalf("not converged:\n%s", plan)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/reconcile")
		})
	}
}

// BenchmarkPromoteToSynced measures one promotion on 3 stand-in environments: swap the
// tag table, nudge the retagged Rasa server, and wait until every environment reports
// its declared model (target: under 1 s).
func BenchmarkPromoteToSynced(b *testing.B) {
	s := newModelStack(b, map[string]string{"production": "model: moodbot-v1\n", "experimental": "model: moodbot-v2\n", "worker": ""})
	s.mustConverge()
	if _, err := ConvergeModels(context.Background(), s.cli, s.side.store, s.side.tags, s.render(), ModelOptions{Nudge: true}); err != nil {
		b.Fatal(err)
	}
	models := []string{"moodbot-v2", "moodbot-v1"}
	renders := make([]*compose.Rendered, 2)
	for i, m := range models {
		s.files["environments/production.yaml"] = "model: " + m + "\n"
		renders[i] = s.render()
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		statuses, err := ConvergeModels(context.Background(), s.cli, s.side.store, s.side.tags, renders[i%2], ModelOptions{Nudge: true, SyncTimeout: 30 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		if err := ModelsErr(statuses); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
