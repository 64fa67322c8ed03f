package ui

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rasa-gitops/rasa-gitops/state"
)

// historyView is one page of the audit log, newest first.
type historyView struct {
	Rows        []historyRow
	Env, Action string
	Envs        []string
	Actions     []string
	// Next is the URL of the next (older) page, "" on the last; Paged says this is
	// not the first page.
	Next   string
	Paged  bool
	Anchor state.Anchor
	// Verified is the last verification of the whole chain (?verify=1), nil before
	// the first since the daemon started.
	Verified *verification
}

type historyRow struct {
	state.Row
	Rev revision
}

// verification is the outcome of one walk of the whole chain.
type verification struct {
	Rows   int
	Broken string
	At     time.Time
}

// actionKinds are the actions offered by the history filter (any prefix works).
var actionKinds = []string{"plan", "policy:", "create", "recreate", "start", "remove", "rename", "connect", "retag model", "load model", "condition", "validate", "down"}

// history builds one page of the audit log: ?env=, ?action= and the ?before= cursor.
func (h *Handler) history(r *http.Request) (any, error) {
	ctx := r.Context()
	q := r.URL.Query()
	f := state.Filter{Environment: q.Get("env"), Action: q.Get("action"), Limit: h.c.PageSize}
	if b, err := strconv.ParseInt(q.Get("before"), 10, 64); err == nil && b > 0 {
		f.Before = b
	}
	v := historyView{Env: f.Environment, Action: f.Action, Actions: actionKinds, Paged: f.Before > 0}
	base := commitBase(h.c.RepoURL)
	err := h.c.State.EachHistory(ctx, f, func(row state.Row) error {
		rev := parseRevision(row.Revision, base)
		v.Rows = append(v.Rows, historyRow{Row: row, Rev: rev})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n := len(v.Rows); n == f.Limit && v.Rows[n-1].ID > 1 {
		next := url.Values{"before": {strconv.FormatInt(v.Rows[n-1].ID, 10)}}
		for k, val := range map[string]string{"env": f.Environment, "action": f.Action} {
			if val != "" {
				next.Set(k, val)
			}
		}
		v.Next = "/ui/history?" + next.Encode()
	}
	if v.Anchor, err = h.c.State.Head(ctx); err != nil {
		return nil, err
	}
	sts, err := h.c.State.Statuses(ctx)
	if err != nil {
		return nil, err
	}
	for _, st := range sts {
		v.Envs = append(v.Envs, st.Name)
	}
	if f.Environment != "" && !contains(v.Envs, f.Environment) {
		v.Envs = append(v.Envs, f.Environment) // no longer declared: its history stays
	}
	if q.Get("verify") == "1" {
		if err := h.verify(ctx); err != nil {
			return nil, err
		}
	}
	v.Verified = h.lastVerify.Load()
	return v, nil
}

// verify walks the whole chain and keeps the outcome, which the history view shows
// until the next verification.
func (h *Handler) verify(ctx context.Context) error {
	n, broken, err := h.c.State.Verify(ctx)
	if err != nil {
		return err
	}
	r := &verification{Rows: n, At: h.c.Now()}
	if broken != nil {
		r.Broken = broken.Error()
	}
	h.lastVerify.Store(r)
	return nil
}
