// Package probe asks HTTP endpoints at a fixed interval and counts the requests that
// fail: the measure of "zero failed requests" during a replace or a model promotion.
// cmd/fake-service runs it inside a project network (`fake-service probe URL...`);
// tests run it from the host.
package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Target is one request the probe repeats.
type Target struct {
	Method string // GET when empty
	URL    string
	Body   []byte // sent as application/json when set
}

// String is the method and URL, without the query (it may carry a token).
func (t Target) String() string {
	m := t.Method
	if m == "" {
		m = http.MethodGet
	}
	u := t.URL
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i] + "?…"
	}
	return m + " " + u
}

// Result counts a probe's requests. A target's requests before its first success are
// Pending, not Failed: the probe may start before what it asks does (both created by
// one `up`), and that start is not what it measures.
type Result struct {
	OK      int `json:"ok"`
	Failed  int `json:"failed"`
	Pending int `json:"pending"`
	// Slow counts the requests that succeeded but took SlowAfter or longer, and
	// SlowestMS is the longest request that succeeded, in milliseconds.
	Slow      int   `json:"slow"`
	SlowestMS int64 `json:"slowest_ms"`
	// Errors are the first few failures, each with its time and target.
	Errors []string `json:"errors,omitempty"`
}

// MaxErrors is how many failures a Result keeps in Errors.
const MaxErrors = 5

// Timeout bounds one request, DNS lookup and every address tried included: a request
// with no 2xx answer within it has failed. It is long enough for Go's dialer, which
// gives the first of two addresses half of it (at least 2 s), to go on to the second
// when the first does not answer at all.
const Timeout = 10 * time.Second

// SlowAfter is the duration from which a successful request counts as slow.
const SlowAfter = time.Second

// Run asks every target once per interval, each target on its own, until stop is
// done, and returns the counts. Every request opens a fresh connection (no
// keep-alive), so each one resolves the name again and dials anew — Go's dialer tries
// each address the lookup returns in turn — as a new client would. A request in flight
// when stop is done is finished and counted, never cut short. started, when set, is
// called once per target at its first success (from that target's goroutine): from
// then on its failures count.
func Run(stop context.Context, interval time.Duration, targets []Target, started func(Target)) Result {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableKeepAlives = true
	client := &http.Client{Transport: transport, Timeout: Timeout}
	var mu sync.Mutex
	var total Result
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := runOne(stop, client, interval, t, started)
			mu.Lock()
			defer mu.Unlock()
			total.OK += r.OK
			total.Failed += r.Failed
			total.Pending += r.Pending
			total.Slow += r.Slow
			total.SlowestMS = max(total.SlowestMS, r.SlowestMS)
			for _, e := range r.Errors {
				if len(total.Errors) < MaxErrors {
					total.Errors = append(total.Errors, e)
				}
			}
		}()
	}
	wg.Wait()
	return total
}

func runOne(stop context.Context, client *http.Client, interval time.Duration, t Target, onStart func(Target)) Result {
	var r Result
	started := false
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop.Done():
			return r
		case <-tick.C:
		}
		begin := time.Now()
		err := ask(client, t)
		took := time.Since(begin)
		switch {
		case err == nil:
			if !started && onStart != nil {
				onStart(t)
			}
			started = true
			r.OK++
			r.SlowestMS = max(r.SlowestMS, took.Milliseconds())
			if took >= SlowAfter {
				r.Slow++
			}
		case !started:
			r.Pending++
		default:
			r.Failed++
			if len(r.Errors) < MaxErrors {
				r.Errors = append(r.Errors, fmt.Sprintf("%s %s after %s: %v", begin.UTC().Format("15:04:05.000"), t, took.Round(time.Millisecond), err))
			}
		}
	}
}

// ask makes one request; any answer but a 2xx is a failure.
func ask(client *http.Client, t Target) error {
	method := t.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if t.Body != nil {
		body = bytes.NewReader(t.Body)
	}
	req, err := http.NewRequest(method, t.URL, body)
	if err != nil {
		return err
	}
	if t.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return uerr.Err // the URL is in the target already, its query left out
		}
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
