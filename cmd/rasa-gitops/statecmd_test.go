package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/rasa-gitops/rasa-gitops/state"
)

func TestAuditVerifyAndHistoryCommands(t *testing.T) {
	dir := t.TempDir()
	st, err := state.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, env := range []string{"production", "worker", "production"} {
		if err := st.Record(context.Background(), state.Entry{Revision: "main@sha1:" + strings.Repeat(string(rune('a'+i)), 7), Environment: env, Action: "retag model", Before: "v1", After: "v2", Outcome: "model-synced"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	code, out, _ := runCLI(t, "audit", "verify", "--state-dir", dir)
	if code != exitOK || !strings.Contains(out, "3 rows, chain intact") {
		t.Fatalf("verify: exit %d %q", code, out)
	}
	code, out, _ = runCLI(t, "history", "--state-dir", dir, "--env", "production", "--json")
	var rows []state.Row
	if code != exitOK || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 2 || rows[0].ID != 3 {
		t.Fatalf("history --env production --json: exit %d %s", code, out)
	}
	code, out, _ = runCLI(t, "audit", "export", "--jsonl", "--state-dir", dir)
	if code != exitOK || strings.Count(out, "\n") != 3 || !strings.Contains(out, `"hash":"`) {
		t.Fatalf("export: exit %d %s", code, out)
	}
	if code, _, _ := runCLI(t, "history", "--state-dir", dir, "--since", "yesterday"); code != exitUsage {
		t.Errorf("a bad --since: exit %d", code)
	}

	// Edit row 2 behind the daemon's back: verify fails there.
	db, err := sql.Open("sqlite", filepath.Join(dir, state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE audit SET after = 'v3' WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "audit", "verify", "--state-dir", dir)
	if code != exitError || !strings.Contains(errOut, "broken at audit row 2: its content was edited") {
		t.Errorf("verify after an edit: exit %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "status", "--state-dir", t.TempDir()); code != exitError || !strings.Contains(errOut, "no state") {
		t.Errorf("status without state: exit %d %s", code, errOut)
	}
}
