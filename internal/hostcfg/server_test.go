package hostcfg

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/modelserver"
)

// serveSide serves a model side with one model of size bytes tagged production, with
// the given server timeouts and stall timeout.
func serveSide(t *testing.T, size int, timeouts Timeouts, stall time.Duration) (*Server, *Side) {
	t.Helper()
	side, err := OpenSide(t.TempDir(), "model-token", "api-token")
	if err != nil {
		t.Fatal(err)
	}
	side.Handler.StallTimeout = stall
	model := make([]byte, size)
	rand.Read(model)
	digest, _, err := side.Store.Put(strings.NewReader(string(model)), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := side.Tags.Set(modelserver.Table{Project: "p", Tags: map[string]modelserver.Tag{"production": {Model: "m", Digest: digest}}}); err != nil {
		t.Fatal(err)
	}
	srv, err := ServeWith("127.0.0.1:0", side.Mux(func() bool { return true }), timeouts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv, side
}

// TestServerDropsAStalledUpload: an upload that stops sending is dropped after the
// stall timeout, not held open (a server without read deadlines held it forever).
func TestServerDropsAStalledUpload(t *testing.T) {
	srv, _ := serveSide(t, 1<<10, Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second, Idle: 30 * time.Second}, 200*time.Millisecond)
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := fmt.Fprintf(conn, "POST /api/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer api-token\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"model\"; filename=\"m.tar.gz\"\r\n\r\nabc"); err != nil {
		t.Fatal(err)
	}
	// The server must answer or hang up well before this bound; it never did.
	if err := conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// Any other end (an answer, a reset) is the drop this test wants.
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a stalled upload held its connection for 20 s")
	}
	// Not an early refusal (of the token, say): the server waited for the body.
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("the connection ended after %v, before the stall timeout: the upload was refused, not dropped as stalled", waited)
	}
}

// TestServerKeepsASlowSteadyDownload: a download that takes many times the server's
// WriteTimeout, but keeps moving, is served whole. The model is larger than the
// loopback socket buffers, so the server's writes block on the slow reader.
func TestServerKeepsASlowSteadyDownload(t *testing.T) {
	const size = 24 << 20
	srv, side := serveSide(t, size, Timeouts{ReadHeader: 10 * time.Second, Read: 10 * time.Second, Write: 100 * time.Millisecond, Idle: 10 * time.Second}, 10*time.Second)
	resp, err := http.Get("http://" + srv.Addr() + "/api/projects/p/models/tags/production?token=model-token")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 256<<10)
	buf := make([]byte, 256<<10)
	var got int64
	start := time.Now()
	for {
		n, err := io.ReadFull(r, buf)
		got += int64(n)
		if err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond) // a slow client: 96 reads, about 1 s in all
	}
	if got != size {
		t.Fatalf("got %d of %d bytes in %v (WriteTimeout 100ms)", got, size, time.Since(start))
	}
	if side.Handler.BytesServed.Load() != size {
		t.Errorf("served %d bytes", side.Handler.BytesServed.Load())
	}
}

// TestSuperviseStopsWhenTheServerFails: when the listener fails, the supervised run
// is cancelled and the server's error is returned, not dropped.
func TestSuperviseStopsWhenTheServerFails(t *testing.T) {
	srv, err := Serve("127.0.0.1:0", http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		<-started
		if err := srv.ln.Close(); err != nil {
			t.Errorf("close the listener: %v", err)
		}
	}()
	err = srv.Supervise(context.Background(), func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "http server on "+srv.Addr()+" stopped") {
		t.Fatalf("Supervise = %v, want the server's error", err)
	}
	// A server shut down on purpose is no error.
	srv2, err := Serve("127.0.0.1:0", http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	err = srv2.Supervise(context.Background(), func(ctx context.Context) error { return srv2.Shutdown(time.Second) })
	if err != nil {
		t.Errorf("a shutdown was reported as a failure: %v", err)
	}
}
