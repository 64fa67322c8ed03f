package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Labels on every container rasa-gitops creates. The com.docker.compose ones make
// `docker compose -p <project> ps|logs` work on our containers; the io.rasa-gitops ones
// say which objects the daemon may touch.
const (
	LabelManaged         = "io.rasa-gitops.managed"
	LabelEnvironment     = "io.rasa-gitops.environment"
	LabelRevision        = "io.rasa-gitops.revision"
	LabelProject         = "com.docker.compose.project"
	LabelService         = "com.docker.compose.service"
	LabelContainerNumber = "com.docker.compose.container-number"
	LabelOneoff          = "com.docker.compose.oneoff"
	LabelConfigHash      = "com.docker.compose.config-hash"
	// LabelOwnHash holds rasa-gitops' own config hash (ConfigHash: the service, the
	// content of its repository mounts and its image ID); LabelConfigHash holds
	// Compose's (ComposeServiceHash), so `docker compose up` on the rendered file
	// recreates nothing.
	LabelOwnHash = "io.rasa-gitops.config-hash"
	// LabelImage is Compose's record of the image ID a container was made from.
	LabelImage          = "com.docker.compose.image"
	LabelWorkingDir     = "com.docker.compose.project.working_dir"
	LabelComposeVersion = "com.docker.compose.version"
	// ComposeVersion is the Compose version rasa-gitops claims in LabelComposeVersion;
	// docker compose v2 only reads containers that carry some version.
	ComposeVersion = "2.30.0"
)

// volatileLabels change with every commit without changing what runs, so they are
// kept out of the config hash (else every commit would recreate every container).
var volatileLabels = []string{LabelRevision, LabelConfigHash, LabelOwnHash, LabelImage}

// Hashes are the hashes a container is labelled with: rasa-gitops' own, Compose's, and
// the ID of the image it runs.
type Hashes struct {
	Own, Compose, ImageID string
}

// ContainerLabels are the labels of container number n of a service: the service's
// own labels plus Compose's and rasa-gitops' bookkeeping labels.
func ContainerLabels(p *types.Project, service types.ServiceConfig, number int, hashes Hashes, revision string) map[string]string {
	labels := make(map[string]string, len(service.Labels)+10)
	for k, v := range service.Labels {
		labels[k] = v
	}
	labels[LabelManaged] = "true"
	labels[LabelProject] = p.Name
	labels[LabelService] = service.Name
	labels[LabelContainerNumber] = strconv.Itoa(number)
	labels[LabelOneoff] = "False"
	labels[LabelConfigHash] = hashes.Compose
	labels[LabelOwnHash] = hashes.Own
	if hashes.ImageID != "" {
		labels[LabelImage] = hashes.ImageID
	}
	labels[LabelWorkingDir] = p.WorkingDir
	labels[LabelComposeVersion] = ComposeVersion
	if revision != "" {
		labels[LabelRevision] = revision
	}
	return labels
}

// HashInputs is what decides whether a running container still matches its service
// beyond the service definition itself.
type HashInputs struct {
	// MountDigests maps each bind-mounted repository file or directory to the sha256 of
	// its content: Compose's hash misses an edited endpoints.yml, ours does not.
	MountDigests map[string]string
	// ImageID is the ID the service's image reference resolves to now, so a retagged
	// image recreates the container.
	ImageID string
	// RepoRoot is the checkout the project was rendered from. Paths under it are hashed
	// relative to it: each revision is checked out into its own directory, and the same
	// content in another checkout is the same configuration (MountDigests carry the
	// content).
	RepoRoot string
}

