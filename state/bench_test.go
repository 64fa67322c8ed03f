package state

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkRecordRun is what a reconcile adds to record itself: one decision row and
// the status of 3 environments, in one transaction (target: under 2 ms).
func BenchmarkRecordRun(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Record(ctx, entries(1000)...); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	var statuses []EnvStatus
	for _, env := range []string{"production", "worker", "experimental"} {
		statuses = append(statuses, Next(EnvStatus{Name: env, Project: "bench"}, Outcome{Revision: "r", Decision: DecisionApplied, Observed: &Observation{At: now, Container: "running", Asked: true}}, now))
	}
	b.ResetTimer()
	for b.Loop() {
		if err := s.Commit(ctx, statuses, []Entry{{Revision: "main@sha1:abc", Action: "plan", After: "0 actions", Outcome: "decided"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHistory100k reads the audit log of 100,000 rows as `history` does
// (target: under 200 ms).
func BenchmarkHistory100k(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	seed100k(b, s)
	for _, f := range []struct {
		name   string
		filter Filter
		want   int
	}{
		{"cli-default", Filter{Limit: 100}, 100},
		{"all", Filter{}, 100000},
		{"env", Filter{Environment: "production"}, 25000},
		{"env-since-limit", Filter{Environment: "production", Since: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Limit: 100}, 100},
	} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				rows, err := s.History(ctx, f.filter)
				if err != nil || len(rows) != f.want {
					b.Fatalf("%d rows, %v", len(rows), err)
				}
			}
		})
	}
	b.Run("all-stream", func(b *testing.B) {
		for b.Loop() {
			n := 0
			err := s.EachHistory(ctx, Filter{}, func(Row) error { n++; return nil })
			if err != nil || n != 100000 {
				b.Fatalf("%d rows, %v", n, err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if n, broken, err := s.Verify(ctx); err != nil || broken != nil || n != 100000 {
				b.Fatalf("%d %v %v", n, broken, err)
			}
		}
	})
}

// seed100k appends 100,000 audit rows to s, 1,000 per transaction.
func seed100k(b *testing.B, s *Store) {
	ctx := context.Background()
	batch := make([]Entry, 1000)
	envs := []string{"production", "worker", "experimental", "staging"}
	for i := 0; i < 100; i++ {
		for j := range batch {
			n := i*1000 + j
			batch[j] = Entry{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute), Revision: fmt.Sprintf("main@sha1:%040x", n),
				Environment: envs[n%len(envs)], Action: "recreate service:rasa-" + envs[n%len(envs)], Before: "config aaaaaaaaaaaa", After: "config bbbbbbbbbbbb", Outcome: "done"}
		}
		if err := s.Record(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenWriter100k opens the state of a host whose audit log has 100,000 rows,
// as every apply does: "open" is what the caller waits for before it can render and
// observe; "open-checked" until the integrity check of the whole file (which every
// write and every change to the host wait for) has passed too.
func BenchmarkOpenWriter100k(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	seed100k(b, s)
	s.Close()
	for _, checked := range []bool{false, true} {
		name := "open"
		if checked {
			name = "open-checked"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				s, err := Open(context.Background(), dir)
				if err != nil {
					b.Fatal(err)
				}
				if checked {
					if err := s.Checked(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
		})
	}
}
