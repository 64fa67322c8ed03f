package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/state"
)

// TestAnchorIsExportedAndRetried: each run that moved the audit chain hands its head
// to the sink; a failed hand-over is tried again after the next run even when nothing
// changed; once taken, an unchanged head is not sent again.
func TestAnchorIsExportedAndRetried(t *testing.T) {
	h := converged(t, quickstart, nil) // loads done: nothing moves the chain by itself
	var got []state.Anchor
	fail := true
	h.p.cfg.AnchorSink = func(_ context.Context, a state.Anchor) error {
		got = append(got, a)
		if fail {
			return errors.New("forge down")
		}
		return nil
	}
	h.poll()
	if len(got) != 0 {
		t.Fatalf("an unchanged head was sent: %+v", got)
	}
	if err := h.st.Record(context.Background(), state.Entry{Action: "sync requested", Outcome: "accepted"}); err != nil {
		t.Fatal(err)
	}
	h.poll()
	if len(got) != 1 || got[0].Rows == 0 {
		t.Fatalf("after a run that moved the chain the sink got %+v", got)
	}
	fail = false
	h.poll()
	if len(got) != 2 {
		t.Fatalf("the failed anchor was not tried again: %+v", got)
	}
	head, err := h.st.Head(context.Background())
	if err != nil || got[1] != (state.Anchor{Rows: head.Rows, Hash: head.Hash, Time: got[1].Time}) {
		t.Errorf("sink got %+v, the head is %+v (%v)", got[1], head, err)
	}
	h.poll()
	if len(got) != 2 {
		t.Errorf("an unchanged, exported head was sent again: %+v", got)
	}
}
