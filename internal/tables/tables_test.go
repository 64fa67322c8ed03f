package tables

import (
	"strings"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/state"
)

func TestStatusShowsWhatNeedsAttention(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var b strings.Builder
	Status(&b, []state.EnvStatus{{
		Name: "production", Sync: "OutOfSync", Health: "Healthy", DesiredModel: "m2", ObservedModel: "m1.tar.gz",
		LastApplied: "main@sha1:0123456789abcdef0123", LastAttempted: "main@sha1:fedcba9876543210fedc",
		SyncReason: "refused: unsigned\nmore detail", Since: now.Add(-90 * time.Second),
	}}, now)
	out := b.String()
	for _, want := range []string{"m2 / m1", "main@sha1:0123456789ab", "attempted main@sha1:fedcba987654", "OutOfSync: refused: unsigned", "(1m30s ago)", "never"} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "more detail") {
		t.Errorf("status table shows more than a reason's first line:\n%s", out)
	}
}

func TestHistoryShowsChangeAndError(t *testing.T) {
	var b strings.Builder
	err := History(&b, []state.Row{{ID: 7, Entry: state.Entry{Action: "retag model", After: "v2", Outcome: "failed", Error: "boom\ntrace"}}})
	out := b.String()
	if err != nil || !strings.Contains(out, "(none) → v2") || !strings.Contains(out, "error: boom") || strings.Contains(out, "trace") {
		t.Errorf("history table (%v):\n%s", err, out)
	}
	if !strings.Contains(out, "  -  ") {
		t.Errorf("an empty environment is not shown as -:\n%s", out)
	}
}

func TestStatusNotesDoNotWidenTheTable(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var b strings.Builder
	Status(&b, []state.EnvStatus{
		{Name: "experimental", Sync: state.Failed, SyncReason: "model moodbot-v2 failed to load: the archive has no metadata.json; still serving moodbot-v1", Health: state.Degraded, HealthReason: "serves moodbot-v1, not moodbot-v2"},
		{Name: "production", Sync: state.Synced, Health: state.Healthy},
	}, now)
	lines := strings.Split(b.String(), "\n")
	header, exp, prod := lines[0], lines[1], lines[4]
	if !strings.HasPrefix(prod, "production") || strings.Index(header, "SYNC") != strings.Index(prod, "Synced") || strings.Index(header, "SYNC") != strings.Index(exp, "Failed") {
		t.Errorf("columns do not line up:\n%s", b.String())
	}
	if strings.Index(header, "SYNC") > len("experimental")+4 {
		t.Errorf("a note widened the first column:\n%s", b.String())
	}
}
