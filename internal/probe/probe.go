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
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sort"
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
// with no 2xx answer within it has failed.
const Timeout = 10 * time.Second

// DialTimeout bounds the connection attempts of one request. Go's dialer shares it
// among the addresses the name resolves to (at least 2 s each), so with two addresses
// one that does not answer at all is given up after 3 s and the other is tried, well
// within Timeout. (Go's default, 30 s, would give the first address 15 s: the request
// would time out before the second address is tried.)
const DialTimeout = 6 * time.Second

// SlowAfter is the duration from which a successful request counts as slow.
const SlowAfter = time.Second

// Run starts a request to every target once per interval, until stop is done, and
// returns the counts. Requests do not wait for one another: a slow or hanging one
// does not hold the next back, so every interval counts, as clients arriving every
// interval would. Every request opens a fresh connection (no keep-alive), so each one
// resolves the name again and dials anew — Go's dialer tries each address the lookup
// returns in turn — as a new client would. Requests in flight when stop is done are
// finished and counted, never cut short (Run returns within Timeout). started, when
// set, is called once per target at its first success: the target's requests begun
// before then are pending, those begun after count.
func Run(stop context.Context, interval time.Duration, targets []Target, started func(Target)) Result {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableKeepAlives = true
	transport.DialContext = (&net.Dialer{Timeout: DialTimeout}).DialContext
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
			total.Errors = append(total.Errors, r.Errors...)
		}()
	}
	wg.Wait()
	sort.Strings(total.Errors) // each begins with its time
	if len(total.Errors) > MaxErrors {
		total.Errors = total.Errors[:MaxErrors]
	}
	return total
}

// failure is one failed request, kept until it is known whether it began before the
// target's first success.
type failure struct {
	begin time.Time
	text  string
}

func runOne(stop context.Context, client *http.Client, interval time.Duration, t Target, onStart func(Target)) Result {
	var (
		mu        sync.Mutex
		r         Result
		firstOK   time.Time // when the first success began
		failures  []failure
		inflight  sync.WaitGroup
		announced bool
	)
	tick := time.NewTicker(interval)
	defer tick.Stop()
loop:
	for {
		select {
		case <-stop.Done():
			break loop
		case <-tick.C:
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			begin := time.Now()
			err := ask(client, t)
			took := time.Since(begin)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, failure{begin, fmt.Sprintf("%s %s after %s: %v", begin.UTC().Format("15:04:05.000"), t, took.Round(time.Millisecond), err)})
				return
			}
			r.OK++
			r.SlowestMS = max(r.SlowestMS, took.Milliseconds())
			if took >= SlowAfter {
				r.Slow++
			}
			if firstOK.IsZero() || begin.Before(firstOK) {
				firstOK = begin
			}
			if !announced && onStart != nil {
				announced = true
				onStart(t)
			}
		}()
	}
	inflight.Wait()
	for _, f := range failures {
		if firstOK.IsZero() || f.begin.Before(firstOK) {
			r.Pending++
			continue
		}
		r.Failed++
		r.Errors = append(r.Errors, f.text)
	}
	sort.Strings(r.Errors)
	if len(r.Errors) > MaxErrors {
		r.Errors = r.Errors[:MaxErrors]
	}
	return r
}

// trail records, with the time since the request began, what a request's name
// resolved to and how each connection attempt ended, for its failure message.
type trail struct {
	mu    sync.Mutex
	begin time.Time
	lines []string
}

func (tr *trail) note(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.lines = append(tr.lines, fmt.Sprintf("+%dms ", time.Since(tr.begin).Milliseconds())+fmt.Sprintf(format, args...))
}

// trace is the client trace that fills the trail.
func (tr *trail) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		DNSDone: func(i httptrace.DNSDoneInfo) {
			if i.Err != nil {
				tr.note("lookup: %v", i.Err)
				return
			}
			addrs := make([]string, len(i.Addrs))
			for n, a := range i.Addrs {
				addrs[n] = a.String()
			}
			tr.note("resolved %s", strings.Join(addrs, " "))
		},
		ConnectDone: func(_, addr string, err error) {
			if err != nil {
				tr.note("connect %s: %v", addr, err)
				return
			}
			tr.note("connected %s", addr)
		},
	}
}

// fail is err with the trail, when there is one.
func (tr *trail) fail(err error) error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.lines) == 0 {
		return err
	}
	return fmt.Errorf("%w [%s]", err, strings.Join(tr.lines, "; "))
}

// ask makes one request; any answer but a 2xx is a failure. A failure says which
// addresses the name resolved to and how each connection attempt ended.
func ask(client *http.Client, t Target) error {
	method := t.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if t.Body != nil {
		body = bytes.NewReader(t.Body)
	}
	tr := &trail{begin: time.Now()}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), tr.trace()), method, t.URL, body)
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
			err = uerr.Err // the URL is in the target already, its query left out
		}
		return tr.fail(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return tr.fail(fmt.Errorf("read body: %w", err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
