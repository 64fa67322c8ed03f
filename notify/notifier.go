package notify

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rasa-gitops/rasa-gitops/forge"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// Options tune the notifier.
type Options struct {
	// Backoff is the first wait after a failed post (default 2s); it doubles per
	// failure of the same status up to MaxBackoff (default 5m).
	Backoff, MaxBackoff time.Duration
	// TargetURL, when set, is the link of every status (the daemon's status page).
	TargetURL string
	// Mask hides secrets in descriptions (state.Masker.Apply); nil leaves them.
	Mask func(string) string
	Log  *zap.Logger
	// Posted, when set, is called after each successful post (tests, metrics).
	Posted func(forge.Status)
}

// key is one status line on a forge: a context on a commit.
type key struct{ commit, context string }

// item is the statuses of a key not posted yet, oldest first (each differs from the
// one before), with the retry schedule of the first.
type item struct {
	queue    []forge.Status
	attempts int
	due      time.Time
}

// maxQueued bounds the statuses a key keeps while its forge is down: the oldest are
// dropped, the newest is always posted.
const maxQueued = 8

// Notifier posts commit statuses from a queue of its own. Observe never blocks and
// never fails; Run posts one status at a time, each key's in the order observed (a
// pending "loading" before the success that follows it), so the forge shows each
// transition and ends on the newest.
type Notifier struct {
	client  forge.Client
	opts    Options
	wake    chan struct{}
	started time.Time

	mu      sync.Mutex
	posted  map[key]forge.Status // what the forge shows now, as far as we know
	pending map[key]*item
}

// New makes a notifier posting through client; Run starts it.
func New(client forge.Client, opts Options) *Notifier {
	if opts.Backoff <= 0 {
		opts.Backoff = 2 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	return &Notifier{client: client, opts: opts, wake: make(chan struct{}, 1), started: time.Now(), posted: map[key]forge.Status{}, pending: map[key]*item{}}
}

// Observe queues the status each environment asks for, when it differs from what was
// posted or queued for its commit: the pipeline calls it after every run and every
// model load it records. It only takes a lock and returns.
func (n *Notifier) Observe(rows []state.EnvStatus) {
	n.mu.Lock()
	queued := false
	for _, st := range rows {
		s, ok := StatusOf(st)
		if !ok {
			continue
		}
		s.TargetURL = n.opts.TargetURL
		if n.opts.Mask != nil {
			s.Description = n.opts.Mask(s.Description)
		}
		k := key{s.Commit, s.Context}
		if it, ok := n.pending[k]; ok {
			if it.queue[len(it.queue)-1] != s {
				it.queue = append(it.queue, s)
				if len(it.queue) > maxQueued {
					it.queue = it.queue[len(it.queue)-maxQueued:]
				}
			}
			continue
		}
		if n.posted[k] == s {
			continue
		}
		queue := []forge.Status{s}
		if _, seen := n.posted[k]; !seen && s.State == forge.Success && !st.Since.Before(n.started) {
			// A deployment starts pending, also when its model loaded before the run
			// recorded it: the forge shows pending → success either way (not for what
			// was deployed before this process started: a restart re-reports it as is).
			start := s
			start.State, start.Description = forge.Pending, "deploying "+orNone(st.DesiredModel)
			queue = []forge.Status{start, s}
		}
		n.pending[k] = &item{queue: queue, due: time.Now()}
		queued = true
	}
	n.mu.Unlock()
	if queued {
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
}

// Pending is how many statuses wait to be posted (tests, metrics).
func (n *Notifier) Pending() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.pending)
}

// Run posts queued statuses until ctx ends: each when due, a failure retried after a
// backoff that doubles per failure; a forge that fails stalls only the notifier.
func (n *Notifier) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := n.postDue(ctx)
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-timer.C:
		}
	}
}

// postDue posts every due status and returns when the next one is due (zero: none).
func (n *Notifier) postDue(ctx context.Context) time.Time {
	for ctx.Err() == nil {
		k, s, ok := n.nextDue()
		if !ok {
			break
		}
		err := n.client.SetStatus(ctx, s)
		n.done(k, s, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var next time.Time
	for _, it := range n.pending {
		if next.IsZero() || it.due.Before(next) {
			next = it.due
		}
	}
	return next
}

func (n *Notifier) nextDue() (key, forge.Status, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	for k, it := range n.pending {
		if !it.due.After(now) {
			return k, it.queue[0], true
		}
	}
	return key{}, forge.Status{}, false
}

// done settles a post: success moves on to the key's next status at once; a forge
// that refuses the status for good (4xx but 429: GitLab refuses pending after pending)
// drops it and moves on, so it never holds up the statuses after it; any other failure
// is retried after a backoff that doubles per failure.
func (n *Notifier) done(k key, s forge.Status, err error) {
	var he *forge.HTTPError
	dropped := errors.As(err, &he) && !he.Retryable()
	n.mu.Lock()
	switch {
	case err == nil:
		for old := range n.posted {
			if old.context == k.context && old.commit != k.commit {
				delete(n.posted, old) // statuses go on one commit per environment: forget older ones
			}
		}
		n.posted[k] = s
		n.advance(k, s)
	case dropped:
		n.posted[k] = s // refused for good: the same status is not posted again
		n.advance(k, s)
	default:
		if it := n.pending[k]; it != nil {
			it.attempts++
			it.due = time.Now().Add(min(n.opts.Backoff<<min(it.attempts-1, 16), n.opts.MaxBackoff))
		}
	}
	n.mu.Unlock()
	fields := []zap.Field{zap.String("context", s.Context), zap.String("commit", s.Commit), zap.String("state", string(s.State)), zap.String("description", s.Description)}
	switch {
	case err == nil:
		n.opts.Log.Info("commit status posted", fields...)
		if n.opts.Posted != nil {
			n.opts.Posted(s)
		}
	case dropped:
		n.opts.Log.Error("the forge refused a commit status; dropped", append(fields, zap.Error(err))...)
	default:
		n.opts.Log.Warn("cannot post a commit status; retrying with backoff", append(fields, zap.Error(err))...)
	}
}

// advance takes s, just settled, off the head of its key's queue (n.mu held).
func (n *Notifier) advance(k key, s forge.Status) {
	it := n.pending[k]
	if it == nil || it.queue[0] != s {
		return
	}
	it.queue, it.attempts, it.due = it.queue[1:], 0, time.Now()
	if len(it.queue) == 0 {
		delete(n.pending, k)
	}
}
