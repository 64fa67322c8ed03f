package memengine

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	timetypes "github.com/docker/docker/api/types/time"
)

// historyLimit is how many past events the Engine keeps for Since, as the real one.
const historyLimit = 256

// subscription is one Events stream. Its queue is guarded by Engine.mu; a goroutine
// hands the queue to the consumer one message at a time, then the ending error.
type subscription struct {
	filter filters.Args
	queue  []events.Message
	end    error // set when the stream ends (cut, until reached)
	wake   chan struct{}
	timer  *time.Timer
}

func (s *subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

var eventFilters = map[string]bool{"config": true, "container": true, "daemon": true, "event": true, "image": true, "label": true,
	"network": true, "node": true, "plugin": true, "scope": true, "secret": true, "service": true, "type": true, "volume": true}

// include is the Engine's event filter (daemon/events/filter.go).
func include(f filters.Args, m events.Message) bool {
	fuzzyName := func(key string) bool {
		return f.FuzzyMatch(key, m.Actor.ID) || f.FuzzyMatch(key, m.Actor.Attributes["name"])
	}
	matchEvent := f.ExactMatch("event", string(m.Action))
	for _, prefixed := range []string{"health_status", "exec_create", "exec_start"} {
		if f.ExactMatch("event", prefixed) && f.Contains("event") {
			matchEvent = f.FuzzyMatch("event", string(m.Action))
		}
	}
	imageName := m.Actor.Attributes["image"]
	if m.Type == events.ImageEventType {
		imageName = m.Actor.Attributes["name"]
	}
	matchImage := f.ExactMatch("image", m.Actor.ID) || f.ExactMatch("image", imageName) ||
		f.ExactMatch("image", stripTag(m.Actor.ID)) || f.ExactMatch("image", stripTag(imageName))
	return matchEvent && matchImage &&
		f.ExactMatch("type", string(m.Type)) &&
		f.ExactMatch("scope", m.Scope) &&
		fuzzyName("container") && fuzzyName("network") && fuzzyName("volume") && fuzzyName("daemon") &&
		fuzzyName("plugin") && fuzzyName("node") && fuzzyName("service") && fuzzyName("secret") && fuzzyName("config") &&
		f.MatchKVList("label", m.Actor.Attributes)
}

func stripTag(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.FamiliarName(named)
}

// emit publishes an event to the history and to every matching subscription. Called
// with e.mu held.
func (e *Engine) emit(typ events.Type, action events.Action, id string, attrs map[string]string) {
	now := e.now()
	m := events.Message{Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: attrs},
		Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano()}
	e.history = append(e.history, m)
	if len(e.history) > historyLimit {
		e.history = append([]events.Message(nil), e.history[len(e.history)-historyLimit:]...)
	}
	for s := range e.subs {
		if include(s.filter, m) {
			s.queue = append(s.queue, copyMessage(m))
			s.signal()
		}
	}
}

func copyMessage(m events.Message) events.Message {
	m.Actor.Attributes = copyMap(m.Actor.Attributes)
	return m
}

// endSub ends a subscription with err once its queued messages are delivered. Called
// with e.mu held.
func (e *Engine) endSub(s *subscription, err error) {
	if s.end != nil {
		return
	}
	s.end = err
	delete(e.subs, s)
	if s.timer != nil {
		s.timer.Stop()
	}
	s.signal()
}

// ErrCut is the error a stream ended by CutEvents reports, like a connection to the
// Engine that broke mid-stream.
var ErrCut = fmt.Errorf("memengine: event stream cut: %w", io.ErrUnexpectedEOF)

// Events streams events as the client's Events does: messages on the first channel,
// then one error on the second (the context's error, io.EOF once Until has passed,
// ErrCut after CutEvents), which is then closed. The message channel is never closed.
// Filters are the Engine's (type, event, label, container, network, volume, image,
// scope...); Since replays the Engine's recent history.
func (e *Engine) Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error) {
	msgs := make(chan events.Message)
	errs := make(chan error, 1)
	e.mu.Lock()
	defer e.mu.Unlock()
	fail := func(err error) (<-chan events.Message, <-chan error) {
		errs <- err
		close(errs)
		return msgs, errs
	}
	if err := e.enter(ctx, "Events"); err != nil {
		return fail(err)
	}
	if err := options.Filters.Validate(eventFilters); err != nil {
		return fail(err)
	}
	now := e.now()
	var since, until time.Time
	for _, p := range []struct {
		value string
		to    *time.Time
	}{{options.Since, &since}, {options.Until, &until}} {
		if p.value == "" {
			continue
		}
		ts, err := timetypes.GetTimestamp(p.value, now)
		if err != nil {
			return fail(invalid("invalid timestamp %q: %v", p.value, err))
		}
		sec, nsec, err := timetypes.ParseTimestamps(ts, 0)
		if err != nil {
			return fail(invalid("invalid timestamp %q: %v", p.value, err))
		}
		*p.to = time.Unix(sec, nsec)
	}
	s := &subscription{filter: options.Filters.Clone(), wake: make(chan struct{}, 1)}
	if !since.IsZero() {
		for _, m := range e.history {
			t := time.Unix(0, m.TimeNano)
			if t.Before(since) || (!until.IsZero() && t.After(until)) || !include(s.filter, m) {
				continue
			}
			s.queue = append(s.queue, copyMessage(m))
		}
	}
	switch {
	case !until.IsZero() && !until.After(now):
		s.end = io.EOF
	default:
		e.subs[s] = struct{}{}
		if !until.IsZero() {
			s.timer = time.AfterFunc(until.Sub(now), func() {
				e.mu.Lock()
				defer e.mu.Unlock()
				e.endSub(s, io.EOF)
			})
		}
	}
	go e.deliver(ctx, s, msgs, errs)
	return msgs, errs
}

// deliver hands a subscription's messages to the consumer in order, then its error.
func (e *Engine) deliver(ctx context.Context, s *subscription, msgs chan<- events.Message, errs chan<- error) {
	defer close(errs)
	for {
		e.mu.Lock()
		if len(s.queue) > 0 {
			m := s.queue[0]
			s.queue = s.queue[1:]
			e.mu.Unlock()
			select {
			case msgs <- m:
				continue
			case <-ctx.Done():
				e.stop(s)
				errs <- ctx.Err()
				return
			}
		}
		if s.end != nil {
			err := s.end
			e.mu.Unlock()
			errs <- err
			return
		}
		e.mu.Unlock()
		select {
		case <-s.wake:
		case <-ctx.Done():
			e.stop(s)
			errs <- ctx.Err()
			return
		}
	}
}

func (e *Engine) stop(s *subscription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.endSub(s, context.Canceled)
}

// CutEvents ends every current event stream with ErrCut, as when the connection to
// the Engine breaks, so a test can make a watcher miss events and check that it
// reconnects (and catches up). It returns how many streams it cut.
func (e *Engine) CutEvents() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for s := range e.subs {
		e.endSub(s, ErrCut)
		n++
	}
	return n
}

// Subscribers is how many event streams are open, so a test can wait until a watcher
// has subscribed before it makes the change the watcher must see.
func (e *Engine) Subscribers() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.subs)
}
