// Package daemon holds the end-to-end test of this directory's compose.yml: the daemon
// image that `make image` builds, run by Docker Compose v2 as an operator would.
package daemon

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/needs"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"

	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// imageUser is the user the image runs as, and must own the state directory's files.
const imageUser = 65532

// TestDaemonImageCompose builds the daemon image with scripts/image.sh (what `make
// image` runs), checks it is the Dockerfile's final stage, and brings compose.yml up
// with Compose v2 against the quickstart served by a token-protected Git remote on the
// Docker bridge. The daemon in its container must converge the quickstart (its Rasa
// servers loading their models from the daemon's port on the host through
// host.docker.internal), apply a promotion pushed to the remote and announced by a
// signed webhook, keep its state in the host's state directory as 65532, and `docker
// compose down` of the daemon must leave the Rasa servers running.
func TestDaemonImageCompose(t *testing.T) {
	cli := testengine.Connect(t)
	compose := testengine.ComposeV2(t)
	// The state directory and the secrets are handed to 65532, and what the daemon
	// writes there is removed afterwards: both need root.
	if os.Geteuid() != 0 {
		skipOrFail(t, "the daemon image test runs as root: it hands its state directory to uid 65532 and removes it afterwards")
	}
	const socket = "/var/run/docker.sock"
	sock, err := os.Stat(socket)
	if err != nil || sock.Mode()&fs.ModeSocket == 0 {
		skipOrFail(t, "compose.yml mounts the Engine's socket "+socket+", which is not here")
	}
	dockerGID := sock.Sys().(*syscall.Stat_t).Gid
	testengine.EnsureStubImage(t, cli)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}

	// The image, under a tag of its own, removed at the end.
	tag := "rasa-gitops/rasa-gitops:" + testengine.ProjectName(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true}); err != nil {
			t.Errorf("remove the image %s: %v", tag, err)
		}
	})
	build := exec.Command("sh", filepath.Join(root, "scripts", "image.sh"), "build", tag)
	build.Env = append(os.Environ(), "VERSION=image-test")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/image.sh build %s: %v\n%s", tag, err, out)
	}
	checkImage(t, cli, root, tag)

	// The declaration repository: examples/quickstart under a project of its own, its
	// model server at the port the daemon publishes, its Rasa ports free ones.
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	hostIP := testengine.HostAddress(t, cli)
	daemonAddr, port := testengine.FreeHostPort(t, cli)
	files := quickstart(t, root)
	files["rasa-gitops.yaml"] = replaceLine(t, files["rasa-gitops.yaml"], "project: quickstart", "project: "+project)
	files["rasa-gitops.yaml"] = replaceLine(t, files["rasa-gitops.yaml"], "image: rasa-gitops/rasa-stub:dev", "image: "+testengine.StubImage)
	files["rasa-gitops.yaml"] = replaceLine(t, files["rasa-gitops.yaml"], "url: http://host.docker.internal:8080", fmt.Sprintf("url: http://host.docker.internal:%d", port))
	rasaAddr := map[string]string{}
	for _, env := range []string{"production", "experimental"} {
		addr, _ := testengine.FreeLoopbackPort(t)
		rasaAddr[env] = addr
		name := "environments/" + env + ".yaml"
		files[name] = regexp.MustCompile(`(?m)^publish: .*$`).ReplaceAllString(files[name], fmt.Sprintf("publish: %q", addr))
	}
	remote := testgit.New(t)
	first := remote.Commit(files, testgit.CommitOptions{Message: "quickstart"})
	gitToken := randomHex(t)
	repoURL := remote.ServeHTTPOn(hostIP+":0", gitToken)

	// The host: a state directory owned by 65532 and the three secrets, as
	// examples/daemon/README.md prepares them.
	stateDir := t.TempDir()
	if err := os.Chown(stateDir, imageUser, imageUser); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(stateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	apiToken, webhookSecret := randomHex(t), randomHex(t)
	secrets := t.TempDir()
	for name, value := range map[string]string{"git-token": gitToken, "api-token": apiToken, "webhook-secret": webhookSecret} {
		p := filepath.Join(secrets, name)
		if err := os.WriteFile(p, []byte(value+"\n"), 0o400); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, imageUser, imageUser); err != nil {
			t.Fatal(err)
		}
	}

	// compose.yml, as it is, under a project of its own. Cleanups run last first:
	// the logs of a failure, then down, then whatever is left of either project.
	daemonProject := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, daemonProject)
	env := append(os.Environ(),
		"DOCKER_GID="+strconv.Itoa(int(dockerGID)),
		"RASA_GITOPS_IMAGE="+tag,
		"RASA_GITOPS_STATE_DIR="+stateDir,
		"RASA_GITOPS_REPO="+repoURL,
		"RASA_GITOPS_LISTEN="+daemonAddr,
		"RASA_GITOPS_SECRETS_DIR="+secrets,
	)
	dc := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, compose, append([]string{"-p", daemonProject, "-f", filepath.Join(root, "examples", "daemon", "compose.yml")}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if out, err := dc("down", "--volumes", "--remove-orphans"); err != nil {
			t.Errorf("docker compose down: %v\n%s", err, out)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			out, err := dc("logs", "--no-color")
			t.Logf("the daemon's log (%v):\n%s", err, out)
		}
	})
	if out, err := dc("up", "-d"); err != nil {
		t.Fatalf("docker compose up -d: %v\n%s", err, out)
	}

	d := &daemonAPI{t: t, base: "http://" + daemonAddr, token: apiToken}
	d.waitFor("the daemon's /healthz", func() bool { return d.get("/healthz", false) == http.StatusOK })
	// It runs as the image says, with the Engine socket's group, on the host's network.
	daemonContainer := onlyContainer(t, cli, daemonProject)
	if daemonContainer.Config.User != "65532:65532" || !slices.Contains(daemonContainer.HostConfig.GroupAdd, strconv.Itoa(int(dockerGID))) {
		t.Errorf("the daemon's container runs as %q with groups %v, want 65532:65532 with %d", daemonContainer.Config.User, daemonContainer.HostConfig.GroupAdd, dockerGID)
	}
	if mode := daemonContainer.HostConfig.NetworkMode; mode != "host" {
		t.Errorf("the daemon's container is on network %q, not the host's", mode)
	}
	// The state directory is bind-mounted at its own path. The image's VOLUME
	// /var/lib/rasa-gitops, unused with another state directory, is an anonymous
	// volume that `down` (without --volumes) keeps: removed at the end.
	stateMounted := false
	for _, m := range daemonContainer.Mounts {
		switch {
		case m.Type == "bind" && m.Source == stateDir && m.Destination == stateDir && m.RW:
			stateMounted = true
		case m.Type == "volume":
			name := m.Name
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				// In use (the test failed before its down): the cleanup's down --volumes
				// removes it with the container.
				if err := cli.VolumeRemove(ctx, name, true); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
					t.Errorf("remove the daemon's anonymous volume: %v", err)
				}
			})
		}
	}
	if !stateMounted {
		t.Errorf("the state directory %s is not bind-mounted at its own path: %+v", stateDir, daemonContainer.Mounts)
	}

	// The quickstart converges: three Rasa servers, each serving its declared model.
	d.waitStatus("the quickstart", func(s map[string]state.EnvStatus) bool {
		return s["production"].Sync == state.Synced && s["production"].ObservedModel == "moodbot-v1.tar.gz" &&
			s["experimental"].Sync == state.Synced && s["experimental"].ObservedModel == "moodbot-v2.tar.gz" &&
			s["worker"].Sync == state.Synced && s["worker"].Health == state.Healthy &&
			s["production"].LastApplied == "main@sha1:"+first
	})
	ids := map[string]string{}
	for _, env := range []string{"production", "experimental", "worker"} {
		info, err := cli.ContainerInspect(context.Background(), project+"-rasa-"+env+"-1")
		if err != nil {
			t.Fatalf("the %s Rasa server: %v", env, err)
		}
		ids[env] = info.ID
		if !info.State.Running {
			t.Errorf("the %s Rasa server is %s", env, info.State.Status)
		}
		// Its model server is the daemon's port on the host, through host.docker.internal.
		want := fmt.Sprintf("RASA_MODEL_SERVER=http://host.docker.internal:%d/api/projects/%s/models/tags/%s", port, project, env)
		if !slices.Contains(info.Config.Env, want) {
			t.Errorf("the %s Rasa server's environment lacks %s: %v", env, want, info.Config.Env)
		}
		if !slices.Contains(info.HostConfig.ExtraHosts, "host.docker.internal:host-gateway") {
			t.Errorf("the %s Rasa server has no host.docker.internal: %v", env, info.HostConfig.ExtraHosts)
		}
	}
	// The Rasa servers say so themselves: the fingerprint is the ETag the daemon's
	// model server sent, the model's sha256; and the daemon counts the bytes it served.
	rasaToken := readSecret(t, stateDir, "rasa-token")
	digest := modelDigests(t, root)
	checkServes(t, rasaAddr["production"], rasaToken, "moodbot-v1", digest)
	checkServes(t, rasaAddr["experimental"], rasaToken, "moodbot-v2", digest)
	if served := d.metric("rasa_gitops_model_bytes_served_total"); served <= 0 {
		t.Errorf("the daemon served %v model bytes", served)
	}

	// A promotion: a commit changing production's model:, pushed, announced by a signed
	// GitHub webhook. It is applied without restarting the container.
	files["environments/production.yaml"] = replaceLine(t, files["environments/production.yaml"], "model: moodbot-v1", "model: moodbot-v2")
	promotion := remote.Commit(files, testgit.CommitOptions{Message: "promote(production): moodbot-v2"})
	if code := d.webhook(webhookSecret); code != http.StatusAccepted {
		t.Fatalf("the signed webhook: %d", code)
	}
	d.waitStatus("the promotion", func(s map[string]state.EnvStatus) bool {
		return s["production"].LastApplied == "main@sha1:"+promotion && s["production"].Sync == state.Synced &&
			s["production"].ObservedModel == "moodbot-v2.tar.gz" && s["experimental"].ObservedModel == "moodbot-v2.tar.gz"
	})
	checkServes(t, rasaAddr["production"], rasaToken, "moodbot-v2", digest)
	if info, err := cli.ContainerInspect(context.Background(), project+"-rasa-production-1"); err != nil || info.ID != ids["production"] {
		t.Errorf("the promotion replaced the production container (err %v)", err)
	}

	// The state is on the host, where compose.yml mounts it, and all of it is 65532's:
	// the SQLite state, the clone, the checkout of the revision applied (the first
	// one's is gone: no container mounts files from it any more).
	for _, p := range []string{"state.db", "checkouts/" + promotion, "secrets/model-token"} {
		if _, err := os.Stat(filepath.Join(stateDir, p)); err != nil {
			t.Errorf("the state directory lacks %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(stateDir, "git")); err != nil {
		t.Errorf("the state directory has no clone: %v", err)
	}
	err = filepath.WalkDir(stateDir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil // a SQLite file removed meanwhile
		}
		if st := info.Sys().(*syscall.Stat_t); st.Uid != imageUser || st.Gid != imageUser {
			t.Errorf("%s is owned by %d:%d, not %d:%d", p, st.Uid, st.Gid, imageUser, imageUser)
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}

	// `docker compose down` removes the daemon and leaves the Rasa servers serving.
	if out, err := dc("down"); err != nil {
		t.Fatalf("docker compose down: %v\n%s", err, out)
	}
	if left := projectContainers(t, cli, daemonProject); len(left) != 0 {
		t.Errorf("docker compose down left the daemon's containers %v", left)
	}
	for env, id := range ids {
		info, err := cli.ContainerInspect(context.Background(), id)
		if err != nil || !info.State.Running {
			t.Errorf("the %s Rasa server did not outlive the daemon (err %v)", env, err)
		}
	}
	checkServes(t, rasaAddr["production"], rasaToken, "moodbot-v2", digest)
	checkServes(t, rasaAddr["experimental"], rasaToken, "moodbot-v2", digest)
}

// checkImage compares the built image with the Dockerfile's final stage: its
// configuration (USER, ENTRYPOINT, CMD, ENV, EXPOSE, VOLUME) and the files its COPY
// lines put in place (the binary, CA certificates, passwd, a sticky /tmp, the user's
// directories).
func checkImage(t *testing.T, cli *client.Client, root, tag string) {
	t.Helper()
	ctx := context.Background()
	info, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	stage := finalStage(t, root)
	cfg := info.Config
	if got, want := cfg.User, stage["USER"]; got != want {
		t.Errorf("the image's user is %q, the Dockerfile's %q", got, want)
	}
	jsonList := func(instruction string) []string {
		var v []string
		if err := json.Unmarshal([]byte(stage[instruction]), &v); err != nil {
			t.Fatalf("the Dockerfile's %s %s: %v", instruction, stage[instruction], err)
		}
		return v
	}
	if got, want := []string(cfg.Entrypoint), jsonList("ENTRYPOINT"); !slices.Equal(got, want) {
		t.Errorf("the image's entrypoint is %q, the Dockerfile's %q", got, want)
	}
	if got, want := []string(cfg.Cmd), jsonList("CMD"); !slices.Equal(got, want) {
		t.Errorf("the image's command is %q, the Dockerfile's %q", got, want)
	}
	for _, kv := range strings.Fields(stage["ENV"]) {
		if !slices.Contains(cfg.Env, kv) {
			t.Errorf("the image's environment %v lacks the Dockerfile's %s", cfg.Env, kv)
		}
	}
	if _, ok := cfg.ExposedPorts[stage["EXPOSE"]+"/tcp"]; !ok {
		t.Errorf("the image exposes %v, the Dockerfile %s", cfg.ExposedPorts, stage["EXPOSE"])
	}
	for _, v := range jsonList("VOLUME") {
		if _, ok := cfg.Volumes[v]; !ok {
			t.Errorf("the image's volumes %v lack the Dockerfile's %s", cfg.Volumes, v)
		}
	}

	// The files, from an exported (never started) container of the image.
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: tag}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	// RemoveVolumes: the image's VOLUME gave the container an anonymous volume.
	defer cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	rc, err := cli.ContainerExport(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	type entry struct {
		hdr  *tar.Header
		data []byte
	}
	entries := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var data []byte
		if hdr.Typeflag == tar.TypeReg && hdr.Size < 1<<20 {
			if data, err = io.ReadAll(tr); err != nil {
				t.Fatalf("read %s from the image: %v", hdr.Name, err)
			}
		}
		entries[strings.TrimSuffix(hdr.Name, "/")] = entry{hdr, data}
	}
	want := func(name string, check func(entry) bool, what string) {
		t.Helper()
		if e, ok := entries[name]; !ok || !check(e) {
			t.Errorf("the image's /%s is not %s", name, what)
		}
	}
	want("rasa-gitops", func(e entry) bool { return e.hdr.Typeflag == tar.TypeReg && e.hdr.Mode&0o111 != 0 }, "an executable file")
	want("etc/ssl/certs/ca-certificates.crt", func(e entry) bool { return bytes.Contains(e.data, []byte("BEGIN CERTIFICATE")) }, "a CA bundle")
	want("etc/passwd", func(e entry) bool { return bytes.Contains(e.data, []byte(":65532:65532:")) }, "a passwd naming 65532")
	want("etc/group", func(e entry) bool { return bytes.Contains(e.data, []byte(":65532:")) }, "a group naming 65532")
	want("tmp", func(e entry) bool { return e.hdr.Typeflag == tar.TypeDir && e.hdr.Mode&0o1777 == 0o1777 }, "a sticky, world-writable directory")
	for _, dir := range []string{"home/nonroot", "var/lib/rasa-gitops"} {
		want(dir, func(e entry) bool {
			return e.hdr.Typeflag == tar.TypeDir && e.hdr.Uid == imageUser && e.hdr.Gid == imageUser
		}, "a directory owned by 65532:65532")
	}
	for _, dir := range []string{"home", "var/lib"} {
		want(dir, func(e entry) bool { return e.hdr.Uid == 0 }, "root's")
	}
}

