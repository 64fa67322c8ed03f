package tables

import (
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/state"
)

func historyRows(n int) []state.Row {
	rows := make([]state.Row, n)
	for i := range rows {
		rows[i] = state.Row{ID: int64(n - i), Entry: state.Entry{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute), Revision: fmt.Sprintf("main@sha1:%040x", i),
			Environment: "production", Action: "recreate service:rasa-production", Before: "config aaaaaaaaaaaa", After: "config bbbbbbbbbbbb", Outcome: "done"}}
	}
	return rows
}

// BenchmarkHistoryTable100k formats 100,000 audit rows as the history table.
func BenchmarkHistoryTable100k(b *testing.B) {
	rows := historyRows(100000)
	for b.Loop() {
		h := NewHistoryWriter(io.Discard)
		for _, r := range rows {
			h.Row(r)
		}
		h.Flush()
	}
}

// BenchmarkHistoryJSON100k encodes 100,000 audit rows as history --json does.
func BenchmarkHistoryJSON100k(b *testing.B) {
	rows := historyRows(100000)
	for b.Loop() {
		enc := json.NewEncoder(io.Discard)
		for _, r := range rows {
			enc.Encode(r)
		}
	}
}
