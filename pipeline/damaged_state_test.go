package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/state"
)

// damageState closes the harness's state, scribbles over pages of its file past the
// header (as a failing disk would), opens it again and gives the harness a pipeline on
// it. Open no longer reads the whole file; its background integrity check finds it.
func (h *harness) damageState() {
	h.t.Helper()
	ctx := context.Background()
	for i := 0; i < 4; i++ { // enough rows for the file to have pages to damage
		rows := make([]state.Entry, 100)
		for j := range rows {
			rows[j] = state.Entry{Action: "padding", After: strings.Repeat(fmt.Sprint(j), 40), Outcome: "done"}
		}
		if err := h.st.Record(ctx, rows...); err != nil {
			h.t.Fatal(err)
		}
	}
	h.p.Close()
	if err := h.st.Close(); err != nil { // the last connection checkpoints the WAL
		h.t.Fatal(err)
	}
	path := filepath.Join(h.dir, state.FileName)
	data, err := os.ReadFile(path)
	if err != nil || len(data) < 4096*3 {
		h.t.Fatalf("state file: %d bytes, %v", len(data), err)
	}
	for i := 4096 + 100; i < 4096*3; i++ {
		data[i] = 0xA5
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		h.t.Fatal(err)
	}
	if h.st, err = state.Open(ctx, h.dir); err != nil {
		h.t.Fatalf("open: %v (the damage is for the background check to find)", err)
	}
	h.p = New(h.config(h.pol, h.dir))
	h.t.Cleanup(h.p.Close)
}

// A state file found damaged after it was opened stops the run before it changes
// anything on the host: no container replaced, no model retagged or loaded, since
// none of it could be recorded. (Before the check ran in the background, Open refused
// the file and no run began.)
func TestDamagedStateStopsTheRunBeforeAnyChange(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.damageState()
	id := h.containerID("production")
	tags := h.tags.FileDigest()
	puts := map[string]int{}
	for env, f := range h.rasa {
		puts[env], _ = f.counts()
	}
	h.clock = h.clock.Add(time.Minute)
	h.files["environments/production.yaml"] = "model: moodbot-v2\nservice:\n  environment: {CHANGED: \"1\"}\n"
	h.files["environments/worker.yaml"] = "model: moodbot-v2\n"
	h.commit()
	rep := h.poll()
	err := rep.Err
	if err == nil {
		err = rep.RecordErr
	}
	if err == nil || !strings.Contains(err.Error(), filepath.Join(h.dir, state.FileName)) || !strings.Contains(err.Error(), "restore it from a backup") {
		t.Fatalf("the run did not stop on the damaged state file: err %v, record %v", rep.Err, rep.RecordErr)
	}
	if got := h.containerID("production"); got != id {
		t.Errorf("production's container was replaced (%s → %s) though nothing could be recorded", id, got)
	}
	if h.tags.FileDigest() != tags {
		t.Error("the tag table changed though nothing could be recorded")
	}
	for env, f := range h.rasa {
		if n, _ := f.counts(); n != puts[env] {
			t.Errorf("%s's server was sent %d model loads though nothing could be recorded", env, n-puts[env])
		}
	}
}

// A promotion alone changes no container, so no apply intent is written first: the
// run itself waits for the check before the model stage.
func TestDamagedStateStopsAPromotionBeforeTheRetag(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.damageState()
	tags := h.tags.FileDigest()
	h.files["environments/worker.yaml"] = "model: moodbot-v2\n"
	h.commit()
	rep := h.poll()
	if !rep.Plan.Empty() {
		t.Fatalf("a promotion planned container work:\n%s", rep.Plan)
	}
	if rep.RecordErr == nil || !strings.Contains(rep.RecordErr.Error(), "restore it from a backup") {
		t.Fatalf("the promotion did not stop on the damaged state file: err %v, record %v", rep.Err, rep.RecordErr)
	}
	if h.tags.FileDigest() != tags {
		t.Error("the tag table changed though nothing could be recorded")
	}
}

// down records every environment as Missing after it: on a damaged state file it
// removes nothing.
func TestDamagedStateStopsDownBeforeItRemovesAnything(t *testing.T) {
	h := converged(t, quickstart, nil)
	h.damageState()
	id := h.containerID("production")
	_, err := Down(context.Background(), h.engine, h.st, h.project, false, nil)
	if err == nil || !strings.Contains(err.Error(), "restore it from a backup") {
		t.Fatalf("down on a damaged state file: %v", err)
	}
	if got := h.containerID("production"); got != id {
		t.Errorf("down removed production's container (%q → %q) though it could not record it", id, got)
	}
}
