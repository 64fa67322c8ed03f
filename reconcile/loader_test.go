package reconcile

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// A load counts as finished (Result, Wait) only once its Done callback has returned:
// whoever waits for a load may rely on it being recorded, and a later record (such as
// `down`'s) is never overwritten by a late one.
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
	if _, done := l.Result("prod"); done {
		t.Fatal("the load is reported finished while its Done callback runs")
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
