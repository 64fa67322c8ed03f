package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeModelServer serves one model archive per tag the way the daemon's model server
// does, and records what the Rasa client sent.
type fakeModelServer struct {
	mu       sync.Mutex
	model    []byte
	etag     string
	name     string
	requests []*http.Request
}

func (f *fakeModelServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Clone(context.Background()))
	if r.URL.Query().Get("token") != "model-token" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if f.model == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("ETag", f.etag)
	w.Header().Set("filename", f.name)
	w.Header().Set("Content-Type", "application/gzip")
	w.Write(f.model)
}

func (f *fakeModelServer) set(name, etag string, model []byte) {
	f.mu.Lock()
	f.name, f.etag, f.model = name, etag, model
	f.mu.Unlock()
}

func (f *fakeModelServer) last() *http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1]
}

func (f *fakeModelServer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// waitRequests waits until the server has had n requests.
func (f *fakeModelServer) waitRequests(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for f.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests to the model server within %v, want %d", f.count(), within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func quickstartModel(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../../examples/quickstart/models", name+".tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func startStub(t *testing.T, models *httptest.Server, interval string) string {
	t.Helper()
	dir := t.TempDir()
	endpoints := filepath.Join(dir, "endpoints.yml")
	if err := os.WriteFile(endpoints, []byte("models:\n  url: ${STUB_MODEL_SERVER}/tags/production\n  token: ${STUB_MODEL_TOKEN}\n  wait_time_between_pulls: "+interval+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STUB_MODEL_SERVER", models.URL)
	t.Setenv("STUB_MODEL_TOKEN", "model-token")
	cfg, err := parseArgs([]string{"run", "--enable-api", "--port", "1", "--auth-token", "secret", "--endpoints", endpoints, "--cors", "*"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.port = 0 // any free port, for the test
	cfg.modelDir = filepath.Join(dir, "models")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log.New(io.Discard, "", 0), ready) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case addr := <-ready:
		return "http://" + strings.Replace(addr, "[::]", "127.0.0.1", 1)
	case err := <-done:
		t.Fatalf("stub stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("stub did not start")
	}
	return ""
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("GET %s: the %d answer is not JSON: %v", url, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

func TestStubPullsLikeRasa(t *testing.T) {
	models := &fakeModelServer{}
	models.set("moodbot-v1.tar.gz", "etag-v1", quickstartModel(t, "moodbot-v1"))
	srv := httptest.NewServer(models)
	defer srv.Close()
	stub := startStub(t, srv, "1")

	// The first pull happened before the port opened.
	code, status := getJSON(t, stub+"/status?token=secret")
	if code != 200 || status["model_file"] != "moodbot-v1.tar.gz" || status["model_id"] != "moodbot-v1" {
		t.Fatalf("status %d %v", code, status)
	}
	first := models.last()
	if first.URL.Query().Get("token") != "model-token" || first.Header.Get("If-None-Match") != "" {
		t.Errorf("first pull: query %q, If-None-Match %q", first.URL.RawQuery, first.Header.Get("If-None-Match"))
	}
	if code, _ := getJSON(t, stub+"/status"); code != http.StatusUnauthorized {
		t.Errorf("/status without token: %d", code)
	}

	// The next pull revalidates with the loaded model's ETag and keeps it on 204.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && models.last().Header.Get("If-None-Match") != "etag-v1" {
		time.Sleep(50 * time.Millisecond)
	}
	if got := models.last().Header.Get("If-None-Match"); got != "etag-v1" {
		t.Fatalf("revalidation sent If-None-Match %q", got)
	}

	// Retagging on the server: the stub loads the new model within its interval.
	models.set("moodbot-v2.tar.gz", "etag-v2", quickstartModel(t, "moodbot-v2"))
	for time.Now().Before(deadline.Add(5 * time.Second)) {
		if _, st := getJSON(t, stub+"/status?token=secret"); st["model_id"] == "moodbot-v2" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, st := getJSON(t, stub+"/status?token=secret"); st["model_file"] != "moodbot-v2.tar.gz" || st["fingerprint"] != "etag-v2" {
		t.Fatalf("after retag: %v", st)
	}

	// A broken model is not loaded and does not change the ETag sent back. Pulls are
	// sequential: the first after the retag gets the broken model, the second comes
	// once the stub's load of it has failed.
	models.set("broken.tar.gz", "etag-broken", []byte("not gzip"))
	models.waitRequests(t, models.count()+2, 10*time.Second)
	if _, st := getJSON(t, stub+"/status?token=secret"); st["model_id"] != "moodbot-v2" || st["fingerprint"] != "etag-v2" {
		t.Fatalf("a failed load changed the served model: %v", st)
	}
	if got := models.last().Header.Get("If-None-Match"); got != "etag-v2" {
		t.Errorf("after a failed load the stub sent If-None-Match %q, want etag-v2", got)
	}
}

func TestStubRoutes(t *testing.T) {
	models := &fakeModelServer{}
	srv := httptest.NewServer(models)
	defer srv.Close()
	stub := startStub(t, srv, "null")

	resp, err := http.Get(stub + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "Hello from Rasa: 3.") {
		t.Errorf("GET / = %d %q", resp.StatusCode, body)
	}
	if code, v := getJSON(t, stub+"/version"); code != 200 || v["version"] != RasaVersion {
		t.Errorf("/version = %d %v", code, v)
	}
	// No model yet (404 from the server): /status and parse answer 409, as Rasa 3 does.
	if code, _ := getJSON(t, stub+"/status?token=secret"); code != http.StatusConflict {
		t.Errorf("/status without a model = %d, want 409", code)
	}
	parse, err := http.Post(stub+"/model/parse?token=secret", "application/json", strings.NewReader(`{"text":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	if parse.StatusCode != http.StatusConflict {
		t.Errorf("parse without a model = %d", parse.StatusCode)
	}
	parse.Body.Close()

	// PUT /model with a model server loads at once (the daemon's nudge).
	models.set("moodbot-v1.tar.gz", "etag-v1", quickstartModel(t, "moodbot-v1"))
	req, err := http.NewRequest(http.MethodPut, stub+"/model?token=secret", strings.NewReader(`{"model_server":{"url":"`+srv.URL+`/tags/production","token":"model-token","wait_time_between_pulls":"5"}}`))
	if err != nil {
		t.Fatal(err)
	}
	put, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	put.Body.Close()
	if put.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT /model = %d", put.StatusCode)
	}
	if _, st := getJSON(t, stub+"/status?token=secret"); st["model_id"] != "moodbot-v1" {
		t.Errorf("after PUT /model: %v", st)
	}
	hook, err := http.Post(stub+"/webhooks/rest/webhook", "application/json", strings.NewReader(`{"sender":"me","message":"hello"}`))
	if err != nil {
		t.Fatal(err)
	}
	var replies []map[string]any
	err = json.NewDecoder(hook.Body).Decode(&replies)
	hook.Body.Close()
	if err != nil {
		t.Fatalf("webhook replies are not JSON: %v", err)
	}
	if len(replies) != 1 || replies[0]["recipient_id"] != "me" || !strings.Contains(replies[0]["text"].(string), "(v1)") {
		t.Errorf("webhook replies %v", replies)
	}
}

func TestParseArgsRejectsNonRun(t *testing.T) {
	if _, err := parseArgs([]string{"train"}); err == nil {
		t.Error("train accepted")
	}
	if _, err := parseArgs([]string{"run", "--bogus"}); err == nil {
		t.Error("unknown flag accepted")
	}
	cfg, err := parseArgs([]string{"run", "--enable-api", "--port", "6000", "--auth-token", "t", "--endpoints", "/app/e.yml", "--credentials", "/app/c.yml", "--cors", "*", "--debug"})
	if err != nil || cfg.port != 6000 || cfg.authToken != "t" || cfg.endpoints != "/app/e.yml" || !cfg.enableAPI {
		t.Errorf("cfg %+v err %v", cfg, err)
	}
}

// TestShutdownFinishesRequestsInFlight: on SIGTERM the server stops accepting, then lets
// the requests in flight end before serve returns (and the process exits), as Rasa's
// server does: a client whose request the old container of a replace is handling gets
// its answer. The request here is a PUT /model whose pull the model server holds.
func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	pulling, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	models := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(pulling)
		<-release
		w.WriteHeader(http.StatusNotFound) // no model: the load changes nothing
	}))
	defer models.Close()
	defer once.Do(func() { close(release) }) // before Close, which waits for the handler
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready, errc := make(chan string, 1), make(chan error, 1)
	cfg := config{port: 0, enableAPI: true, modelDir: t.TempDir(), endpoints: filepath.Join(t.TempDir(), "none.yml")}
	go func() { errc <- serve(ctx, cfg, log.New(io.Discard, "", 0), ready) }()
	addr := <-ready
	answer := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/model", strings.NewReader(`{"model_server": {"url": "`+models.URL+`"}}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("the request in flight got no answer: %v", err)
		}
		answer <- resp
	}()
	<-pulling
	cancel()
	for { // until the listener is closed: new connections are refused
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
	}
	select {
	case err := <-errc:
		t.Fatalf("serve returned (%v) with a request in flight", err)
	default:
	}
	once.Do(func() { close(release) })
	if resp := <-answer; resp != nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("status %d", resp.StatusCode)
		}
	}
	if err := <-errc; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// newDrainListener is a drainListener on a loopback port, closed when the test ends.
func newDrainListener(t *testing.T) *drainListener {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &drainListener{TCPListener: tcp.(*net.TCPListener)}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestDrainAcceptsTheQueuedConnections: connections whose handshake the kernel
// completed before the shutdown (queued, not yet accepted) are accepted by a
// draining listener, with the requests written on them, instead of being reset by
// the close; then Accept reports the listener closed.
func TestDrainAcceptsTheQueuedConnections(t *testing.T) {
	ln := newDrainListener(t)
	const queued = 5
	for i := 0; i < queued; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i); err != nil {
			t.Fatal(err)
		}
	}
	ln.drain()
	accepted := 0
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			break
		}
		if err != nil {
			t.Fatalf("accept while draining: %v", err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || !strings.HasPrefix(line, "GET /") {
			t.Fatalf("queued connection %d lost its request: %q %v", accepted, line, err)
		}
		accepted++
	}
	if accepted != queued {
		t.Fatalf("drained %d of %d queued connections", accepted, queued)
	}
	// Once drained the socket is closed at once: no connection can queue on it to be
	// reset by a later close.
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("a connection queued on the drained listener")
	}
}

// TestDrainEndsAfterItsBound: past maxDrain the queue is left (a stream of new
// connections would keep it from emptying), so the shutdown begins.
func TestDrainEndsAfterItsBound(t *testing.T) {
	ln := newDrainListener(t)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln.drain()
	ln.until.Store(time.Now().Add(-time.Millisecond).UnixNano()) // as if maxDrain had passed
	if conn, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		if conn != nil {
			conn.Close()
		}
		t.Fatalf("accept past the drain's bound: %v, want net.ErrClosed", err)
	}
}
