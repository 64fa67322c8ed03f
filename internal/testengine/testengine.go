// Package testengine gives tests a real Docker Engine and the stand-in Rasa image.
// Locally, tests skip when no Engine is reachable; in CI (CI=true) that is a failure.
package testengine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/needs"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
)

// StubImage is the local image of cmd/rasa-stub.
const StubImage = "rasa-gitops/rasa-stub:dev"

// Connect returns a client of the local Engine, or skips the test when there is none
// (fails it under CI=true).
func Connect(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = cli.Ping(ctx)
	}
	if err != nil {
		needs.Missing(t, "no Docker Engine reachable: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// ProjectName is a unique Compose project name for one test, so tests can run twice
// in a row or in parallel on one Engine.
func ProjectName(t testing.TB) string {
	b := make([]byte, 4)
	rand.Read(b)
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, t.Name())
	if len(name) > 30 {
		name = name[:30]
	}
	return strings.Trim("t-"+name+"-"+hex.EncodeToString(b), "-")
}

// CleanupProject removes every container, network and volume of a project when the
// test ends, whatever its outcome.
func CleanupProject(t testing.TB, cli *client.Client, project string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		f := filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+project))
		cs, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		for _, c := range cs {
			_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
		ns, _ := cli.NetworkList(ctx, network.ListOptions{Filters: f})
		for _, n := range ns {
			_ = cli.NetworkRemove(ctx, n.ID)
		}
		vs, _ := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
		for _, v := range vs.Volumes {
			_ = cli.VolumeRemove(ctx, v.Name, true)
		}
	})
}

var buildOnce sync.Mutex

// EnsureStubImage builds rasa-gitops/rasa-stub:dev from cmd/rasa-stub when it is not on
// the Engine yet (FROM scratch: no registry needed).
func EnsureStubImage(t testing.TB, cli *client.Client) {
	t.Helper()
	buildOnce.Lock()
	defer buildOnce.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, StubImage); err == nil {
		return
	}
	if err := BuildStubImage(ctx, cli, StubImage); err != nil {
		t.Fatalf("build %s: %v", StubImage, err)
	}
}

// RasaXImages are the images examples/rasa-x names. EnsureRasaXImages gives each that
// is absent a stand-in: the Rasa servers' the stand-in Rasa image, the others'
// cmd/fake-service.
var RasaXImages = []string{"rasa/rasa-x:1.1.4", "postgres:16-alpine", "rabbitmq:3.13-alpine", "redis:7-alpine", "rasa/rasa-sdk:3.6.2", "rasa/nginx:1.1.4"}

// RasaXRasaImage is the Rasa image examples/rasa-x runs its environments on.
const RasaXRasaImage = "rasa/rasa:3.6.20-full"

// FakeServiceImage is cmd/fake-service built FROM scratch.
const FakeServiceImage = "rasa-gitops/fake-service:dev"

// EnsureRasaXImages makes every image examples/rasa-x runs available on the Engine,
// tagging stand-ins under the names that are absent (an image already there, real or
// not, is left alone), so the example converges with no registry.
func EnsureRasaXImages(t testing.TB, cli *client.Client) {
	t.Helper()
	EnsureStubImage(t, cli)
	buildOnce.Lock()
	defer buildOnce.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, FakeServiceImage); err != nil {
		if err := buildImage(ctx, cli, "fake-service", FakeServiceImage, fakeServiceDockerfile, "/bin/fake-service", "/bin/pg_isready", "/bin/rabbitmq-diagnostics", "/bin/redis-cli"); err != nil {
			t.Fatalf("build %s: %v", FakeServiceImage, err)
		}
	}
	tag := func(source, target string) {
		if _, err := cli.ImageInspect(ctx, target); err == nil {
			return
		}
		if err := cli.ImageTag(ctx, source, target); err != nil {
			t.Fatalf("tag %s as %s: %v", source, target, err)
		}
	}
	tag(StubImage, RasaXRasaImage)
	for _, ref := range RasaXImages {
		tag(FakeServiceImage, ref)
	}
}

// EnsureProbeImage builds cmd/fake-service (which has the probe mode, `fake-service
// probe URL...`) under a tag named by the digest of its sources, when that tag is not
// on the Engine yet, and returns it: a change to the probe builds a new image, and the
// FakeServiceImage that other tests run (and hash) is never rebuilt under them.
func EnsureProbeImage(t testing.TB, cli *client.Client) string {
	t.Helper()
	ref := "rasa-gitops/fake-service:probe-" + sourceDigest(t, "cmd/fake-service", "internal/probe")
	ensureBuilt(t, cli, ref, func(ctx context.Context) error {
		return buildImage(ctx, cli, "fake-service", ref, fakeServiceDockerfile, "/bin/fake-service", "/bin/pg_isready", "/bin/rabbitmq-diagnostics", "/bin/redis-cli")
	})
	return ref
}

