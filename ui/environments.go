package ui

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rasa-gitops/rasa-gitops/state"
	"go.uber.org/zap"
)

// envsView is the environments view (and the fragment the page refreshes).
type envsView struct {
	Envs []envView
	// Attention are the environments with a warning band, listed first.
	Attention []envView
	RefreshMS int64
	Updated   string
}

// envView is one environment's card.
type envView struct {
	St                 state.EnvStatus
	Applied, Attempted revision
	// Attempting says a newer revision was attempted than the one applied.
	Attempting bool
	Address    string
	// Warning heads the card's warning band ("" for none); Release says what would
	// release a held or refused change (with Command, the command that does), and
	// Change what that change is.
	Warning, Release, Command, Change string
	// Plan is what applying the held or refused revision would do (PlanOf).
	Plan string
}

// authorScan bounds how far back the audit log is read for revisions' authors.
const authorScan = 5000

// environments builds the environments view from the statuses.
func (h *Handler) environments(r *http.Request) (any, error) {
	ctx := r.Context()
	sts, err := h.c.State.Statuses(ctx)
	if err != nil {
		return nil, err
	}
	revs := map[string]revision{}
	for _, st := range sts {
		revs[st.LastApplied], revs[st.LastAttempted] = revision{}, revision{}
	}
	delete(revs, "")
	if err := h.authors(ctx, revs); err != nil {
		return nil, err
	}
	var addrs map[string]string
	if h.c.Addresses != nil {
		addrs = h.c.Addresses(ctx)
	}
	v := envsView{RefreshMS: h.c.Refresh.Milliseconds(), Updated: utc(h.c.Now())}
	for _, st := range sts {
		e := envView{St: st, Applied: revs[st.LastApplied], Attempted: revs[st.LastAttempted], Address: addrs[st.Name]}
		e.Attempting = st.LastAttempted != "" && st.LastAttempted != st.LastApplied
		e.Warning, e.Release, e.Command = h.warning(st)
		if e.Attempting && (st.Sync == state.Pending || st.Sync == state.Refused) {
			e.Change = h.change(e.Attempted, st)
			e.Plan = h.planOf(ctx, e.Attempted.Hash)
		}
		v.Envs = append(v.Envs, e)
		if e.Warning != "" {
			v.Attention = append(v.Attention, e)
		}
	}
	return v, nil
}

var errEnough = errors.New("enough")

