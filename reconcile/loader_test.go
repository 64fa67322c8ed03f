package reconcile

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// Wait reports a load finished only once its Done callback has returned: whoever
// waits for a load may rely on it being recorded, and a later record (such as
// `down`'s) is never overwritten by a late one. Result sees the load's end before
// Done runs: the run's record stage, which Done may be waiting for, must know it.
func TestLoadFinishedOnlyAfterDone(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"model_file": "m.tar.gz"})
	}))
	t.Cleanup(srv.Close)
	entered, release := make(chan struct{}), make(chan struct{})
	recorded := make(chan struct{})
	l := NewLoader(nil, LoaderOptions{Timeout: time.Minute,
		Address: func(context.Context, string, compose.RenderedEnvironment) (string, error) { return srv.URL, nil },
		Done: func(LoadResult) {
			close(entered)
			<-release
			close(recorded)
		}})
	t.Cleanup(l.Close)
	var releaseOnce sync.Once
	releaseDone := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseDone) // before Close: a failed test must not leave Done blocked
	l.Start(LoadRequest{Project: "p", Environment: compose.RenderedEnvironment{Name: "prod", Model: "m"}})
	<-entered
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if res := l.Wait(cancelled, []string{"prod"}); len(res) != 0 {
		t.Fatal("Wait reports the load finished while its Done callback runs")
	}
	if _, ended := l.Result("prod"); !ended {
		t.Error("Result does not see a load whose result is set (a record stage would wait for it)")
	}
	releaseDone()
	res := l.Wait(context.Background(), []string{"prod"})
	select {
	case <-recorded:
	default:
		t.Fatal("Wait returned before the Done callback finished")
	}
	if len(res) != 1 || !res[0].Synced {
		t.Fatalf("load: %+v", res)
	}
}

// countingRasa is a Rasa server's GET /status serving file, counting the questions;
// with hold set it answers only once hold closes (or the request ends).
func countingRasa(t *testing.T, file string, hold chan struct{}) (srv *httptest.Server, asked *atomic.Int32) {
	asked = &atomic.Int32{}
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		json.NewEncoder(w).Encode(map[string]string{"model_file": file})
	}))
	t.Cleanup(srv.Close)
	return srv, asked
}

// hostPort splits an httptest server's address into IP and port.
func hostPort(t *testing.T, srv *httptest.Server) (string, int) {
	addr := srv.Listener.Addr().(*net.TCPAddr)
	return addr.IP.String(), addr.Port
}

// The model stage takes a recorded answer (apply's no-op check asked there at process
// start) when the observation shows the container at that address, and asks the
// others where they are now, without waiting for a recorded address that no longer
// answers.
func TestAskEarlyTakesConfirmedRecordedAnswers(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold) // before the servers close (cleanups run after)
	prodSrv, prodAsked := countingRasa(t, "v1.tar.gz", nil)
	workerSrv, workerAsked := countingRasa(t, "v2.tar.gz", nil)
	stale, _ := countingRasa(t, "old.tar.gz", hold) // worker's recorded address: answers never
	prodIP, prodPort := hostPort(t, prodSrv)
	workerIP, workerPort := hostPort(t, workerSrv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a bound, not synchronisation
	defer cancel()
	snap := Converged{Project: "p", Environments: []ConvergedEnvironment{
		{Name: "prod", Service: "rasa-prod", Port: prodPort, URL: prodSrv.URL},
		{Name: "worker", Service: "rasa-worker", Port: workerPort, URL: stale.URL},
	}}
	recorded := AskRecorded(ctx, snap, &http.Client{})
	if _, ok := recorded.Confirmed(ctx, "prod", prodIP, prodPort); !ok {
		t.Fatal("prod's recorded answer is not confirmed at its own address")
	}
	envs := []compose.RenderedEnvironment{{Name: "prod", Service: "rasa-prod", Port: prodPort}, {Name: "worker", Service: "rasa-worker", Port: workerPort}}
	listed := map[string]string{ContainerName("p", "rasa-prod"): prodIP, ContainerName("p", "rasa-worker"): workerIP}
	l := NewLoader(nil, LoaderOptions{})
	t.Cleanup(l.Close)
	ans, ok := l.AskEarly(ctx, "p", envs, listed, recorded).Wait(ctx)
	if !ok {
		t.Fatal("AskEarly waited for a recorded address that does not answer")
	}
	if ans.served["prod"] != "v1.tar.gz" || ans.served["worker"] != "v2.tar.gz" {
		t.Errorf("answers: %v", ans.served)
	}
	if n, m := prodAsked.Load(), workerAsked.Load(); n != 1 || m != 1 {
		t.Errorf("prod asked %d times (want once, at its recorded address), worker %d (want once, where it is)", n, m)
	}
}
