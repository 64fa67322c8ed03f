package notify

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/forge"
	"github.com/rasa-gitops/rasa-gitops/state"
)

const (
	commitA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	commitB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestStatusOf(t *testing.T) {
	since := time.Date(2026, 11, 30, 12, 3, 0, 0, time.UTC)
	for _, tc := range []struct {
		st   state.EnvStatus
		want forge.Status
		ok   bool
	}{
		{state.EnvStatus{Name: "production", Sync: state.Synced, LastApplied: "main@sha1:" + commitA, LastAttempted: "main@sha1:" + commitA, DesiredModel: "moodbot-v2", Since: since},
			forge.Status{Commit: commitA, Context: "rasa-gitops/production", State: forge.Success, Description: "serving moodbot-v2 since 12:03 UTC"}, true},
		{state.EnvStatus{Name: "production", Sync: state.OutOfSync, SyncReason: "loading moodbot-v2", LastApplied: "main@sha1:" + commitA},
			forge.Status{Commit: commitA, Context: "rasa-gitops/production", State: forge.Pending, Description: "loading moodbot-v2"}, true},
		{state.EnvStatus{Name: "production", Sync: state.Pending, SyncReason: "held by a change window until 2026-12-07T09:00:00Z", LastApplied: "main@sha1:" + commitA, LastAttempted: "main@sha1:" + commitB},
			forge.Status{Commit: commitB, Context: "rasa-gitops/production", State: forge.Pending, Description: "held until Mon 7 Dec 09:00 UTC"}, true},
		{state.EnvStatus{Name: "production", Sync: state.Refused, SyncReason: "revision main@sha1:bbbbbbbbbbbb changes production but is not signed by a key its policy allows: the commit is not signed", LastAttempted: "main@sha1:" + commitB},
			forge.Status{Commit: commitB, Context: "rasa-gitops/production", State: forge.Failure, Description: "refused: not signed by a signer allowed for production"}, true},
		{state.EnvStatus{Name: "production", Sync: state.Failed, SyncReason: "model moodbot-v2 failed to load: LoadingError; still serving moodbot-v1", DesiredModel: "moodbot-v2", LastApplied: "main@sha1:" + commitB, LastAttempted: "main@sha1:" + commitB},
			forge.Status{Commit: commitB, Context: "rasa-gitops/production", State: forge.Error, Description: "moodbot-v2 failed to load"}, true},
		{state.EnvStatus{Name: "production", Sync: state.Failed, SyncReason: "create: image missing\nmore", LastAttempted: "main@sha1:" + commitB},
			forge.Status{Commit: commitB, Context: "rasa-gitops/production", State: forge.Failure, Description: "failed: create: image missing"}, true},
		{state.EnvStatus{Name: "production", Sync: state.Synced, LastApplied: "local@sha256:0123456789ab"}, forge.Status{}, false},
	} {
		got, ok := StatusOf(tc.st)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s %q:\n got %+v %v\nwant %+v", tc.st.Sync, tc.st.SyncReason, got, ok, tc.want)
		}
	}
}

// fakeClient is a forge that fails while down, or blocks while blocked.
type fakeClient struct {
	mu     sync.Mutex
	down   bool
	refuse forge.State // answer 400 to statuses in this state
	block  chan struct{}
	tries  int
	posted []forge.Status
}

func (f *fakeClient) SetStatus(ctx context.Context, s forge.Status) error {
	f.mu.Lock()
	block := f.block
	f.tries++
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return &forge.HTTPError{Code: 500, Body: "down"}
	}
	if s.State == f.refuse {
		return &forge.HTTPError{Code: 400, Body: "Cannot transition status via :enqueue from :pending"}
	}
	f.posted = append(f.posted, s)
	return nil
}

