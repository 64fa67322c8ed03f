package preview

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/rasa-gitops/rasa-gitops/internal/memengine"
)

// TestReadOnlyRefusesEveryChange: every Engine call that would change the host
// answers ErrReadOnly and reaches nothing; a pull is only noted, and the image it
// names then inspects as a stand-in.
func TestReadOnlyRefusesEveryChange(t *testing.T) {
	ctx := context.Background()
	mem := memengine.New()
	e := NewReadOnly(mem)
	calls := map[string]func() error{
		"ContainerCreate": func() error {
			_, err := e.ContainerCreate(ctx, &container.Config{Image: "x"}, &container.HostConfig{}, nil, nil, "c")
			return err
		},
		"ContainerStart":    func() error { return e.ContainerStart(ctx, "c", container.StartOptions{}) },
		"ContainerStop":     func() error { return e.ContainerStop(ctx, "c", container.StopOptions{}) },
		"ContainerRemove":   func() error { return e.ContainerRemove(ctx, "c", container.RemoveOptions{}) },
		"ContainerRename":   func() error { return e.ContainerRename(ctx, "c", "d") },
		"NetworkCreate":     func() error { _, err := e.NetworkCreate(ctx, "n", network.CreateOptions{}); return err },
		"NetworkConnect":    func() error { return e.NetworkConnect(ctx, "n", "c", nil) },
		"NetworkDisconnect": func() error { return e.NetworkDisconnect(ctx, "n", "c", true) },
		"NetworkRemove":     func() error { return e.NetworkRemove(ctx, "n") },
		"VolumeCreate":      func() error { _, err := e.VolumeCreate(ctx, volume.CreateOptions{Name: "v"}); return err },
		"VolumeRemove":      func() error { return e.VolumeRemove(ctx, "v", true) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: %v, want ErrReadOnly", name, err)
		}
	}
	if m := mem.Mutations(); len(m) != 0 {
		t.Errorf("calls reached the Engine: %v", m)
	}
	if _, err := e.ImageInspect(ctx, "rasa/rasa:9"); err == nil {
		t.Fatal("a missing image inspects before any pull")
	}
	rc, err := e.ImagePull(ctx, "rasa/rasa:9", image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := io.ReadAll(rc); len(data) != 0 {
		t.Errorf("the pull streamed %q", data)
	}
	if img, err := e.ImageInspect(ctx, "rasa/rasa:9"); err != nil || img.ID != "pull:rasa/rasa:9" {
		t.Errorf("after the noted pull: %+v %v", img.ID, err)
	}
	if p := e.Pulls(); len(p) != 1 || p[0] != "rasa/rasa:9" {
		t.Errorf("pulls %v", p)
	}
	if _, err := mem.ImageInspect(ctx, "rasa/rasa:9"); err == nil {
		t.Error("the image reached the Engine")
	}
	// pull_policy: always pulls an image the host has: it plans with its ID now.
	id := mem.AddImage("rasa/rasa:3")
	if _, err := e.ImagePull(ctx, "rasa/rasa:3", image.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if img, err := e.ImageInspect(ctx, "rasa/rasa:3"); err != nil || img.ID != id {
		t.Errorf("an image on the host, pulled again: %q %v, want %q", img.ID, err, id)
	}
}
