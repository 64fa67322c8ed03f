package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/types"
)

// Converged is what a fully successful apply leaves behind so that the next run on
// unchanged inputs can tell it has nothing to do without rendering again: the
// fingerprint of the inputs (compose.Fingerprint), the image IDs it used, and the shape
// of the desired state (names, hashes, dependencies). The Engine is still observed:
// a stopped or edited container is noticed as on any run.
type Converged struct {
	Fingerprint string                      `json:"fingerprint"`
	Project     string                      `json:"project"`
	Images      map[string]string           `json:"images"` // image reference → ID
	Networks    map[string]string           `json:"networks"`
	Volumes     map[string]string           `json:"volumes"`
	Services    map[string]ConvergedService `json:"services"`
}

// ConvergedService is the part of a desired service the planner needs.
type ConvergedService struct {
	Image     string   `json:"image"`
	Hash      string   `json:"hash"`
	DependsOn []string `json:"depends_on,omitempty"`
	HostPorts bool     `json:"host_ports,omitempty"`
}

// Snapshot records a desired state that was applied in full.
func Snapshot(d Desired, fingerprint string) Converged {
	c := Converged{Fingerprint: fingerprint, Project: d.Project.Name, Images: map[string]string{},
		Networks: map[string]string{}, Volumes: map[string]string{}, Services: map[string]ConvergedService{}}
	for key, n := range d.Project.Networks {
		if !bool(n.External) {
			c.Networks[key] = n.Name
		}
	}
	for key, v := range d.Project.Volumes {
		if !bool(v.External) {
			c.Volumes[key] = v.Name
		}
	}
	for name, s := range d.Services {
		c.Images[s.Config.Image] = s.ImageID
		c.Services[name] = ConvergedService{Image: s.Config.Image, Hash: s.Hash, DependsOn: sortedKeys(s.Config.DependsOn), HostPorts: len(s.Config.Ports) > 0}
	}
	return c
}

// desired rebuilds the planner's view of a snapshot.
func (c Converged) desired() Desired {
	p := &types.Project{Name: c.Project, Services: types.Services{}, Networks: types.Networks{}, Volumes: types.Volumes{}}
	d := Desired{Project: p, Services: map[string]DesiredService{}}
	for key, name := range c.Networks {
		p.Networks[key] = types.NetworkConfig{Name: name}
	}
	for key, name := range c.Volumes {
		p.Volumes[key] = types.VolumeConfig{Name: name}
	}
	for name, s := range c.Services {
		cfg := types.ServiceConfig{Name: name, ContainerSpec: types.ContainerSpec{Image: s.Image}}
		if len(s.DependsOn) > 0 {
			cfg.DependsOn = types.DependsOnConfig{}
			for _, dep := range s.DependsOn {
				cfg.DependsOn[dep] = types.ServiceDependency{}
			}
		}
		p.Services[name] = cfg
		d.Services[name] = DesiredService{Config: cfg, Hash: s.Hash, ImageID: c.Images[s.Image]}
	}
	return d
}

// StillConverged reports whether the host still runs the snapshot: every image
// reference resolves to the same ID and the planner finds nothing to do. Any doubt
// (an error, an image that moved) answers false, and the caller renders as usual.
func StillConverged(ctx context.Context, engine Engine, c Converged, opts Options) bool {
	for ref, id := range c.Images {
		img, err := engine.ImageInspect(ctx, ref)
		if err != nil || img.ID != id {
			return false
		}
	}
	observed, err := Observe(ctx, engine, c.Project)
	if err != nil {
		return false
	}
	return MakePlan(c.desired(), observed, opts).Empty()
}

// LoadConverged reads a snapshot; a missing or unreadable one is simply absent.
func LoadConverged(path string) (Converged, bool) {
	var c Converged
	data, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(data, &c) != nil || c.Project == "" {
		return Converged{}, false
	}
	return c, true
}

// SaveConverged writes a snapshot through a temp file and a rename.
func SaveConverged(path string, c Converged) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("save converged state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save converged state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".converged-*")
	if err != nil {
		return fmt.Errorf("save converged state: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		return fmt.Errorf("save converged state: %w", werr)
	}
	return nil
}
