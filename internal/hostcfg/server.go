package hostcfg

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is an HTTP server of the host (the model server, or the daemon's API)
// listening on its address. The listener is opened before Serve returns, so that a
// taken address is an error of the command rather than a log line later.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Serve listens on addr and serves handler in the background.
func Serve(addr string, handler http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return &Server{ln: ln, srv: srv}, nil
}

// Addr is the address the server listens on (the port chosen, for ":0").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops the server, letting requests in flight finish for at most timeout.
func (s *Server) Shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
