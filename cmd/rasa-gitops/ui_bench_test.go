package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/api"
	"github.com/rasa-gitops/rasa-gitops/state"
	"github.com/rasa-gitops/rasa-gitops/ui"
)

// benchBackend is the API's backend over a state store alone.
type benchBackend struct{ st *state.Store }

func (b benchBackend) Ready() (bool, string) { return true, "" }
func (b benchBackend) Statuses(ctx context.Context) ([]state.EnvStatus, error) {
	return b.st.Statuses(ctx)
}
func (b benchBackend) History(ctx context.Context, f state.Filter) ([]state.Row, error) {
	return b.st.History(ctx, f)
}
func (b benchBackend) Sync(string, bool) {}
func (b benchBackend) Branch() string    { return "main" }

// uiBenchState is a state directory with 100 environments and 100,000 audit rows.
func uiBenchState(b *testing.B) (string, *state.Store) {
	dir := b.TempDir()
	st, err := state.Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	var sts []state.EnvStatus
	for i := range 100 {
		rev := fmt.Sprintf("main@sha1:%040x", i)
		sts = append(sts, state.EnvStatus{Name: fmt.Sprintf("env-%03d", i), Project: "bench", LastAttempted: rev, LastApplied: rev, Sync: state.Synced, Health: state.Healthy,
			DesiredModel: "moodbot-v1", DesiredDigest: strings.Repeat("e4", 32), ObservedModel: "moodbot-v1.tar.gz", ObservedDigest: strings.Repeat("e4", 32), Since: now, ObservedAt: now})
	}
	batch := make([]state.Entry, 1000)
	for i := range 100 {
		for j := range batch {
			n := i*1000 + j
			env := sts[n%100].Name
			batch[j] = state.Entry{Time: now.Add(time.Duration(n-100000) * time.Minute), Revision: fmt.Sprintf("main@sha1:%040x", n%100), Author: "Dev <dev@example.com>",
				Environment: env, Action: "recreate service:rasa-" + env, Before: "config aaaaaaaaaaaa", After: "config bbbbbbbbbbbb", Outcome: "done"}
		}
		if err := st.Record(context.Background(), batch...); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Commit(context.Background(), sts, nil); err != nil {
		b.Fatal(err)
	}
	return dir, st
}

// BenchmarkStatusPage is the status page's server-side cost (issue #14): the
// environments view of 100 environments and the first history page of a 100,000-row
// audit log, rendered by the page's handler, side by side with the same data as JSON
// from the API (same process, open store) and from `status --json` and `history --json
// --limit 50` (the commands as they run, opening the state each time).
func BenchmarkStatusPage(b *testing.B) {
	dir, st := uiBenchState(b)
	const token = "bench-token"
	page := ui.New(ui.Config{State: st, Token: token, RepoURL: "https://github.com/acme/assistants.git"})
	apiH := api.New(api.Config{Backend: benchBackend{st}, Token: token})
	get := func(h http.Handler, path string, want string) func(*testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", path, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
					b.Fatalf("%s: %d", path, rec.Code)
				}
			}
		}
	}
	command := func(args ...string) func(*testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				if code := run(context.Background(), append(args, "--state-dir", dir), io.Discard, io.Discard); code != exitOK {
					b.Fatalf("exit %d", code)
				}
			}
		}
	}
	b.Run("environments-100/page", get(page, "/", "env-099"))
	b.Run("environments-100/fragment", get(page, "/ui/environments", "env-099"))
	b.Run("environments-100/api-status", get(apiH, "/api/status", "env-099"))
	b.Run("environments-100/status-json", command("status", "--json"))
	b.Run("history-100k/page-first", get(page, "/ui/history", "99951"))
	b.Run("history-100k/page-filtered", get(page, "/ui/history?env=env-007&action=recreate", "99908"))
	b.Run("history-100k/api-history-50", get(apiH, "/api/history?limit=50", "99951"))
	b.Run("history-100k/history-json-50", command("history", "--json", "--limit", "50"))
}
