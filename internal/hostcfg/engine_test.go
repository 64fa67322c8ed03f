package hostcfg

import (
	"context"
	"testing"

	"github.com/docker/docker/api"
	"github.com/docker/docker/api/types/versions"

	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

// TestConnectEngineSettlesTheAPIVersionFirst: the client ConnectEngine returns already
// speaks the Engine's API version, before any request of its own. Negotiated on the
// first request instead, two first requests made at once (down's observation) raced
// on it (go test -race caught the client writing the version while another request
// read it).
func TestConnectEngineSettlesTheAPIVersionFirst(t *testing.T) {
	ctx := context.Background()
	server, err := testengine.Connect(t).ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := api.DefaultVersion
	if versions.LessThan(server.APIVersion, want) {
		want = server.APIVersion
	}
	engine, err := ConnectEngine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	if got := engine.ClientVersion(); got != want {
		t.Fatalf("the client speaks API %s before its first request; the Engine speaks %s, so want %s", got, server.APIVersion, want)
	}
}
