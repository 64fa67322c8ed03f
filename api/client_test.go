package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/state"
)

// fakeDaemon answers like the daemon's API: it needs the bearer token, writes a status
// and records the sync requests.
func fakeDaemon(t *testing.T, want string, syncs *[]string) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(StatusResponse{Ready: true, Environments: []state.EnvStatus{{Name: "production"}}})
	})
	mux.HandleFunc("POST /api/sync", func(w http.ResponseWriter, r *http.Request) {
		*syncs = append(*syncs, r.URL.RawQuery)
		w.WriteHeader(http.StatusAccepted)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+want {
			http.Error(w, "send Authorization: Bearer <api token>", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClientSendsTokenAndDecodesStatus(t *testing.T) {
	var syncs []string
	srv := fakeDaemon(t, "client-token", &syncs)
	c := NewClient(srv.URL+"/", "client-token")
	if c.Server() != srv.URL {
		t.Errorf("Server() = %q, want the address without its trailing slash", c.Server())
	}
	resp, err := c.Status(context.Background())
	if err != nil || !resp.Ready || len(resp.Environments) != 1 || resp.Environments[0].Name != "production" {
		t.Fatalf("Status = %+v, %v", resp, err)
	}
	if err := c.Sync(context.Background(), false); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := c.Sync(context.Background(), true); err != nil {
		t.Fatalf("Sync (force): %v", err)
	}
	if len(syncs) != 2 || syncs[0] != "" || syncs[1] != "forceWindow=true" {
		t.Errorf("sync queries %q", syncs)
	}
}

func TestClientQuotesTheRefusal(t *testing.T) {
	srv := fakeDaemon(t, "client-token", new([]string))
	err := NewClient(srv.URL, "wrong").Do(context.Background(), http.MethodGet, "/api/status", nil)
	want := "daemon at " + srv.URL + ": 401: the API token was refused (check --api-token-file, or $RASA_GITOPS_API_TOKEN)"
	if err == nil || err.Error() != want {
		t.Errorf("wrong token: %v, want %q", err, want)
	}
	err = NewClient("http://127.0.0.1:1", "t").Do(context.Background(), http.MethodGet, "/api/status", nil)
	if err == nil || !strings.HasPrefix(err.Error(), "reach the daemon at http://127.0.0.1:1: ") {
		t.Errorf("no daemon: %v", err)
	}
}

func TestClientSaysWhenTheTokenIsRefused(t *testing.T) {
	var syncs []string
	srv := fakeDaemon(t, "right-token", &syncs)
	_, err := NewClient(srv.URL, "wrong-token").Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401: the API token was refused (check --api-token-file") || strings.Contains(err.Error(), "{") {
		t.Errorf("err = %v", err)
	}
}

func TestClientTakesAnAddressWithoutScheme(t *testing.T) {
	var syncs []string
	srv := fakeDaemon(t, "client-token", &syncs)
	c := NewClient(strings.TrimPrefix(srv.URL, "http://"), "client-token")
	if c.Server() != srv.URL {
		t.Errorf("server %q, want %q", c.Server(), srv.URL)
	}
	if _, err := c.Status(context.Background()); err != nil {
		t.Errorf("status without a scheme: %v", err)
	}
}
