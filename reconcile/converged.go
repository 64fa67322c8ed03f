package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/atomicfile"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
)

// Converged is what a fully successful apply leaves behind so that the next run on
// unchanged inputs can tell it has nothing to do without rendering again: the
// fingerprint of the inputs (compose.Fingerprint), the image IDs it used, and the shape
// of the desired state (names, hashes, dependencies). The Engine is still observed:
// a stopped or edited container is noticed as on any run.
type Converged struct {
	Fingerprint string            `json:"fingerprint"`
	Project     string            `json:"project"`
	Images      map[string]string `json:"images"` // image reference → ID
	Networks    map[string]string `json:"networks"`
	Volumes     map[string]string `json:"volumes"`
	// NetworkHashes and VolumeHashes are their config hashes by key (absent in a
	// snapshot written before they existed: unknown, so nothing is recreated for them).
	NetworkHashes map[string]string           `json:"network_hashes,omitempty"`
	VolumeHashes  map[string]string           `json:"volume_hashes,omitempty"`
	Services      map[string]ConvergedService `json:"services"`
	// Environments are checked on Rasa's GET /status: each must still serve its model.
	Environments []ConvergedEnvironment `json:"environments"`
	// Tags is the digest of the tag table the run left; another writer changes it.
	Tags string `json:"tags"`
	// AlwaysPull disables the shortcut: some image must be pulled on every run.
	AlwaysPull bool `json:"always_pull,omitempty"`
}

// ConvergedEnvironment is how to ask one Rasa server what it serves. The file holding
// it is written with mode 0600: it carries the server's auth token.
type ConvergedEnvironment struct {
	Name      string `json:"name"`
	Service   string `json:"service"`
	Port      int    `json:"port"`
	Token     string `json:"token"`
	ModelFile string `json:"model_file"` // <model>.tar.gz, empty for none
	// URL is where the server answered last (http://<container IP>:<port>): the check
	// asks there while it observes, and takes the answer only if the observation
	// shows the environment's container at that address.
	URL string `json:"url,omitempty"`
}

// ConvergedService is the part of a desired service the planner needs.
type ConvergedService struct {
	Image string `json:"image"`
	Hash  string `json:"hash"`
	// ComposeHash is Compose's hash of the service: a container `docker compose up`
	// made from the rendered file carries only that, and is adopted by it (upToDate),
	// so without it a host brought up by Compose would never look converged again.
	ComposeHash string   `json:"compose_hash,omitempty"`
	DependsOn   []string `json:"depends_on,omitempty"`
	HostPorts   bool     `json:"host_ports,omitempty"`
}

// Snapshot records a desired state that was applied in full, models included; tags is
// the digest of the tag table it left, models the run's model statuses (where each
// server answered).
func Snapshot(d Desired, r *compose.Rendered, fingerprint, tags string, models []ModelStatus) Converged {
	urls := map[string]string{}
	for _, m := range models {
		urls[m.Environment] = m.URL
	}
	c := Converged{Fingerprint: fingerprint, Project: d.Project.Name, Images: map[string]string{},
		Networks: map[string]string{}, Volumes: map[string]string{}, Services: map[string]ConvergedService{}, Tags: tags,
		NetworkHashes: d.NetworkHashes, VolumeHashes: d.VolumeHashes}
	for _, env := range r.Environments {
		file := ""
		if env.Model != "" {
			file = env.Model + ".tar.gz"
		}
		c.Environments = append(c.Environments, ConvergedEnvironment{Name: env.Name, Service: env.Service, Port: env.Port, Token: env.Token, ModelFile: file, URL: urls[env.Name]})
	}
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
		c.AlwaysPull = c.AlwaysPull || s.Config.PullPolicy == "always"
		c.Images[s.Config.Image] = s.ImageID
		c.Services[name] = ConvergedService{Image: s.Config.Image, Hash: s.Hash, ComposeHash: s.ComposeHash, DependsOn: slices.Sorted(maps.Keys(s.Config.DependsOn)), HostPorts: len(s.Config.Ports) > 0}
	}
	return c
}

// desired rebuilds the planner's view of a snapshot.
func (c Converged) desired() Desired {
	p := &types.Project{Name: c.Project, Services: types.Services{}, Networks: types.Networks{}, Volumes: types.Volumes{}}
	d := Desired{Project: p, Services: map[string]DesiredService{}, NetworkHashes: c.NetworkHashes, VolumeHashes: c.VolumeHashes}
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
		d.Services[name] = DesiredService{Config: cfg, Hash: s.Hash, ComposeHash: s.ComposeHash, ImageID: c.Images[s.Image]}
	}
	return d
}

