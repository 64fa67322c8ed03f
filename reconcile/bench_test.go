package reconcile

import (
	"context"
	"fmt"
	"testing"
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
