package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/internal/probe"
)

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fake-service")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// probeRun runs `fake-service probe URL...`, sends SIGTERM once ready is closed, and
// reads the one JSON line it prints.
func probeRun(t *testing.T, bin string, ready <-chan struct{}, urls ...string) probe.Result {
	t.Helper()
	var stdout bytes.Buffer
	cmd := exec.Command(bin, append([]string{"probe"}, urls...)...)
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	<-ready
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("probe exited: %v", err)
	}
	var r probe.Result
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil || bytes.Count(stdout.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("output %q: %v", stdout.String(), err)
	}
	return r
}

// TestProbeMode: `fake-service probe URL URL` asks both URLs until SIGTERM, then prints
// one JSON line of counts and exits 0.
func TestProbeMode(t *testing.T) {
	bin := build(t)
	var a, b sync.Once
	askedA, askedB := make(chan struct{}), make(chan struct{})
	srvA := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { a.Do(func() { close(askedA) }) }))
	defer srvA.Close()
	srvB := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { b.Do(func() { close(askedB) }) }))
	defer srvB.Close()
	both := make(chan struct{})
	go func() { <-askedA; <-askedB; close(both) }()
	r := probeRun(t, bin, both, srvA.URL+"/", srvB.URL+"/")
	if r.OK < 2 || r.Failed != 0 || len(r.Errors) != 0 {
		t.Errorf("result %+v", r)
	}
}

// TestProbeModeFailures: a URL that answers 503 after its first success is counted as
// failed, with the error.
func TestProbeModeFailures(t *testing.T) {
	bin := build(t)
	var n atomic.Int64
	failed := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		switch i := n.Add(1); {
		case i == 1:
		case i == 4:
			close(failed)
			fallthrough
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	r := probeRun(t, bin, failed, srv.URL+"/")
	if r.OK != 1 || r.Failed < 3 || r.Pending != 0 || len(r.Errors) == 0 || !strings.Contains(r.Errors[0], "status 503") {
		t.Errorf("result %+v", r)
	}
}

// TestHealthCommandMode: under a health check's name it exits 0 at once; `probe` with
// no URL is a usage error.
func TestHealthCommandMode(t *testing.T) {
	bin := build(t)
	health := filepath.Join(filepath.Dir(bin), "pg_isready")
	if err := os.Symlink(bin, health); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(health, "-U", "postgres").Run(); err != nil {
		t.Errorf("pg_isready: %v", err)
	}
	if err := exec.Command(bin, "probe").Run(); err == nil {
		t.Error("probe with no URL succeeded")
	}
}
