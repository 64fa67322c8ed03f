package probe

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunCounts: a server that first answers 503 (pending: before the first success),
// then 200, then 500 is counted as pending, ok and failed, each request on a fresh
// connection, with the failures' errors kept and the token of the query left out.
// (Requests 20 ms apart on loopback do not overlap, so they arrive in order.)
func TestRunCounts(t *testing.T) {
	var n, conns atomic.Int64
	var posted atomic.Value
	enough := make(chan struct{})
	var startedN atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			posted.Store(string(b) + " " + r.Header.Get("Content-Type"))
			return
		}
		switch i := n.Add(1); {
		case i <= 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		case i <= 5:
		default:
			if i == 12 {
				close(enough)
			}
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result)
	go func() {
		done <- Run(ctx, 20*time.Millisecond, []Target{{URL: srv.URL + "/?token=secret"}, {Method: http.MethodPost, URL: srv.URL + "/parse", Body: []byte(`{"text":"hi"}`)}}, func(t Target) { startedN.Add(1) })
	}()
	<-enough
	cancel()
	r := <-done
	get := int(n.Load())
	if r.Pending != 2 || r.OK < 3 || r.Failed != get-5 || r.Failed < 3 {
		t.Errorf("result %+v after %d GETs: want 2 pending, 3 ok GETs (and the POSTs), %d failed", r, get, get-5)
	}
	if startedN.Load() != 2 {
		t.Errorf("started called %d times for 2 targets", startedN.Load())
	}
	if len(r.Errors) != MaxErrors || !strings.Contains(r.Errors[0], "status 500") || strings.Contains(strings.Join(r.Errors, " "), "secret") {
		t.Errorf("errors: %q", r.Errors)
	}
	if got := posted.Load(); got != `{"text":"hi"} application/json` {
		t.Errorf("POST body and type: %v", got)
	}
	if c := conns.Load(); c < int64(r.OK+r.Failed+r.Pending) {
		t.Errorf("%d connections for %d requests: keep-alive is on", c, r.OK+r.Failed+r.Pending)
	}
}

// TestRunDoesNotWaitForSlowRequests: a request that hangs holds no later one back, and
// Run counts it once it ends, even after stop.
func TestRunDoesNotWaitForSlowRequests(t *testing.T) {
	var n atomic.Int64
	release, others := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		switch n.Add(1) {
		case 1:
			<-release
		case 4:
			close(others)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result)
	go func() { done <- Run(ctx, 5*time.Millisecond, []Target{{URL: srv.URL}}, nil) }()
	<-others // three more requests answered while the first hangs
	cancel()
	close(release)
	r := <-done
	if r.OK != int(n.Load()) || r.Failed != 0 || r.Pending != 0 {
		t.Errorf("result %+v for %d requests answered", r, n.Load())
	}
}

// TestAskSaysWhereItConnected: a failed connection names the address it tried.
func TestAskSaysWhereItConnected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = ask(&http.Client{Timeout: Timeout}, Target{URL: "http://" + addr + "/"})
	if err == nil || !strings.Contains(err.Error(), "connect "+addr+": ") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %v", err)
	}
}
