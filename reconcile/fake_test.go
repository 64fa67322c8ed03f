package reconcile

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeEngine is a hand-written, in-memory Engine for the planner's unit tests: it
// only lists what it holds. Every other call fails, so a planner test cannot mutate.
type fakeEngine struct {
	containers []container.Summary
	networks   []network.Summary
	volumes    []*volume.Volume
}

var errFake = errors.New("fakeEngine: not for mutating calls")

// matches applies the label filters Observe sends.
func matches(labels map[string]string, opts []string) bool {
	for _, f := range opts {
		k, v, _ := strings.Cut(f, "=")
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (f *fakeEngine) ContainerList(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	var out []container.Summary
	for _, c := range f.containers {
		if matches(c.Labels, o.Filters.Get("label")) {
			out = append(out, c)
		}
	}
	return out, nil
}
func (f *fakeEngine) NetworkList(_ context.Context, o network.ListOptions) ([]network.Summary, error) {
	var out []network.Summary
	for _, n := range f.networks {
		if matches(n.Labels, o.Filters.Get("label")) {
			out = append(out, n)
		}
	}
	return out, nil
}
func (f *fakeEngine) VolumeList(_ context.Context, o volume.ListOptions) (volume.ListResponse, error) {
	var out volume.ListResponse
	for _, v := range f.volumes {
		if matches(v.Labels, o.Filters.Get("label")) {
			out.Volumes = append(out.Volumes, v)
		}
	}
	return out, nil
}
func (f *fakeEngine) ContainerInspect(context.Context, string) (container.InspectResponse, error) {
	return container.InspectResponse{}, errFake
}
func (f *fakeEngine) ContainerCreate(context.Context, *container.Config, *container.HostConfig, *network.NetworkingConfig, *ocispec.Platform, string) (container.CreateResponse, error) {
	return container.CreateResponse{}, errFake
}
func (f *fakeEngine) ContainerStart(context.Context, string, container.StartOptions) error {
	return errFake
}
func (f *fakeEngine) ContainerStop(context.Context, string, container.StopOptions) error {
	return errFake
}
func (f *fakeEngine) ContainerRemove(context.Context, string, container.RemoveOptions) error {
	return errFake
}
func (f *fakeEngine) ContainerRename(context.Context, string, string) error { return errFake }
func (f *fakeEngine) NetworkCreate(context.Context, string, network.CreateOptions) (network.CreateResponse, error) {
	return network.CreateResponse{}, errFake
}
func (f *fakeEngine) NetworkConnect(context.Context, string, string, *network.EndpointSettings) error {
	return errFake
}
func (f *fakeEngine) NetworkDisconnect(context.Context, string, string, bool) error {
	return errFake
}
func (f *fakeEngine) NetworkRemove(context.Context, string) error { return errFake }
func (f *fakeEngine) VolumeCreate(context.Context, volume.CreateOptions) (volume.Volume, error) {
	return volume.Volume{}, errFake
}
func (f *fakeEngine) VolumeRemove(context.Context, string, bool) error { return errFake }
func (f *fakeEngine) ImageInspect(context.Context, string, ...client.ImageInspectOption) (image.InspectResponse, error) {
	return image.InspectResponse{}, errFake
}
func (f *fakeEngine) ImagePull(context.Context, string, image.PullOptions) (io.ReadCloser, error) {
	return nil, errFake
}

var _ Engine = (*fakeEngine)(nil)
