package hostcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Timeouts bound how long one client may hold a connection of the host's HTTP servers.
// The model download and upload, which may rightly last longer than Write and Read,
// extend their deadline as each chunk moves (modelserver.Handler.StallTimeout), so a
// client that stops reading or sending is dropped while a slow one is not.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// DefaultTimeouts are the timeouts of Serve.
var DefaultTimeouts = Timeouts{ReadHeader: 10 * time.Second, Read: time.Minute, Write: time.Minute, Idle: 2 * time.Minute}

// Server is an HTTP server of the host (the model server, or the daemon's API)
// listening on its address. The listener is opened before Serve returns, so that a
// taken address is an error of the command rather than a log line later.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan error // Serve's error, once; closed after
}

// Serve listens on addr and serves handler in the background with DefaultTimeouts.
func Serve(addr string, handler http.Handler) (*Server, error) {
	return ServeWith(addr, handler, DefaultTimeouts)
}

// ServeWith is Serve with other timeouts.
func ServeWith(addr string, handler http.Handler, t Timeouts) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	s := &Server{ln: ln, done: make(chan error, 1), srv: &http.Server{Handler: handler,
		ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle}}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
		close(s.done)
	}()
	return s, nil
}

// Addr is the address the server listens on (the port chosen, for ":0").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Done yields the error that stopped the server (nil after Shutdown), then closes.
func (s *Server) Done() <-chan error { return s.done }

// Supervise runs run until it returns, cancelling its context if the server stops
// serving on its own (its listener failed): a daemon whose model server or API is gone
// must not carry on as if it were reachable. The server's error is returned with run's.
func (s *Server) Supervise(ctx context.Context, run func(context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var serveErr error
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case err := <-s.done:
			if err != nil {
				serveErr = fmt.Errorf("http server on %s stopped: %w", s.Addr(), err)
				cancel(serveErr)
			}
		case <-ctx.Done():
		}
	}()
	err := run(ctx)
	cancel(nil)
	<-watched
	return errors.Join(err, serveErr)
}

// Shutdown stops the server, letting requests in flight finish for at most timeout.
func (s *Server) Shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