// StillConverged reports whether the host still runs the snapshot: the tag table is
// the one the snapshot left, every image reference resolves to the same ID, the
// planner finds nothing to do, and every Rasa server still serves its model. Any
// doubt (an error, an image that moved) answers false, and the caller renders as usual.
// The servers are asked at their recorded addresses (early, from AskRecorded; nil:
// asked here) while the Engine is observed.
func StillConverged(ctx context.Context, engine Engine, c Converged, opts Options, tags string, early *Recorded, client *http.Client) bool {
	if c.AlwaysPull || c.Tags != tags {
		return false
	}
	if early == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel() // a false answer stops the questions still out
		early = AskRecorded(ctx, c, client)
	}
	for ref, id := range c.Images {
		img, err := engine.ImageInspect(ctx, ref)
		if err != nil || img.ID != id {
			return false
		}
	}
	observed, err := Observe(ctx, engine, c.Project)
	if err != nil || !MakePlan(c.desired(), observed, opts).Empty() {
		return false
	}
	return stillServed(ctx, engine, c, observed, client, early)
}

// Recorded are questions put to Rasa servers, in the background and concurrently, at
// the addresses the last apply recorded (AskRecorded). An answer counts only for a
// container a later observation shows at that address (Confirmed), and only such an
// answer is waited for: a recorded address nothing answers at costs no wait.
type Recorded struct {
	asks map[string]*recordedAsk
}

// recordedAsk is one question of Recorded; file and ok are set when done closes.
type recordedAsk struct {
	url  string
	done chan struct{}
	file string
	ok   bool
}

// AskRecorded asks each Rasa server of the snapshot with a recorded address what it
// serves.
func AskRecorded(ctx context.Context, c Converged, client *http.Client) *Recorded {
	r := &Recorded{asks: map[string]*recordedAsk{}}
	for _, env := range c.Environments {
		if env.URL == "" {
			continue
		}
		a := &recordedAsk{url: env.URL, done: make(chan struct{})}
		r.asks[env.Name] = a
		go func() {
			defer close(a.done)
			file, err := modelserver.RasaStatus(ctx, client, env.URL, env.Token)
			a.file, a.ok = file, err == nil
		}()
	}
	return r
}

// Confirmed gives env's recorded answer when its server was asked at the address an
// observation gives its container (ip, port) and answered; false otherwise, without
// waiting for an answer from anywhere else.
func (r *Recorded) Confirmed(ctx context.Context, env, ip string, port int) (string, bool) {
	if r == nil || ip == "" {
		return "", false
	}
	a, ok := r.asks[env]
	if !ok || a.url != rasaURL(ip, port) {
		return "", false
	}
	select {
	case <-a.done:
		return a.file, a.ok
	case <-ctx.Done():
		return "", false
	}
}

// stillServed checks that every Rasa server of the snapshot still serves the
// snapshot's model: the early answer of a server the observation confirms, else a
// question asked now (concurrently) at the address the observation gives.
func stillServed(ctx context.Context, engine Engine, c Converged, observed Observed, client *http.Client, early *Recorded) bool {
	listed := observed.RunningAddresses()
	want := map[string]string{}
	var rest []compose.RenderedEnvironment
	for _, env := range c.Environments {
		if file, ok := early.Confirmed(ctx, env.Name, listed[ContainerName(c.Project, env.Service)], env.Port); ok {
			if file != env.ModelFile {
				return false
			}
			continue
		}
		want[env.Name] = env.ModelFile
		rest = append(rest, compose.RenderedEnvironment{Name: env.Name, Service: env.Service, Port: env.Port, Token: env.Token})
	}
	ans := askEach(ctx, rest, func(ctx context.Context, env compose.RenderedEnvironment) (string, string, error) {
		return askServed(ctx, client, env, listed[ContainerName(c.Project, env.Service)], func(ctx context.Context) (string, error) {
			return rasaAddress(ctx, engine, c.Project, env)
		})
	})
	for env, file := range want {
		if served, ok := ans.served[env]; !ok || served != file {
			return false
		}
	}
	return true
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
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o700)
	}
	if err == nil {
		err = atomicfile.Write(path, data, 0o600) // it holds the Rasa servers' tokens
	}
	if err != nil {
		return fmt.Errorf("save converged state: %w", err)
	}
	return nil
}
