package preview

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sort"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rasa-gitops/rasa-gitops/reconcile"
)

// ErrReadOnly is what every changing Engine call of a preview answers: a preview
// never changes the host, and a bug that tried would fail here, not act.
var ErrReadOnly = errors.New("a preview does not change the Engine")

// ReadOnly wraps an Engine for a preview: lists and inspects pass through, every call
// that would change the host fails with ErrReadOnly, and an image pull is only noted
// (Pulls): a missing image then inspects as "pull:<ref>", so its services plan as the
// apply would plan them after the pull, and nothing is downloaded. An image pulled by
// pull_policy: always plans with the ID it has on the host now.
type ReadOnly struct {
	reconcile.Engine
	mu     sync.Mutex
	pulled map[string]bool
}

// NewReadOnly wraps e.
func NewReadOnly(e reconcile.Engine) *ReadOnly {
	return &ReadOnly{Engine: e, pulled: map[string]bool{}}
}

// Pulls are the images the apply would pull, sorted.
func (r *ReadOnly) Pulls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.pulled))
	for ref := range r.pulled {
		out = append(out, ref)
	}
	sort.Strings(out)
	return out
}

// ImagePull notes the image and pulls nothing.
func (r *ReadOnly) ImagePull(_ context.Context, ref string, _ image.PullOptions) (io.ReadCloser, error) {
	r.mu.Lock()
	r.pulled[ref] = true
	r.mu.Unlock()
	return io.NopCloser(bytes.NewReader(nil)), nil
}

// ImageInspect answers for a missing image a preview "pulled" with a stand-in ID; an
// image on the host (pull_policy: always) keeps its ID, as if the registry had no newer.
func (r *ReadOnly) ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error) {
	img, err := r.Engine.ImageInspect(ctx, ref, opts...)
	r.mu.Lock()
	pulled := r.pulled[ref]
	r.mu.Unlock()
	if pulled && cerrdefs.IsNotFound(err) {
		return image.InspectResponse{ID: "pull:" + ref}, nil
	}
	return img, err
}

// ContainerCreate is refused.
func (*ReadOnly) ContainerCreate(context.Context, *container.Config, *container.HostConfig, *network.NetworkingConfig, *ocispec.Platform, string) (container.CreateResponse, error) {
	return container.CreateResponse{}, ErrReadOnly
}

// ContainerStart is refused.
func (*ReadOnly) ContainerStart(context.Context, string, container.StartOptions) error {
	return ErrReadOnly
}

// ContainerStop is refused.
func (*ReadOnly) ContainerStop(context.Context, string, container.StopOptions) error {
	return ErrReadOnly
}

// ContainerRemove is refused.
func (*ReadOnly) ContainerRemove(context.Context, string, container.RemoveOptions) error {
	return ErrReadOnly
}

// ContainerRename is refused.
func (*ReadOnly) ContainerRename(context.Context, string, string) error { return ErrReadOnly }

// NetworkCreate is refused.
func (*ReadOnly) NetworkCreate(context.Context, string, network.CreateOptions) (network.CreateResponse, error) {
	return network.CreateResponse{}, ErrReadOnly
}

// NetworkConnect is refused.
func (*ReadOnly) NetworkConnect(context.Context, string, string, *network.EndpointSettings) error {
	return ErrReadOnly
}

// NetworkDisconnect is refused.
func (*ReadOnly) NetworkDisconnect(context.Context, string, string, bool) error {
	return ErrReadOnly
}

// NetworkRemove is refused.
func (*ReadOnly) NetworkRemove(context.Context, string) error { return ErrReadOnly }

// VolumeCreate is refused.
func (*ReadOnly) VolumeCreate(context.Context, volume.CreateOptions) (volume.Volume, error) {
	return volume.Volume{}, ErrReadOnly
}

// VolumeRemove is refused.
func (*ReadOnly) VolumeRemove(context.Context, string, bool) error { return ErrReadOnly }