// EnsureCurrentStubImage is the stand-in Rasa image built from cmd/rasa-stub as it is
// now, under a tag named by the digest of its sources (built when absent), for tests
// whose measure depends on how the stand-in behaves; StubImage may be older, and is
// never rebuilt under the tests that run it.
func EnsureCurrentStubImage(t testing.TB, cli *client.Client) string {
	t.Helper()
	ref := "rasa-gitops/rasa-stub:src-" + sourceDigest(t, "cmd/rasa-stub")
	ensureBuilt(t, cli, ref, func(ctx context.Context) error { return BuildStubImage(ctx, cli, ref) })
	return ref
}

// ensureBuilt runs build unless ref is on the Engine already.
func ensureBuilt(t testing.TB, cli *client.Client, ref string, build func(context.Context) error) {
	t.Helper()
	buildOnce.Lock()
	defer buildOnce.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return
	}
	if err := build(ctx); err != nil {
		t.Fatalf("build %s: %v", ref, err)
	}
}

// sourceDigest is 12 hex digits of the digest of the Go sources (tests left out) and
// Dockerfiles in the module's directories dirs.
func sourceDigest(t testing.TB, dirs ...string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(root, dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(files)
		for _, f := range files {
			if base := filepath.Base(f); base != "Dockerfile" && (!strings.HasSuffix(base, ".go") || strings.HasSuffix(base, "_test.go")) {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(strings.TrimPrefix(f, root)), len(data))
			h.Write(data)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

const fakeServiceDockerfile = "FROM scratch\nCOPY bin/ /bin/\nENV PATH=/bin\nENTRYPOINT [\"/bin/fake-service\"]\n"

// BuildStubImage compiles cmd/rasa-stub statically and builds it into an image tagged tag.
func BuildStubImage(ctx context.Context, cli *client.Client, tag string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "cmd", "rasa-stub", "Dockerfile"))
	if err != nil {
		return err
	}
	return buildImage(ctx, cli, "rasa-stub", tag, string(dockerfile), "rasa-stub")
}

// buildImage compiles ./cmd/<command> statically and builds it FROM scratch into an
// image tagged tag, the binary copied into the build context under each of names.
func buildImage(ctx context.Context, cli *client.Client, command, tag, dockerfile string, names ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", command+"-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, command)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/"+command)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return errors.New("go build " + command + ": " + err.Error() + ": " + string(out))
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := addFile(tw, "Dockerfile", 0o644, []byte(dockerfile)); err != nil {
		return err
	}
	for _, name := range names {
		if err := addFile(tw, strings.TrimPrefix(name, "/"), 0o755, binary); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true, Version: build.BuilderV1})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
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

func addFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data))}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the rasa-gitops module")
	}
	return filepath.Dir(gomod), nil
}

// HostAddress is an address of this host that containers reach as
// host.docker.internal (host-gateway): the default bridge's gateway. Test servers
// listen there, never on every interface.
func HostAddress(t testing.TB, cli *client.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n, err := cli.NetworkInspect(ctx, "bridge", network.InspectOptions{}); err == nil {
		for _, c := range n.IPAM.Config {
			if ip := net.ParseIP(c.Gateway); ip != nil && ip.To4() != nil {
				return c.Gateway
			}
		}
	}
	if iface, err := net.InterfaceByName("docker0"); err == nil {
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			if ipnet, ok := a.(*net.IPNet); ok && ipnet.IP.To4() != nil {
				return ipnet.IP.String()
			}
		}
	}
	t.Fatal("cannot find the Docker bridge gateway (docker0)")
	return ""
}

// FreeHostPort picks a free port on HostAddress for a server the containers reach as
// host.docker.internal:<port>, and returns the host:port to listen on and the port.
func FreeHostPort(t testing.TB, cli *client.Client) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", HostAddress(t, cli)+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port
}

// ComposeV2 is the path of the Docker Compose v2 CLI on PATH (docker-compose; an old v1
// does not count). A missing one fails the test under CI=true (.ci/run installs it
// with bench/tools.sh) and skips it elsewhere, saying how to get it.
func ComposeV2(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("docker-compose"); err == nil {
		if out, err := exec.Command(p, "version", "--short").Output(); err == nil && strings.HasPrefix(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), "2.") {
			return p
		}
	}
	needs.Missing(t, "no docker-compose v2 on PATH: bash bench/tools.sh installs one")
	return ""
}

// FreeLoopbackPort is a TCP port free on 127.0.0.1 now, for a container port to be
// published on.
func FreeLoopbackPort(t testing.TB) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port
}

// QuickstartModels is a declaration's models: the quickstart's two tiny Rasa model
// archives as repository files, and models.yaml naming them with their digests.
func QuickstartModels(t testing.TB) map[string]string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"models.yaml": "models:\n"}
	for _, m := range []string{"moodbot-v1", "moodbot-v2"} {
		data, err := os.ReadFile(filepath.Join(root, "examples", "quickstart", "models", m+".tar.gz"))
		if err != nil {
			t.Fatal(err)
		}
		files["models/"+m+".tar.gz"] = string(data)
		files["models.yaml"] += fmt.Sprintf("  %s:\n    sha256: %s\n    source: models/%s.tar.gz\n", m, modelserver.Digest(data), m)
	}
	return files
}

// WriteFiles writes a declaration (slash path → content) under dir, making the
// directories it needs.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
