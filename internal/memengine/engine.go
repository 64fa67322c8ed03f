package memengine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
)

// Engine is an in-memory Docker Engine: it satisfies reconcile.Engine (and offers the
// client's Events) so the reconcile pipeline, the daemon and the API can be tested
// without Docker. The zero value is not usable: call New.
type Engine struct {
	mu  sync.Mutex
	now func() time.Time
	seq uint64

	containers map[string]*ctr     // by ID
	names      map[string]string   // container name (no leading /) → ID
	networks   map[string]*netw    // by ID
	volumes    map[string]*vol     // by name
	images     map[string]*img     // by ID
	tags       map[string]string   // normalized reference → image ID
	pullable   map[string]pullable // normalized reference → what a pull gets
	imageGen   map[string]int      // normalized reference → images added under it
	subnets    int                 // networks given a subnet so far

	subs    map[*subscription]struct{}
	history []events.Message

	calls      []string
	failBefore map[string][]error
	failAfter  map[string][]error
}

// New returns an empty Engine with the networks every Engine has (bridge, host, none).
func New() *Engine {
	e := &Engine{
		now:        time.Now,
		containers: map[string]*ctr{},
		names:      map[string]string{},
		networks:   map[string]*netw{},
		volumes:    map[string]*vol{},
		images:     map[string]*img{},
		tags:       map[string]string{},
		pullable:   map[string]pullable{},
		imageGen:   map[string]int{},
		subs:       map[*subscription]struct{}{},
		failBefore: map[string][]error{},
		failAfter:  map[string][]error{},
	}
	for _, n := range []struct{ name, driver string }{{"bridge", "bridge"}, {"host", "host"}, {"none", "null"}} {
		nw, _ := e.newNetwork(n.name, network.CreateOptions{Driver: n.driver})
		nw.predefined = true
	}
	return e
}

// SetClock replaces the clock (default time.Now) the Engine stamps states and events
// with, so a test can make "Up 2 minutes" or an old exit without waiting.
func (e *Engine) SetClock(now func() time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = now
}

// Calls lists the Engine API methods called so far, in order (test helpers such as
// Pause are not Engine calls and are not listed). Tests use it to count round trips.
func (e *Engine) Calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.calls...)
}

// mutating are the Engine calls that change something.
var mutating = map[string]bool{
	"ContainerCreate": true, "ContainerStart": true, "ContainerStop": true, "ContainerRemove": true,
	"ContainerRename": true, "NetworkCreate": true, "NetworkConnect": true, "NetworkDisconnect": true,
	"NetworkRemove": true, "VolumeCreate": true, "VolumeRemove": true, "ImagePull": true,
}

// Mutations lists the mutating calls among Calls, so a test can assert that a
// converged project costs none.
func (e *Engine) Mutations() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, c := range e.calls {
		if mutating[c] {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the calls recorded so far, so a test can count from a point.
func (e *Engine) ResetCalls() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = nil
}

// FailNext makes the next call of method op (an Engine method name such as
// "ContainerStart", or "Events") fail with err before it takes effect, for fault
// tests. Several FailNext calls queue several failures.
func (e *Engine) FailNext(op string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failBefore[op] = append(e.failBefore[op], err)
}

// FailNextAfter makes the next call of method op take effect and then return err, as
// when the Engine acted but its answer was lost (a restart mid-call).
func (e *Engine) FailNextAfter(op string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failAfter[op] = append(e.failAfter[op], err)
}

// enter records a call and returns the failure it must return at once, if any. It is
// called with e.mu held.
func (e *Engine) enter(ctx context.Context, op string) error {
	e.calls = append(e.calls, op)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memengine: %s: %w", op, err)
	}
	if q := e.failBefore[op]; len(q) > 0 {
		e.failBefore[op] = q[1:]
		return q[0]
	}
	return nil
}

// leave returns err, or the failure queued by FailNextAfter. Called with e.mu held.
func (e *Engine) leave(op string, err error) error {
	if q := e.failAfter[op]; len(q) > 0 {
		e.failAfter[op] = q[1:]
		if err == nil {
			return q[0]
		}
	}
	return err
}

// nextID is the next deterministic 64-hex-character ID.
func (e *Engine) nextID(kind string) string {
	e.seq++
	sum := sha256.Sum256([]byte(fmt.Sprintf("memengine/%s/%d", kind, e.seq)))
	return hex.EncodeToString(sum[:])
}

// apiError is an Engine error: its message, and the errdefs kind the client would
// give it (so cerrdefs.IsNotFound and friends work as with the real client).
type apiError struct {
	msg  string
	kind error
}

func (e *apiError) Error() string        { return e.msg }
func (e *apiError) Is(target error) bool { return errors.Is(e.kind, target) }

func errorf(kind error, format string, args ...any) error {
	return &apiError{msg: fmt.Sprintf(format, args...), kind: kind}
}

func notFound(format string, args ...any) error {
	return errorf(cerrdefs.ErrNotFound, format, args...)
}
func conflict(format string, args ...any) error {
	return errorf(cerrdefs.ErrConflict, format, args...)
}
func invalid(format string, args ...any) error {
	return errorf(cerrdefs.ErrInvalidArgument, format, args...)
}
func forbidden(format string, args ...any) error {
	return errorf(cerrdefs.ErrPermissionDenied, format, args...)
}
func internal(format string, args ...any) error {
	return errorf(cerrdefs.ErrInternal, format, args...)
}
func notImplemented(format string, args ...any) error {
	return errorf(cerrdefs.ErrNotImplemented, format, args...)
}

// clone deep-copies an API value through JSON, the way it crosses the real API, so
// neither the caller nor the Engine can change the other's copy.
func clone[T any](v *T) *T {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("memengine: copy %T: %v", v, err))
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("memengine: copy %T: %v", v, err))
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// humanDuration is go-units' HumanDuration, which the Engine's status strings use.
func humanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < 1 {
		return "Less than a second"
	} else if seconds == 1 {
		return "1 second"
	} else if seconds < 60 {
		return fmt.Sprintf("%d seconds", seconds)
	} else if minutes := int(d.Minutes()); minutes == 1 {
		return "About a minute"
	} else if minutes < 60 {
		return fmt.Sprintf("%d minutes", minutes)
	} else if hours := int(d.Hours() + 0.5); hours == 1 {
		return "About an hour"
	} else if hours < 48 {
		return fmt.Sprintf("%d hours", hours)
	} else if hours < 24*7*2 {
		return fmt.Sprintf("%d days", hours/24)
	} else if hours < 24*30*2 {
		return fmt.Sprintf("%d weeks", hours/24/7)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}
