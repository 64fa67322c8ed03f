package reconcile

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/needs"

	"github.com/docker/docker/client"
)

// engineProxy stands between the client and the Engine's socket so a test can take the
// Engine away mid-apply (as a restart of dockerd does) without restarting the Engine
// that other tests share.
type engineProxy struct {
	path   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newEngineProxy(t *testing.T) *engineProxy {
	t.Helper()
	target := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		target = strings.TrimPrefix(h, "unix://")
	} else if h != "" {
		needs.Missing(t, "DOCKER_HOST %s is not a unix socket: the Engine proxy needs one", h)
	}
	p := &engineProxy{path: filepath.Join(t.TempDir(), "engine.sock"), target: target, conns: map[net.Conn]bool{}}
	p.up(t)
	t.Cleanup(p.down)
	return p
}

func (p *engineProxy) up(t *testing.T) {
	t.Helper()
	if err := os.Remove(p.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
}

func (p *engineProxy) serve(c net.Conn) {
	up, err := net.Dial("unix", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	// Copy and Close errors are what down causes on purpose: the proxy only relays.
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// down drops the socket and every open connection: the Engine is gone. Close errors
// are ignored: a connection may have ended already.
func (p *engineProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// TestEngineGoneMidApply: the Engine disappears in the middle of an apply; the run
// fails cleanly (every action has an outcome, nothing hangs), and once the Engine is
// back the next run converges with no duplicate or orphaned container.
func TestEngineGoneMidApply(t *testing.T) {
	t.Parallel()
	s := newStack(t, map[string]string{"production": "", "worker": "", "experimental": ""})
	proxy := newEngineProxy(t)
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+proxy.path), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	s.engine = &recording{Engine: cli}
	s.mustConverge()

	for _, env := range []string{"production", "worker", "experimental"} {
		s.files["environments/"+env+".yaml"] = "service:\n  environment:\n    GENERATION: \"2\"\n"
	}
	r := s.render()
	done := make(chan Run, 1)
	start := time.Now()
	go func() {
		run, err := Converge(context.Background(), s.engine, r, "r2", RunOptions{Options: Options{Prune: true},
			ApplyOptions: ApplyOptions{HealthTimeout: 10 * time.Second, StableFor: time.Second}, Timeout: time.Minute})
		if err != nil {
			run.Result.Actions = append(run.Result.Actions, ActionResult{Outcome: OutcomeFailed, Err: err})
		}
		done <- run
	}()
	// Take the Engine away once the first replacement container exists.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(strings.Join(s.engine.mutations(), " "), "-next") {
		if time.Now().After(deadline) {
			t.Fatalf("no replacement container within 20 s: %v", s.engine.mutations())
		}
		time.Sleep(10 * time.Millisecond)
	}
	proxy.down()
	var run Run
	select {
	case run = <-done:
	case <-time.After(45 * time.Second):
		t.Fatal("the apply hung when the Engine went away")
	}
	t.Logf("apply without an Engine ended after %s", time.Since(start).Round(time.Millisecond))
	if run.Result.Err() == nil {
		t.Fatalf("the apply reported success without an Engine: %+v", run.Result.Actions)
	}
	for _, a := range run.Result.Actions {
		if a.Outcome == "" {
			t.Errorf("an action has no outcome: %+v", a)
		}
	}

	proxy.up(t)
	s.mustConverge()
	if plan := s.mustConverge(); !plan.Empty() {
		t.Fatalf("not converged after the Engine came back:\n%s", plan)
	}
	cs := s.containers()
	if len(cs) != 3 {
		t.Errorf("containers after recovery: %v", cs)
	}
	for name, c := range cs {
		if strings.HasSuffix(name, "-next") || c.State != "running" {
			t.Errorf("left over: %s (%s)", name, c.State)
		}
	}
}
