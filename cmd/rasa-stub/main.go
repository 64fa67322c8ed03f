// Command rasa-stub is a small stand-in for a Rasa 3 server, for tests and the demo:
// it accepts Rasa's `run` flags, reads the same endpoints.yml, pulls its model from the
// model server exactly as Rasa 3 does (first pull before the HTTP port opens, then
// every wait_time_between_pulls seconds, If-None-Match with the ETag of the loaded
// model, the body saved under the `filename` header), and answers the HTTP routes the
// daemon and its tests use. It is built FROM scratch into rasa-gitops/rasa-stub:dev.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// RasaVersion is the Rasa version the stub claims on / and /version.
const RasaVersion = "3.6.20"

func main() {
	logger := log.New(os.Stderr, "rasa-stub ", log.LstdFlags|log.LUTC)
	cfg, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "rasa-stub:", err)
		os.Exit(2)
	}
	if cfg.healthcheck != "" {
		os.Exit(healthcheck(cfg.healthcheck))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, logger, nil); err != nil {
		logger.Printf("error: %v", err)
		os.Exit(1)
	}
}

// config is what Rasa's `run` command line says.
type config struct {
	port        int
	authToken   string
	endpoints   string
	credentials string
	cors        string
	modelDir    string
	enableAPI   bool
	healthcheck string // `rasa-stub health URL`: for a Docker HEALTHCHECK without curl
}

// parseArgs reads `run [flags]` the way Rasa 3 does for the flags the daemon renders;
// other Rasa flags that take no effect here are accepted and ignored.
func parseArgs(args []string) (config, error) {
	cfg := config{port: 5005, modelDir: "/app/models"}
	if len(args) >= 2 && args[0] == "health" {
		cfg.healthcheck = args[1]
		return cfg, nil
	}
	if len(args) == 0 || args[0] != "run" {
		return cfg, errors.New("usage: rasa-stub run [--enable-api] [--port N] [--auth-token T] [--endpoints FILE] [--credentials FILE] [--cors ORIGIN]")
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&cfg.port, "port", 5005, "")
	fs.IntVar(&cfg.port, "p", 5005, "")
	fs.StringVar(&cfg.authToken, "auth-token", "", "")
	fs.StringVar(&cfg.endpoints, "endpoints", "endpoints.yml", "")
	fs.StringVar(&cfg.credentials, "credentials", "", "")
	fs.StringVar(&cfg.cors, "cors", "", "")
	fs.StringVar(&cfg.modelDir, "model", cfg.modelDir, "")
	fs.StringVar(&cfg.modelDir, "m", cfg.modelDir, "")
	fs.BoolVar(&cfg.enableAPI, "enable-api", false, "")
	for _, ignored := range []string{"log-file", "response-timeout", "request-timeout", "connector", "jwt-secret", "jwt-method", "ssl-certificate", "ssl-keyfile"} {
		fs.String(ignored, "", "")
	}
	for _, ignored := range []string{"debug", "verbose", "quiet", "d", "v", "remote-storage-off"} {
		fs.Bool(ignored, false, "")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return cfg, fmt.Errorf("run: %w", err)
	}
	if cfg.port < 1 || cfg.port > 65535 {
		return cfg, fmt.Errorf("run: --port %d is not a port", cfg.port)
	}
	return cfg, nil
}

// serve pulls the first model, then opens the HTTP port and keeps pulling until ctx
// ends; then it stops accepting and returns once the requests in flight have ended
// (5 s at most). ready, when set, receives the listening address (for tests).
func serve(ctx context.Context, cfg config, logger *log.Logger, ready chan<- string) error {
	endpoints, err := readEndpoints(cfg.endpoints)
	if err != nil {
		return err
	}
	agent := newAgent(cfg.modelDir, logger)
	if endpoints.Models != nil {
		agent.setServer(*endpoints.Models)
		agent.pull(ctx) // Rasa loads the first model before it serves HTTP
	}
	go agent.pullLoop(ctx)

	tcp, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ln := &drainListener{TCPListener: tcp.(*net.TCPListener)}
	srv := &http.Server{Handler: newHandler(cfg, agent), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		srv.SetKeepAlivesEnabled(false)
		ln.drain()
		<-served // every connection already queued is accepted
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	logger.Printf("rasa server is up and running on port %d", cfg.port)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	err = srv.Serve(ln)
	close(served)
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return err
	}
	// Serve returns as soon as the shutdown begins: the requests in flight end first,
	// as on Rasa's server, or the process would exit under them.
	<-stopped
	return nil
}

// drainListener lets a shutdown take the connections already queued on the listening
// socket before it closes: closing it at once resets every connection whose handshake
// the kernel completed but the server had not accepted yet, and a client that
// resolved the service's name to this container a moment before its stop gets a
// reset instead of an answer. After drain, Accept returns what is queued, then
// net.ErrClosed.
type drainListener struct {
	*net.TCPListener
	draining atomic.Bool
	until    atomic.Int64 // unix nanoseconds after which the queue is no longer drained
}

// maxDrain bounds the drain: under a steady stream of new connections the queue never
// empties, and the shutdown must still begin.
const maxDrain = time.Second

// drain makes Accept stop waiting for new connections (a deadline wakes a waiting one).
func (l *drainListener) drain() {
	l.until.Store(time.Now().Add(maxDrain).UnixNano())
	l.draining.Store(true)
	_ = l.SetDeadline(time.Now())
}

// Accept returns the next connection; once draining, the next queued one, or
// net.ErrClosed when none is queued.
func (l *drainListener) Accept() (net.Conn, error) {
	if !l.draining.Load() {
		c, err := l.TCPListener.Accept()
		if err == nil || !l.draining.Load() {
			return c, err
		}
	}
	return l.acceptQueued()
}

// acceptQueued accepts one connection the kernel has queued, without waiting (the
// listening socket is non-blocking: an empty queue answers EAGAIN). Go's own Accept
// cannot: past its deadline it fails before it asks the kernel.
func (l *drainListener) acceptQueued() (net.Conn, error) {
	if time.Now().UnixNano() > l.until.Load() {
		_ = l.TCPListener.Close()
		return nil, net.ErrClosed
	}
	rc, err := l.SyscallConn()
	if err != nil {
		return nil, net.ErrClosed
	}
	nfd, aerr := -1, error(nil)
	accept := func(fd uintptr) {
		for { // a signal or a connection reset before it was taken: try the next
			nfd, _, aerr = syscall.Accept4(int(fd), syscall.SOCK_CLOEXEC)
			if aerr != syscall.EINTR && aerr != syscall.ECONNABORTED {
				return
			}
		}
	}
	if err := rc.Control(accept); err != nil || aerr != nil {
		// The queue is empty: close the socket at once, so that no connection can
		// queue in the moment before the shutdown would close it (and reset it).
		_ = l.TCPListener.Close()
		return nil, net.ErrClosed
	}
	f := os.NewFile(uintptr(nfd), "queued connection")
	defer f.Close()
	return net.FileConn(f)
}

// healthcheck exits 0 when url answers 200: a HEALTHCHECK for images with no curl.
func healthcheck(url string) int {
	client := http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}
