package memengine

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/volume"
)

// vol is one volume.
type vol struct {
	name, driver    string
	created         time.Time
	labels, options map[string]string
}

// validName is the Engine's rule for container and local volume names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func (e *Engine) newVolume(name, driver string, labels, options map[string]string) (*vol, error) {
	if driver == "" {
		driver = "local"
	}
	if name == "" {
		name = e.nextID("volume")
	}
	if driver == "local" && !validName.MatchString(name) {
		return nil, invalid("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed; if you intended to pass a host directory, use absolute path", name)
	}
	if v, ok := e.volumes[name]; ok {
		if v.driver != driver {
			return nil, conflict("a volume named %s already exists with the %s driver; choose a different volume name", name, v.driver)
		}
		return v, nil // creating an existing volume again returns it, as on the Engine
	}
	v := &vol{name: name, driver: driver, created: e.now(), labels: copyMap(labels), options: copyMap(options)}
	e.volumes[name] = v
	e.emit(events.VolumeEventType, events.ActionCreate, name, map[string]string{"driver": driver})
	return v, nil
}

func (v *vol) view() *volume.Volume {
	out := &volume.Volume{CreatedAt: v.created.UTC().Format(time.RFC3339), Driver: v.driver,
		Mountpoint: "/var/lib/docker/volumes/" + v.name + "/_data", Name: v.name, Scope: "local"}
	if len(v.labels) > 0 {
		out.Labels = copyMap(v.labels)
	}
	if len(v.options) > 0 {
		out.Options = copyMap(v.options)
	}
	return out
}

// users lists the IDs of the containers (in any state) that mount a volume.
func (e *Engine) users(name string) []string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(e.containers)) {
		for _, m := range e.containers[id].mounts {
			if m.Type == "volume" && m.Name == name {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

// VolumeCreate creates a volume (a generated name when none is given); creating an
// existing one with the same driver returns it, as on the Engine.
func (e *Engine) VolumeCreate(ctx context.Context, options volume.CreateOptions) (volume.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "VolumeCreate"); err != nil {
		return volume.Volume{}, err
	}
	v, err := e.newVolume(options.Name, options.Driver, options.Labels, options.DriverOpts)
	if err = e.leave("VolumeCreate", err); err != nil {
		return volume.Volume{}, err
	}
	return *v.view(), nil
}

var volumeFilters = map[string]bool{"dangling": true, "driver": true, "label": true, "name": true}

// VolumeList lists volumes, sorted by name, with the Engine's filters (label with key
// or key=value, name as a regular expression, driver, dangling).
func (e *Engine) VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "VolumeList"); err != nil {
		return volume.ListResponse{}, err
	}
	f := options.Filters
	if err := f.Validate(volumeFilters); err != nil {
		return volume.ListResponse{}, e.leave("VolumeList", err)
	}
	dangling, err := f.GetBoolOrDefault("dangling", false)
	if err != nil {
		return volume.ListResponse{}, e.leave("VolumeList", err)
	}
	out := volume.ListResponse{Volumes: []*volume.Volume{}}
	for _, v := range e.volumes {
		switch {
		case !f.MatchKVList("label", v.labels),
			f.Contains("name") && !f.Match("name", v.name),
			!f.ExactMatch("driver", v.driver),
			f.Contains("dangling") && dangling != (len(e.users(v.name)) == 0):
			continue
		}
		out.Volumes = append(out.Volumes, v.view())
	}
	sort.Slice(out.Volumes, func(i, j int) bool { return out.Volumes[i].Name < out.Volumes[j].Name })
	return out, e.leave("VolumeList", nil)
}

// VolumeRemove removes a volume. One mounted by any container (even a stopped one) is
// a Conflict; a missing one is NotFound unless force, as on the Engine.
func (e *Engine) VolumeRemove(ctx context.Context, volumeID string, force bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enter(ctx, "VolumeRemove"); err != nil {
		return err
	}
	return e.leave("VolumeRemove", e.removeVolume(volumeID, force))
}

func (e *Engine) removeVolume(name string, force bool) error {
	if _, ok := e.volumes[name]; !ok {
		if force {
			return nil
		}
		return notFound("get %s: no such volume", name)
	}
	if users := e.users(name); len(users) > 0 {
		return conflict("remove %s: volume is in use - [%s]", name, strings.Join(users, ", "))
	}
	v := e.volumes[name]
	delete(e.volumes, name)
	e.emit(events.VolumeEventType, events.ActionDestroy, name, map[string]string{"driver": v.driver})
	return nil
}
