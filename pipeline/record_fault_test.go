package pipeline

import (
	"database/sql"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// failAuditWrites makes the state database refuse audit rows of one action, as a
// full or broken disk would, through a trigger added by a second connection.
func failAuditWrites(t *testing.T, h *harness, action string) {
	t.Helper()
	db, err := sql.Open("sqlite", h.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit WHEN NEW.action = '` + action + `' BEGIN SELECT RAISE(FAIL, 'the disk says no'); END`); err != nil {
		t.Fatal(err)
	}
}

// TestRefusalThatCannotBeRecordedIsReported: a refused first revision whose audit row
// cannot be written reports the write failure (it used to be dropped with _ =).
func TestRefusalThatCannotBeRecordedIsReported(t *testing.T) {
	h := newHarness(t, map[string]string{"production": "model: nope\n"}, nil)
	failAuditWrites(t, h, "validate")
	rep := h.poll()
	if rep.Outcome != OutcomeRefused {
		t.Fatalf("outcome %s", rep.Outcome)
	}
	if rep.RecordErr == nil || !strings.Contains(rep.RecordErr.Error(), "the disk says no") {
		t.Errorf("RecordErr = %v, want the failed audit write", rep.RecordErr)
	}
}

// TestModelLoadThatCannotBeRecordedMakesTheDaemonUnready: a model load whose audit
// row cannot be written leaves the pipeline not ready, saying why, whether the load
// or the run (when the load ended first) tried to write it.
func TestModelLoadThatCannotBeRecordedMakesTheDaemonUnready(t *testing.T) {
	h := converged(t, quickstart, nil)
	failAuditWrites(t, h, "load model")
	h.files["environments/production.yaml"] = "model: moodbot-v2\n"
	h.commit()
	h.poll()
	h.waitLoaded("production")
	ok, reason := h.p.Ready()
	if ok || !strings.HasPrefix(reason, "cannot record the") || !strings.Contains(reason, "the disk says no") {
		t.Errorf("ready %v %q, want not ready naming the failed write", ok, reason)
	}
}