func (f *fakeClient) snapshot() (int, []forge.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tries, append([]forge.Status(nil), f.posted...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func start(t *testing.T, c forge.Client) *Notifier {
	n := New(c, Options{Backoff: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Mask: func(s string) string { return strings.ReplaceAll(s, "s3cret", "***") }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

func loading(commit, model string) state.EnvStatus {
	return state.EnvStatus{Name: "production", Sync: state.OutOfSync, SyncReason: "loading " + model, LastApplied: "main@sha1:" + commit}
}

func synced(commit, model string) state.EnvStatus {
	return state.EnvStatus{Name: "production", Sync: state.Synced, DesiredModel: model, LastApplied: "main@sha1:" + commit, Since: time.Now()}
}

// TestForgeDownDelaysNothingAndCatchesUp: while the forge answers 500, Observe
// returns at once and statuses wait; when the forge returns they are posted in the
// order observed, each once, with secrets masked.
func TestForgeDownDelaysNothingAndCatchesUp(t *testing.T) {
	c := &fakeClient{down: true}
	n := start(t, c)
	n.Observe([]state.EnvStatus{loading(commitA, "moodbot-v2")})
	waitFor(t, "retries against the forge that is down", func() bool { tries, _ := c.snapshot(); return tries >= 3 })
	secretModel := synced(commitA, "moodbot-s3cret")
	n.Observe([]state.EnvStatus{secretModel})
	if n.Pending() != 1 {
		t.Errorf("%d keys pending, want 1", n.Pending())
	}
	c.mu.Lock()
	c.down = false
	c.mu.Unlock()
	waitFor(t, "the post after the forge returned", func() bool { return n.Pending() == 0 })
	_, posted := c.snapshot()
	if len(posted) != 2 || posted[0].State != forge.Pending || posted[1].State != forge.Success || posted[1].Description != "serving moodbot-*** since "+secretModel.Since.UTC().Format("15:04 MST") {
		t.Fatalf("posted %+v", posted)
	}
	n.Observe([]state.EnvStatus{secretModel}) // the same again: nothing to post
	n.Observe([]state.EnvStatus{loading(commitB, "moodbot-v3")})
	waitFor(t, "the next commit's status", func() bool { _, p := c.snapshot(); return len(p) == 3 })
	if _, posted := c.snapshot(); posted[2].Commit != commitB || posted[2].State != forge.Pending {
		t.Errorf("third post %+v", posted[2])
	}
}

// TestObserveNeverBlocks: a forge that hangs holds only the notifier's own goroutine.
func TestObserveNeverBlocks(t *testing.T) {
	c := &fakeClient{block: make(chan struct{})}
	n := start(t, c)
	t.Cleanup(func() { close(c.block) })
	n.Observe([]state.EnvStatus{loading(commitA, "moodbot-v2")})
	waitFor(t, "the hanging post", func() bool { tries, _ := c.snapshot(); return tries == 1 })
	returned := make(chan struct{})
	go func() {
		for i := range 100 {
			n.Observe([]state.EnvStatus{synced(commitA, "m"+string(rune('a'+i%26)))})
		}
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Observe blocked behind a hanging forge")
	}
	n.mu.Lock()
	queued := len(n.pending[key{commitA, "rasa-gitops/production"}].queue)
	n.mu.Unlock()
	if queued != maxQueued {
		t.Errorf("%d statuses queued behind the hanging forge, want the bound %d", queued, maxQueued)
	}
}

// TestFirstStatusOfACommitStartsPending: a deployment whose model loaded before the
// run recorded it still shows pending → success on its commit; a commit already
// reported does not go back to pending.
func TestFirstStatusOfACommitStartsPending(t *testing.T) {
	c := &fakeClient{}
	n := start(t, c)
	n.Observe([]state.EnvStatus{synced(commitA, "moodbot-v2")})
	waitFor(t, "both posts", func() bool { _, p := c.snapshot(); return len(p) == 2 })
	if _, p := c.snapshot(); p[0].State != forge.Pending || p[0].Description != "deploying moodbot-v2" || p[1].State != forge.Success {
		t.Errorf("posted %+v", p)
	}
	n.Observe([]state.EnvStatus{loading(commitA, "moodbot-v2")})
	n.Observe([]state.EnvStatus{synced(commitA, "moodbot-v2")})
	waitFor(t, "the later posts", func() bool { return n.Pending() == 0 })
	if _, p := c.snapshot(); len(p) != 4 || p[2].Description != "loading moodbot-v2" || p[3].State != forge.Success {
		t.Errorf("posted %+v", p)
	}
	// After a restart, what was deployed before it is reported as it is.
	c2 := &fakeClient{}
	n2 := start(t, c2)
	old := synced(commitB, "moodbot-v2")
	old.Since = time.Now().Add(-time.Hour)
	n2.Observe([]state.EnvStatus{old})
	waitFor(t, "the re-report", func() bool { return n2.Pending() == 0 })
	if _, p := c2.snapshot(); len(p) != 1 || p[0].State != forge.Success {
		t.Errorf("after a restart: posted %+v", p)
	}
}

// TestRefusedStatusDoesNotHoldUpTheNext: a status the forge refuses for good (400, as
// GitLab answers a second pending) is dropped, and the success after it is posted.
func TestRefusedStatusDoesNotHoldUpTheNext(t *testing.T) {
	c := &fakeClient{refuse: forge.Pending}
	n := start(t, c)
	n.Observe([]state.EnvStatus{loading(commitA, "moodbot-v2"), synced(commitA, "moodbot-v2")})
	waitFor(t, "the queue to drain", func() bool { return n.Pending() == 0 })
	if tries, p := c.snapshot(); len(p) != 1 || p[0].State != forge.Success || tries != 2 {
		t.Errorf("%d tries, posted %+v; want the refused pending tried once and the success posted", tries, p)
	}
}

// TestRefusedStatusIsNotPostedAgain: a status the forge refused for good is not posted
// again when the same status is observed again (the pipeline reports after every run).
func TestRefusedStatusIsNotPostedAgain(t *testing.T) {
	c := &fakeClient{refuse: forge.Pending}
	n := start(t, c)
	for range 5 {
		n.Observe([]state.EnvStatus{loading(commitA, "moodbot-v2")})
		waitFor(t, "the queue to drain", func() bool { return n.Pending() == 0 })
	}
	if tries, _ := c.snapshot(); tries != 1 {
		t.Errorf("the refused status was tried %d times, want once", tries)
	}
}