// ConfigHash is the value of LabelConfigHash: a sha256 over the service definition with
// the fields that do not need a new container cleared (as Compose's ServiceHash does),
// volatile labels removed, plus the content of every bind-mounted repository file and
// the image ID. Equal hashes mean the running container can stay.
func ConfigHash(service types.ServiceConfig, in HashInputs) (string, error) {
	s := service
	s.Build = nil
	s.PullPolicy = ""
	s.Scale = nil
	s.DependsOn = nil
	s.Profiles = nil
	s.CustomLabels = nil
	if s.Deploy != nil {
		deploy := *s.Deploy
		deploy.Replicas = nil
		s.Deploy = &deploy
		if reflect.DeepEqual(deploy, types.DeployConfig{}) {
			s.Deploy = nil // only replicas were set: same as no deploy section
		}
	}
	if len(s.Labels) > 0 {
		labels := make(types.Labels, len(s.Labels))
		for k, v := range s.Labels {
			labels[k] = v
		}
		for _, k := range volatileLabels {
			delete(labels, k)
		}
		s.Labels = labels
	}
	if in.RepoRoot != "" && len(s.Volumes) > 0 {
		vols := make([]types.ServiceVolumeConfig, len(s.Volumes))
		copy(vols, s.Volumes)
		for i, v := range vols {
			if v.Type == types.VolumeTypeBind && within(in.RepoRoot, v.Source) {
				vols[i].Source = "<repo>" + strings.TrimPrefix(v.Source, in.RepoRoot)
			}
		}
		s.Volumes = vols
	}
	mounts := in.MountDigests
	if in.RepoRoot != "" && len(mounts) > 0 {
		mounts = make(map[string]string, len(in.MountDigests))
		for k, v := range in.MountDigests {
			if within(in.RepoRoot, k) {
				k = "<repo>" + strings.TrimPrefix(k, in.RepoRoot)
			}
			mounts[k] = v
		}
	}
	payload, err := json.Marshal(struct {
		Service types.ServiceConfig `json:"service"`
		Mounts  map[string]string   `json:"mounts,omitempty"`
		ImageID string              `json:"image_id,omitempty"`
	}{s, mounts, in.ImageID})
	if err != nil {
		return "", fmt.Errorf("hash service %s: %w", service.Name, err)
	}
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:]), nil
}

// MountDigests hashes the content of every repository bind mount of a service (see
// Rendered.RepoMounts). Generated files are hashed from memory, so the digest is known
// before they are written; a source that does not exist yet hashes as "absent".
func (r *Rendered) MountDigests(service string) (map[string]string, error) {
	sources := r.RepoMounts[service]
	if len(sources) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(sources))
	for _, src := range sources {
		if content, ok := r.generated(src); ok {
			sum := sha256.Sum256(content)
			out[src] = hex.EncodeToString(sum[:])
			continue
		}
		digest, err := DigestPath(src)
		if err != nil {
			return nil, fmt.Errorf("hash mount %s of %s: %w", src, service, err)
		}
		out[src] = digest
	}
	return out, nil
}

func (r *Rendered) generated(path string) ([]byte, bool) {
	for _, f := range r.Files {
		if f.Path == path {
			return f.Content, true
		}
	}
	return nil, false
}

// DigestPath is the sha256 of a file's content, or of a directory tree (relative
// names, modes and contents, in sorted order). A missing path digests as "absent".
func DigestPath(path string) (string, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "absent", nil
	}
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if !info.IsDir() {
		if err := hashFile(h, path); err != nil {
			return "", err
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	var names []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != path {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	for _, p := range names {
		info, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(path, p)
		fmt.Fprintf(h, "%s\x00%o\x00", filepath.ToSlash(rel), info.Mode())
		if info.Mode().IsRegular() {
			if err := hashFile(h, p); err != nil {
				return "", err
			}
		} else if info.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			io.WriteString(h, target)
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// NetworkHash is the value of LabelConfigHash on a network rasa-gitops creates, computed
// the way docker compose v2 computes its own: a sha256 over the JSON of the declared
// compose-go NetworkConfig (driver, driver_opts, ipam, internal, attachable, enable_ipv4,
// enable_ipv6, labels, name, external; CustomLabels and extensions are not part of the
// JSON). Bookkeeping labels are added at creation, outside the declaration, so they never
// change it. A different hash on an existing network means its configuration changed
// and the network must be recreated for it to apply.
func NetworkHash(n types.NetworkConfig) (string, error) {
	payload, err := json.Marshal(n)
	if err != nil {
		return "", fmt.Errorf("hash network %s: %w", n.Name, err)
	}
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:]), nil
}

// VolumeHash is the value of LabelConfigHash on a volume rasa-gitops creates, computed as
// docker compose v2 does: a sha256 over the JSON of the declared VolumeConfig (driver,
// driver_opts, labels, name, external), with an empty driver counted as "local" (what
// the Engine uses), so spelling the default out changes nothing.
func VolumeHash(v types.VolumeConfig) (string, error) {
	if v.Driver == "" {
		v.Driver = "local"
	}
	payload, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("hash volume %s: %w", v.Name, err)
	}
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:]), nil
}
