package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"

	"github.com/rasa-gitops/rasa-gitops/compose"
)

// NeedsPersonError says that retrying at once will not help until a person changes
// something (the declaration, or the host: an image that cannot be had). The run fails
// with it, saying what to change; the daemon tries again on its next poll like after
// any failed run (an image loaded meanwhile is then used), with no faster retry.
type NeedsPersonError struct{ Err error }

func (e *NeedsPersonError) Error() string { return e.Err.Error() }
func (e *NeedsPersonError) Unwrap() error { return e.Err }

// Prepare turns a rendered project into Desired: it refuses services that use fields
// rasa-gitops would not apply and volumes whose configuration changed
// (RefuseChangedVolumes), makes sure every image is present (pulling a missing one),
// and computes each service's config hash from its definition, the content of its
// repository mounts and its image ID, and each network's and volume's config hash. It
// changes nothing but the image store, so a refusal or a missing image leaves every
// container, network and volume as it was.
func Prepare(ctx context.Context, engine Engine, r *compose.Rendered, revision string) (Desired, error) {
	p := r.Project
	d := Desired{Project: p, Services: make(map[string]DesiredService, len(p.Services)), Revision: revision}
	var refused []string
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		// compose.Load and compose.Render refuse these at their keys already; this is the
		// safety net for a project that did not come through them.
		if fields := compose.UnsupportedFields(p.Services[name]); len(fields) > 0 {
			names := make([]string, len(fields))
			for i, f := range fields {
				names[i] = f.Field() + " (" + f.Reason + ")"
			}
			refused = append(refused, fmt.Sprintf("service %s uses %s, which rasa-gitops does not apply", name, strings.Join(names, ", ")))
		}
	}
	if len(refused) > 0 {
		return d, &NeedsPersonError{errors.New(strings.Join(refused, "; "))}
	}
	var err error
	if d.NetworkHashes, d.VolumeHashes, err = resourceHashes(p); err != nil {
		return d, err
	}
	if err := RefuseChangedVolumes(ctx, engine, p, d.VolumeHashes); err != nil {
		return d, err
	}
	healthPorts := map[string]int{}
	for _, env := range r.Environments {
		healthPorts[env.Service] = env.Port
	}
	imageIDs := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		svc := p.Services[name]
		id, ok := imageIDs[svc.Image]
		if !ok {
			var err error
			id, err = ensureImage(ctx, engine, svc.Image, svc.PullPolicy, servicesUsing(p.Services, svc.Image))
			if err != nil {
				return d, err
			}
			imageIDs[svc.Image] = id
		}
		digests, err := r.MountDigests(name)
		if err != nil {
			return d, fmt.Errorf("prepare %s: %w", name, err)
		}
		hash, err := compose.ConfigHash(svc, compose.HashInputs{MountDigests: digests, ImageID: id, RepoRoot: r.Dir})
		if err != nil {
			return d, err
		}
		composeHash, err := compose.ComposeServiceHash(svc)
		if err != nil {
			return d, err
		}
		d.Services[name] = DesiredService{Config: svc, Hash: hash, ComposeHash: composeHash, ImageID: id, HealthPort: healthPorts[name]}
	}
	return d, nil
}

// resourceHashes computes the config hash of every declared network and volume that
// rasa-gitops manages (not external), by key.
func resourceHashes(p *types.Project) (networks, volumes map[string]string, err error) {
	networks, volumes = map[string]string{}, map[string]string{}
	for key, n := range p.Networks {
		if bool(n.External) {
			continue
		}
		if networks[key], err = compose.NetworkHash(n); err != nil {
			return nil, nil, err
		}
	}
	for key, v := range p.Volumes {
		if bool(v.External) {
			continue
		}
		if volumes[key], err = compose.VolumeHash(v); err != nil {
			return nil, nil, err
		}
	}
	return networks, volumes, nil
}

// servicesUsing names the services that use an image, for error messages.
func servicesUsing(services types.Services, ref string) string {
	var names []string
	for _, name := range slices.Sorted(maps.Keys(services)) {
		if services[name].Image == ref {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// ensureImage returns the ID of ref, pulling it when it is missing (or when the pull
// policy says always). An image that cannot be had is a NeedsPersonError naming it.
func ensureImage(ctx context.Context, engine Engine, ref, policy, services string) (string, error) {
	inspect := func() (string, error) {
		img, err := engine.ImageInspect(ctx, ref)
		if err != nil {
			return "", err
		}
		return img.ID, nil
	}
	if policy != "always" {
		id, err := inspect()
		if err == nil {
			return id, nil
		}
		if !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("inspect image %s: %w", ref, err)
		}
		if policy == "never" {
			return "", &NeedsPersonError{fmt.Errorf("image %s of service %s is not on this host and its pull_policy is never", ref, services)}
		}
	}
	if err := pull(ctx, engine, ref); err != nil {
		return "", &NeedsPersonError{fmt.Errorf("image %s of service %s is not on this host and cannot be pulled: %w", ref, services, err)}
	}
	id, err := inspect()
	if err != nil {
		return "", fmt.Errorf("inspect image %s after pull: %w", ref, err)
	}
	return id, nil
}

// pull pulls an image and reads the progress stream to its end, where the Engine
// reports failures.
func pull(ctx context.Context, engine Engine, ref string) error {
	rc, err := engine.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}