// finalStage reads the Dockerfile's last stage: instruction → its (last) arguments,
// continuation lines joined.
func finalStage(t *testing.T, root string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	lines := strings.Split(text, "\n")
	last := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "FROM ") {
			last = i
		}
	}
	if last < 0 || strings.TrimSpace(lines[last]) != "FROM scratch" {
		t.Fatalf("the Dockerfile's final stage is not FROM scratch")
	}
	stage := map[string]string{}
	for _, l := range lines[last+1:] {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		instruction, args, _ := strings.Cut(l, " ")
		stage[instruction] = strings.Join(strings.Fields(args), " ")
	}
	return stage
}

// quickstart is every file of examples/quickstart, by slash path.
func quickstart(t *testing.T, root string) map[string]string {
	t.Helper()
	dir := filepath.Join(root, "examples", "quickstart")
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// replaceLine replaces the line old of a file with new, and fails when it is not there
// (examples/quickstart changed under the test).
func replaceLine(t *testing.T, content, old, new string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^(\s*)` + regexp.QuoteMeta(old) + `(\s*(#.*)?)$`)
	if !re.MatchString(content) {
		t.Fatalf("no line %q in:\n%s", old, content)
	}
	return re.ReplaceAllString(content, "${1}"+strings.ReplaceAll(new, "$", "$$")+"${2}")
}

// modelDigests are the sha256 of the quickstart's model archives.
func modelDigests(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range []string{"moodbot-v1", "moodbot-v2"} {
		data, err := os.ReadFile(filepath.Join(root, "examples", "quickstart", "models", m+".tar.gz"))
		if err != nil {
			t.Fatal(err)
		}
		out[m] = modelserver.Digest(data)
	}
	return out
}

// checkServes asks a Rasa server (on its published port) which model it has loaded.
func checkServes(t *testing.T, addr, token, model string, digest map[string]string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/status?token=" + token)
	if err != nil {
		t.Errorf("GET /status of the Rasa server on %s: %v", addr, err)
		return
	}
	defer resp.Body.Close()
	var st struct {
		ModelFile   string `json:"model_file"`
		Fingerprint string `json:"fingerprint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /status of the Rasa server on %s: %d %v", addr, resp.StatusCode, err)
		return
	}
	if st.ModelFile != model+".tar.gz" || st.Fingerprint != digest[model] {
		t.Errorf("the Rasa server on %s serves %s (fingerprint %s), want %s.tar.gz (%s)", addr, st.ModelFile, st.Fingerprint, model, digest[model])
	}
}

// daemonAPI is the daemon's HTTP surface, on its published port.
type daemonAPI struct {
	t     *testing.T
	base  string
	token string
}

func (d *daemonAPI) do(req *http.Request, auth bool) (*http.Response, error) {
	if auth {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	c := http.Client{Timeout: 10 * time.Second}
	return c.Do(req)
}

func (d *daemonAPI) get(path string, auth bool) int {
	req, err := http.NewRequest("GET", d.base+path, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	resp, err := d.do(req, auth)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (d *daemonAPI) statuses() map[string]state.EnvStatus {
	req, err := http.NewRequest("GET", d.base+"/api/status", nil)
	if err != nil {
		d.t.Fatal(err)
	}
	resp, err := d.do(req, true)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out struct {
		Environments []state.EnvStatus `json:"environments"`
	}
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return nil
	}
	m := map[string]state.EnvStatus{}
	for _, e := range out.Environments {
		m[e.Name] = e
	}
	return m
}

// waitFor polls cond until it holds, for at most two minutes.
func (d *daemonAPI) waitFor(what string, cond func() bool) {
	d.t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return
		}
	}
	d.t.Fatalf("timed out waiting for %s", what)
}

// waitStatus polls /api/status until cond holds on it.
func (d *daemonAPI) waitStatus(what string, cond func(map[string]state.EnvStatus) bool) {
	d.t.Helper()
	var last map[string]state.EnvStatus
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if last = d.statuses(); last != nil && cond(last) {
			return
		}
	}
	d.t.Fatalf("timed out waiting for %s; status: %+v", what, last)
}

// metric is the value of an unlabelled series of the daemon's /metrics, -1 if absent.
func (d *daemonAPI) metric(name string) float64 {
	req, err := http.NewRequest("GET", d.base+"/metrics", nil)
	if err != nil {
		d.t.Fatal(err)
	}
	resp, err := d.do(req, false)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// webhook sends a GitHub push of main, signed with secret, and returns the status.
func (d *daemonAPI) webhook(secret string) int {
	body := []byte(`{"ref":"refs/heads/main"}`)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	req, err := http.NewRequest("POST", d.base+"/api/webhooks/github", bytes.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := d.do(req, false)
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// projectContainers are the names of a Compose project's containers, stopped ones too.
func projectContainers(t *testing.T, cli *client.Client, project string) []string {
	t.Helper()
	cs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+project))})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Names...)
	}
	return names
}

// onlyContainer inspects the one container of a Compose project.
func onlyContainer(t *testing.T, cli *client.Client, project string) container.InspectResponse {
	t.Helper()
	names := projectContainers(t, cli, project)
	if len(names) != 1 {
		t.Fatalf("project %s has containers %v, want one", project, names)
	}
	info, err := cli.ContainerInspect(context.Background(), strings.TrimPrefix(names[0], "/"))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func readSecret(t *testing.T, stateDir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir, "secrets", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// skipOrFail skips the test, or fails it under CI=true, where it must run.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	needs.Missing(t, "%s", why)
}
