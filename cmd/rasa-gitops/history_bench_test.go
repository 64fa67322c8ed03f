package main

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/state"
)

// BenchmarkHistoryCommand100k is `rasa-gitops history --limit 0` (the whole audit log
// of 100,000 rows, streamed) and its --json form, as the command runs them, output
// discarded. Target: under 200 ms (issue #12).
func BenchmarkHistoryCommand100k(b *testing.B) {
	dir := b.TempDir()
	st, err := state.Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	envs := []string{"production", "worker", "experimental", "staging"}
	batch := make([]state.Entry, 1000)
	for i := 0; i < 100; i++ {
		for j := range batch {
			n := i*1000 + j
			batch[j] = state.Entry{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute), Revision: fmt.Sprintf("main@sha1:%040x", n),
				Environment: envs[n%len(envs)], Action: "recreate service:rasa-" + envs[n%len(envs)], Before: "config aaaaaaaaaaaa", After: "config bbbbbbbbbbbb", Outcome: "done"}
		}
		if err := st.Record(context.Background(), batch...); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	for _, tc := range []struct{ name string }{{"table"}, {"json"}} {
		args := []string{"history", "--state-dir", dir, "--limit", "0"}
		if tc.name == "json" {
			args = append(args, "--json")
		}
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if code := run(context.Background(), args, io.Discard, io.Discard); code != exitOK {
					b.Fatalf("exit %d", code)
				}
			}
		})
	}
}
