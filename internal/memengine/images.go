package memengine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// img is one image in the local store.
type img struct {
	id      string
	refs    map[string]bool // normalized references that name it
	created time.Time
	health  *container.HealthConfig
	// healthOf is the health status its new containers report (SetImageHealth).
	healthOf string
}

// pullable is what the registry holds under one reference.
type pullable struct {
	id        string
	health    *container.HealthConfig
	streamErr string // non-empty: the pull stream ends with this error
}

// normalize turns a reference into its full form (docker.io/library/redis:latest).
func normalize(ref string) (reference.Named, bool) {
	if strings.HasPrefix(ref, "sha256:") {
		return nil, false
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, false
	}
	return reference.TagNameOnly(named), true
}

func imageHash(parts ...string) string {
	sum := sha256.Sum256([]byte("memengine/image/" + strings.Join(parts, "|")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// AddImage puts an image under ref in the local store, as `docker build -t ref` or a
// pull would, and returns its ID. The ID is a hash of the reference and of how many
// images were added under it before: adding ref again is a new build that moves the
// tag (the old image stays, untagged), so a test can make an image change its ID.
func (e *Engine) AddImage(ref string) string {
	return e.AddImageWithHealthcheck(ref)
}

// SetImageHealth makes the containers created from ref from now on report status
// (container.Unhealthy, Starting) instead of healthy once started, as a broken build
// would; "" restores healthy. The image must have a health check.
func (e *Engine) SetImageHealth(ref, status string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	im, ok := e.findImage(ref)
	if !ok {
		return notFound("no such image: %s", ref)
	}
	switch status {
	case "", container.Healthy, container.Unhealthy, container.Starting:
	default:
		return invalid("health status %q is not starting, healthy or unhealthy", status)
	}
	if im.health == nil {
		return invalid("image %s has no health check", ref)
	}
	im.healthOf = status
	return nil
}

// WithImage adds images (as AddImage) and returns the Engine, for one-line setups.
func (e *Engine) WithImage(refs ...string) *Engine {
	for _, ref := range refs {
		e.AddImage(ref)
	}
	return e
}

// AddImageWithHealthcheck is AddImage for an image whose config has a HEALTHCHECK
// (test, e.g. "CMD", "curl", "-f", "http://localhost/"), so its containers report a
// health status, the way apply recognises a healthy container without probing it.
func (e *Engine) AddImageWithHealthcheck(ref string, test ...string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	named, ok := normalize(ref)
	if !ok {
		panic(fmt.Sprintf("memengine: AddImage: invalid reference %q", ref))
	}
	key := named.String()
	id := imageHash(key, fmt.Sprint(e.imageGen[key]))
	e.imageGen[key]++
	e.tagImage(key, id, healthOf(test))
	return id
}

func healthOf(test []string) *container.HealthConfig {
	if len(test) == 0 {
		return nil
	}
	return &container.HealthConfig{Test: append([]string(nil), test...)}
}

// tagImage makes key name image id, creating the image when it is new.
func (e *Engine) tagImage(key, id string, health *container.HealthConfig) {
	if old, ok := e.tags[key]; ok {
		if im := e.images[old]; im != nil {
			delete(im.refs, key)
		}
	}
	im := e.images[id]
	if im == nil {
		im = &img{id: id, refs: map[string]bool{}, created: e.now(), health: health}
		e.images[id] = im
	}
	im.refs[key] = true
	e.tags[key] = id
}

// AllowPull registers ref in the (imaginary) registry: ImagePull of ref then succeeds
// and adds the image. A reference never allowed fails to pull as a missing or private
// repository does.
func (e *Engine) AllowPull(ref string) {
	e.allowPull(ref, nil, "")
}

// AllowPullWithHealthcheck is AllowPull for an image whose config has a HEALTHCHECK,
// so that a service pulled in the test becomes healthy without an HTTP probe.
func (e *Engine) AllowPullWithHealthcheck(ref string, test ...string) {
	e.allowPull(ref, healthOf(test), "")
}

// BreakPull registers ref so that its pull starts but the progress stream ends with
// msg (as "manifest unknown" or a network error mid-pull does): the call succeeds and
// the error is only in the stream, where prepare reads it.
func (e *Engine) BreakPull(ref, msg string) {
	e.allowPull(ref, nil, msg)
}

func (e *Engine) allowPull(ref string, health *container.HealthConfig, streamErr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	named, ok := normalize(ref)
	if !ok {
		panic(fmt.Sprintf("memengine: AllowPull: invalid reference %q", ref))
	}
	key := named.String()
	e.pullable[key] = pullable{id: imageHash("registry", key), health: health, streamErr: streamErr}
}

// findImage resolves a reference, a full ID (sha256:...) or a unique ID prefix.
func (e *Engine) findImage(ref string) (*img, bool) {
	if named, ok := normalize(ref); ok {
		if id, ok := e.tags[named.String()]; ok {
			return e.images[id], true
		}
	}
	if im, ok := e.images[ref]; ok {
		return im, true
	}
	hexPart := strings.TrimPrefix(ref, "sha256:")
	if hexPart == "" || strings.Trim(hexPart, "0123456789abcdef") != "" {
		return nil, false
	}
	var found *img
	for id, im := range e.images {
		if strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), hexPart) {
			if found != nil {
				return nil, false // ambiguous
			}
			found = im
		}
	}
	return found, found != nil
}

// newOf allocates the value a nil pointer field points to, whatever its type; the
// image config's types live in a module rasa-gitops does not import directly.
func newOf[T any](p **T) { *p = new(T) }

// ImageInspect returns an image of the local store by reference or ID; NotFound (as
// the real client's) for any other.
func (e *Engine) ImageInspect(ctx context.Context, imageID string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "ImageInspect"); err != nil {
		return image.InspectResponse{}, err
	}
	im, ok := e.findImage(imageID)
	if !ok {
		return image.InspectResponse{}, e.leave("ImageInspect", notFound("no such image: %s", imageID))
	}
	resp := image.InspectResponse{
		ID: im.id, RepoTags: []string{}, RepoDigests: []string{}, Created: im.created.UTC().Format(time.RFC3339Nano),
		Architecture: "amd64", Os: "linux", Size: 1 << 20,
		RootFS: image.RootFS{Type: "layers", Layers: []string{imageHash("layer", im.id)}},
	}
	for key := range im.refs {
		if named, err := reference.ParseNormalizedNamed(key); err == nil {
			resp.RepoTags = append(resp.RepoTags, reference.FamiliarString(named))
		}
	}
	sort.Strings(resp.RepoTags)
	newOf(&resp.Config)
	if im.health != nil {
		newOf(&resp.Config.Healthcheck)
		resp.Config.Healthcheck.Test = append([]string(nil), im.health.Test...)
	}
	return resp, e.leave("ImageInspect", nil)
}

