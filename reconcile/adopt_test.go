package reconcile

import (
	"testing"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// TestUpToDateAcrossHashLabels: a container is kept when it carries rasa-gitops' own
// hash of the service; when an older build kept that hash in Compose's label; and when
// `docker compose up` made it from the rendered file (Compose's hash and the image ID
// match). Anything else is recreated.
func TestUpToDateAcrossHashLabels(t *testing.T) {
	want := DesiredService{Hash: "own-1", ComposeHash: "compose-1", ImageID: "sha256:img-1"}
	for _, tc := range []struct {
		name string
		c    Container
		keep bool
	}{
		{"made by this build", Container{OwnHash: "own-1", ConfigHash: "compose-1", ImageID: "sha256:img-1"}, true},
		{"made by this build, changed since", Container{OwnHash: "own-0", ConfigHash: "compose-1", ImageID: "sha256:img-1"}, false},
		{"made by an older build", Container{ConfigHash: "own-1"}, true},
		{"made by docker compose from the rendered file", Container{ConfigHash: "compose-1", ImageID: "sha256:img-1"}, true},
		{"made by docker compose, another image", Container{ConfigHash: "compose-1", ImageID: "sha256:img-0"}, false},
		{"made by docker compose, another configuration", Container{ConfigHash: "compose-0", ImageID: "sha256:img-1"}, false},
		{"own hash wins over a matching Compose hash", Container{OwnHash: "own-0", ConfigHash: "compose-1", ImageID: "sha256:img-1"}, false},
	} {
		if got := upToDate(tc.c, want); got != tc.keep {
			t.Errorf("%s: up to date = %v, want %v", tc.name, got, tc.keep)
		}
	}
}

// TestSnapshotKeepsWhatAdoptionNeeds: the desired state a snapshot gives back (the
// no-op check's) adopts a container `docker compose up` made exactly as the rendered
// desired state does, so a host brought up by Compose looks converged after one apply.
func TestSnapshotKeepsWhatAdoptionNeeds(t *testing.T) {
	d := desiredOf(DesiredService{Config: svc("rasa-production", "own-1").Config, Hash: "own-1", ComposeHash: "compose-1", ImageID: "sha256:img-1"})
	composeMade := Container{ConfigHash: "compose-1", ImageID: "sha256:img-1"}
	r := &compose.Rendered{}
	back := Snapshot(d, r, "fingerprint", "tags", nil).desired().Services["rasa-production"]
	if !upToDate(composeMade, d.Services["rasa-production"]) || !upToDate(composeMade, back) {
		t.Fatalf("adopted from the render: %v; from the snapshot: %v (snapshot's service %+v)",
			upToDate(composeMade, d.Services["rasa-production"]), upToDate(composeMade, back), back)
	}
}