// authors fills each revision's author and signer from the newest audit rows that
// name it (the run that decided it stamps them), reading back at most authorScan rows.
func (h *Handler) authors(ctx context.Context, revs map[string]revision) error {
	base := commitBase(h.c.RepoURL)
	missing := len(revs)
	for full := range revs {
		revs[full] = parseRevision(full, base)
	}
	if missing == 0 {
		return nil
	}
	err := h.c.State.EachHistory(ctx, state.Filter{Limit: authorScan}, func(row state.Row) error {
		r, ok := revs[row.Revision]
		if !ok || r.Author != "" || row.Author == "" {
			return nil
		}
		r.Author, r.Signer = row.Author, row.Signer
		revs[row.Revision] = r
		if missing--; missing == 0 {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return err
	}
	h.subjects(revs)
	return nil
}

// subjects fills the revisions' commit subjects, when the Git clone is at hand.
func (h *Handler) subjects(revs map[string]revision) {
	if h.c.Revisions == nil {
		return
	}
	for full, r := range revs {
		if r.Hash == "" {
			continue
		}
		if s, err := h.c.Revisions.Subject(r.Hash); err == nil {
			r.Subject = s
			revs[full] = r
		}
	}
}

// change says what a held or refused revision would change of st's environment,
// from its checkout ("" when it cannot be read).
func (h *Handler) change(attempted revision, st state.EnvStatus) string {
	if h.c.Revisions == nil || attempted.Hash == "" {
		return ""
	}
	d, err := h.c.Revisions.Declared(attempted.Hash)
	if err != nil {
		return ""
	}
	return change(d, st.Name, st.DesiredModel)
}

// warning is the band of an environment that needs someone's attention, what would
// release a change that waits, and the command that does when there is one.
func (h *Handler) warning(st state.EnvStatus) (band, release, command string) {
	server := h.c.Server
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	switch st.Sync {
	case state.Pending:
		return "Pending: " + st.SyncReason, "It applies by itself when the window opens. To apply it now (audited):", "rasa-gitops sync --force-window --server " + server
	case state.Refused:
		why := "Push a revision that fixes what was refused; the previous revision keeps serving."
		if strings.Contains(st.SyncReason, "sign") {
			why = "Push the change again as a commit signed by a key the policy lists for " + st.Name + "; the previous revision keeps serving."
		}
		return "Refused: " + st.SyncReason, why, ""
	case state.Failed:
		return "Failed: " + st.SyncReason, "The previous state keeps serving. The next run retries; to ask for one now:", "rasa-gitops sync --server " + server
	}
	switch {
	case st.Health == state.Degraded:
		return "Degraded: " + st.HealthReason, "", ""
	case st.Health == state.Missing && st.LastApplied != "":
		return "Missing: " + st.HealthReason, "", ""
	case st.SourceError != "":
		return "Git unreadable: " + st.SourceError, "What runs is the last revision read; newer ones may exist.", ""
	}
	return "", "", ""
}

// planTTL is how long the page reuses a revision's plan.
const planTTL = time.Minute

// planCache keeps each held or refused revision's plan for planTTL, so the page's
// refresh every few seconds does not preview the revision each time. A plan being
// computed is waited for, not asked twice; the cache's lock is not held meanwhile, so
// a slow preview never holds up the pages of other revisions.
type planCache struct {
	mu       sync.Mutex
	plans    map[string]cachedPlan
	inflight map[string]chan struct{}
}

type cachedPlan struct {
	text string
	at   time.Time
}

// planTimeout bounds one preview for the page (a fetch of the revision included).
const planTimeout = 10 * time.Second

// planOf is the plan of the revision hash, from the cache or PlanOf ("" when it
// cannot be had: the card then shows what the revision changes without it).
func (h *Handler) planOf(ctx context.Context, hash string) string {
	if h.c.PlanOf == nil || hash == "" {
		return ""
	}
	for {
		h.plans.mu.Lock()
		now := h.c.Now()
		if p, ok := h.plans.plans[hash]; ok && now.Sub(p.at) < planTTL {
			h.plans.mu.Unlock()
			return p.text
		}
		wait, busy := h.plans.inflight[hash]
		if !busy {
			if h.plans.inflight == nil {
				h.plans.inflight = map[string]chan struct{}{}
			}
			done := make(chan struct{})
			h.plans.inflight[hash] = done
			h.plans.mu.Unlock()
			return h.computePlan(ctx, hash, done)
		}
		h.plans.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ""
		}
	}
}

// computePlan asks PlanOf (bounded by planTimeout, and not cut short by the page's
// request going away) and caches the answer, failures included for planTTL: a
// failing preview is then logged once a minute, not on every refresh.
func (h *Handler) computePlan(ctx context.Context, hash string, done chan struct{}) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), planTimeout)
	defer cancel()
	text, err := h.c.PlanOf(ctx, hash)
	if err != nil {
		h.log.Warn("plan of a waiting revision", zap.String("revision", hash), zap.Error(err))
		text = ""
	}
	h.plans.mu.Lock()
	defer h.plans.mu.Unlock()
	now := h.c.Now()
	if h.plans.plans == nil {
		h.plans.plans = map[string]cachedPlan{}
	}
	for k, p := range h.plans.plans { // forget plans of revisions no longer waiting
		if now.Sub(p.at) >= planTTL {
			delete(h.plans.plans, k)
		}
	}
	h.plans.plans[hash] = cachedPlan{text: text, at: now}
	delete(h.plans.inflight, hash)
	close(done)
	return text
}