// ImagePull pulls a reference registered with AllowPull (or BreakPull) and returns
// its JSON progress stream, as the Engine writes it; any other reference fails as a
// repository that does not exist or needs `docker login`.
func (e *Engine) ImagePull(ctx context.Context, refStr string, _ image.PullOptions) (io.ReadCloser, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "ImagePull"); err != nil {
		return nil, err
	}
	named, ok := normalize(refStr)
	if !ok {
		return nil, e.leave("ImagePull", invalid("invalid reference format: %s", refStr))
	}
	key := named.String()
	familiar := reference.FamiliarString(named)
	p, ok := e.pullable[key]
	if !ok {
		return nil, e.leave("ImagePull", notFound("pull access denied for %s, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", reference.FamiliarName(named)))
	}
	tag := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	line := func(v map[string]any) { _ = enc.Encode(v) }
	line(map[string]any{"status": "Pulling from " + reference.FamiliarName(named), "id": tag})
	if p.streamErr != "" {
		line(map[string]any{"status": "Pulling fs layer", "progressDetail": map[string]any{}, "id": p.id[7:19]})
		line(map[string]any{"errorDetail": map[string]any{"message": p.streamErr}, "error": p.streamErr})
		if err := e.leave("ImagePull", nil); err != nil {
			return nil, err
		}
		return io.NopCloser(&buf), nil
	}
	if e.tags[key] == p.id {
		line(map[string]any{"status": "Digest: " + imageHash("manifest", p.id)})
		line(map[string]any{"status": "Status: Image is up to date for " + familiar})
	} else {
		line(map[string]any{"status": "Pull complete", "progressDetail": map[string]any{}, "id": p.id[7:19]})
		line(map[string]any{"status": "Digest: " + imageHash("manifest", p.id)})
		line(map[string]any{"status": "Status: Downloaded newer image for " + familiar})
		e.tagImage(key, p.id, p.health)
	}
	e.emit(events.ImageEventType, events.ActionPull, familiar, map[string]string{"name": familiar})
	if err := e.leave("ImagePull", nil); err != nil {
		return nil, err
	}
	return io.NopCloser(&buf), nil
}
