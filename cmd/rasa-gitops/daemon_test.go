package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemonFixture runs `rasa-gitops daemon` in-process against a real Git remote.
type daemonFixture struct {
	t        testing.TB
	remote   *testgit.Remote
	project  string
	base     string // http://host:port of the daemon
	state    string
	apiToken string
	secret   string
	log      *syncBuffer
	files    map[string]string
	git      *testgit.Daemon
	done     chan int
	cancel   context.CancelFunc
	stopped  bool
}

func startDaemon(t testing.TB, poll string, policy func(dir string) string, initial testgit.CommitOptions, extra ...string) *daemonFixture {
	t.Helper()
	return startDaemonOf(t, nil, poll, policy, initial, extra...)
}

// startDaemonOf is startDaemon on the declaration declare returns for the fixture's
// project and model server port (nil: two environments on the quickstart's models).
func startDaemonOf(t testing.TB, declare func(project string, port int) map[string]string, poll string, policy func(dir string) string, initial testgit.CommitOptions, extra ...string) *daemonFixture {
	t.Helper()
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	f := &daemonFixture{t: t, remote: testgit.New(t), project: testengine.ProjectName(t), state: t.TempDir(),
		apiToken: "api-token-for-daemon-test", secret: "webhook-secret-for-daemon-test", log: &syncBuffer{}, done: make(chan int, 1)}
	testengine.CleanupProject(t, cli, f.project)
	addr, port := testengine.FreeHostPort(t, cli)
	f.base = "http://" + addr
	if declare != nil {
		f.files = declare(f.project, port)
	} else {
		f.files = standInDeclaration(t, f.project, port, "1s")
		f.files["environments/production.yaml"] = "model: moodbot-v1\n"
		f.files["environments/experimental.yaml"] = "model: moodbot-v2\n"
	}
	initial.Message = "initial"
	f.remote.Commit(f.files, initial)
	secrets := t.TempDir()
	writeFile(t, filepath.Join(secrets, "api"), f.apiToken, 0o600)
	writeFile(t, filepath.Join(secrets, "hook"), f.secret, 0o600)
	f.git = f.remote.ServeDaemon()
	args := []string{"daemon", "--repo", f.git.URL, "--state-dir", f.state, "--listen", addr, "--poll", poll,
		"--api-token-file", filepath.Join(secrets, "api"), "--webhook-secret-file", filepath.Join(secrets, "hook"), "--health-timeout", "20s"}
	if policy != nil {
		args = append(args, "--policy", policy(secrets))
	}
	args = append(args, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() { f.done <- run(ctx, args, io.Discard, f.log) }()
	t.Cleanup(func() {
		f.stop()
		secrets := []string{f.apiToken, f.secret}
		for _, name := range []string{"model-token", "rasa-token"} {
			if data, err := os.ReadFile(filepath.Join(f.state, "secrets", name)); err == nil {
				secrets = append(secrets, strings.TrimSpace(string(data)))
			}
		}
		for _, secret := range secrets {
			if secret != "" && strings.Contains(f.log.String(), secret) {
				t.Errorf("a secret reached the daemon's log")
			}
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", f.log.String())
		}
	})
	return f
}

// stop sends the daemon SIGTERM (a cancelled context) and checks it exits 0 within
// 10s; a second call does nothing.
func (f *daemonFixture) stop() {
	if f.stopped {
		return
	}
	f.stopped = true
	f.cancel()
	select {
	case code := <-f.done:
		if code != exitOK {
			f.t.Errorf("the daemon exited %d on SIGTERM", code)
		}
	case <-time.After(10 * time.Second):
		f.t.Error("the daemon did not stop within 10s of SIGTERM")
	}
}

func (f *daemonFixture) tokenFile() string {
	p := filepath.Join(f.t.TempDir(), "api-token")
	writeFile(f.t, p, f.apiToken, 0o600)
	return p
}

func (f *daemonFixture) request(method, path string, body []byte, header http.Header) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.base+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func (f *daemonFixture) webhook(sign bool) int {
	body := []byte(`{"ref":"refs/heads/main"}`)
	h := http.Header{"X-Github-Event": {"push"}}
	if sign {
		m := hmac.New(sha256.New, []byte(f.secret))
		m.Write(body)
		h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	return f.request("POST", "/api/webhooks/github", body, h).StatusCode
}

// statuses asks the daemon's API for every environment's status.
func (f *daemonFixture) statuses() map[string]state.EnvStatus {
	f.t.Helper()
	m, err := f.tryStatuses()
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// tryStatuses is statuses for a caller that polls (the API may not listen yet).
func (f *daemonFixture) tryStatuses() (map[string]state.EnvStatus, error) {
	req, err := http.NewRequest("GET", f.base+"/api/status", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+f.apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/status: %s", resp.Status)
	}
	var out struct {
		Environments []state.EnvStatus `json:"environments"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("GET /api/status: %w", err)
	}
	m := map[string]state.EnvStatus{}
	for _, e := range out.Environments {
		m[e.Name] = e
	}
	return m, nil
}

// waitFor polls until cond holds on the daemon's status.
func (f *daemonFixture) waitFor(what string, cond func(map[string]state.EnvStatus) bool) {
	f.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var s map[string]state.EnvStatus
	var err error
	for time.Now().Before(deadline) {
		if s, err = f.tryStatuses(); err == nil && cond(s) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.t.Fatalf("timed out waiting for %s; status: %+v (%v)", what, s, err)
}

// audited is how many rows of the audit log have this action.
func (f *daemonFixture) audited(action string) int {
	f.t.Helper()
	st, err := state.OpenReader(context.Background(), f.state)
	if err != nil {
		f.t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.History(context.Background(), state.Filter{})
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.Action == action {
			n++
		}
	}
	return n
}

// heal stops env's container by hand and waits until the daemon's run that started it
// again is recorded (its audit row and the statuses are one transaction). That run
// does not fetch: it is a heal triggered by the Docker event.
func (f *daemonFixture) heal(env string) {
	f.t.Helper()
	action := "start service:rasa-" + env
	before := f.audited(action)
	if err := testengine.Connect(f.t).ContainerStop(context.Background(), f.project+"-rasa-"+env+"-1", container.StopOptions{}); err != nil {
		f.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for f.audited(action) == before {
		if time.Now().After(deadline) {
			f.t.Fatalf("the heal of %s's stopped container was not recorded", env)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDaemonWebhookPolicyAndAPI(t *testing.T) {
	alice, alicePub := testgit.NewKey(t, "alice")
	f := startDaemon(t, "@every 1h", func(dir string) string {
		writeFile(t, filepath.Join(dir, "alice.asc"), alicePub, 0o644)
		p := filepath.Join(dir, "policy.yaml")
		writeFile(t, p, "environments:\n  production:\n    signers: [alice.asc]\n", 0o644)
		return p
	}, testgit.CommitOptions{Sign: alice})
	f.waitFor("the first revision", func(s map[string]state.EnvStatus) bool {
		return s["production"].Sync == state.Synced && s["experimental"].Sync == state.Synced
	})

	// Authentication: the API and the webhooks refuse what they cannot trust.
	if code := f.request("GET", "/api/status", nil, nil).StatusCode; code != 401 {
		t.Errorf("/api/status without a token: %d", code)
	}
	if code := f.request("POST", "/api/sync", nil, http.Header{"Authorization": {"Bearer wrong"}}).StatusCode; code != 401 {
		t.Errorf("/api/sync with a wrong token: %d", code)
	}
	if code := f.request("GET", "/healthz", nil, nil).StatusCode; code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	// The metrics are published once the run is recorded: poll briefly.
	var metrics string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(f.base + "/metrics"); err == nil {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("read /metrics: %v", err)
			}
			metrics = string(body)
			if strings.Contains(metrics, `rasa_gitops_environment_sync{environment="production",status="Synced"} 1`) {
				break
			}
		}
	}
	for _, want := range []string{`rasa_gitops_environment_sync{environment="production",status="Synced"} 1`, "rasa_gitops_reconcile_duration_seconds_count", "rasa_gitops_git_fetch_duration_seconds"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A signed promotion of production and a change of experimental, via the webhook.
	f.files["environments/production.yaml"] = "model: moodbot-v2\n"
	f.files["environments/experimental.yaml"] = "model: moodbot-v1\n"
	signed := f.remote.Commit(f.files, testgit.CommitOptions{Message: "promote", Sign: alice})
	// A webhook with a wrong or missing signature triggers nothing. A heal run (it
	// does not fetch) recorded after it proves the daemon had its chance: a run the
	// webhook triggered came before it or was merged into it, and fetched.
	if code := f.webhook(false); code != 401 {
		t.Fatalf("unsigned webhook: %d", code)
	}
	f.heal("experimental")
	if s := f.statuses(); s["production"].LastAttempted == "main@sha1:"+signed || s["experimental"].LastAttempted == "main@sha1:"+signed {
		t.Fatalf("a webhook without a signature triggered a fetch: %+v", s)
	}
	if code := f.webhook(true); code != 202 {
		t.Fatalf("signed webhook: %d", code)
	}
	f.waitFor("the signed promotion", func(s map[string]state.EnvStatus) bool {
		return s["production"].LastApplied == "main@sha1:"+signed && s["production"].ObservedModel == "moodbot-v2.tar.gz" && s["experimental"].ObservedModel == "moodbot-v1.tar.gz"
	})

	// An unsigned change to production is refused while experimental applies.
	f.files["environments/production.yaml"] = "model: moodbot-v1\n"
	f.files["environments/experimental.yaml"] = "model: moodbot-v2\n"
	unsigned := f.remote.Commit(f.files, testgit.CommitOptions{Message: "sneaky"})
	f.webhook(true)
	f.waitFor("the refusal", func(s map[string]state.EnvStatus) bool {
		return s["production"].Sync == state.Refused && s["experimental"].LastApplied == "main@sha1:"+unsigned && s["experimental"].ObservedModel == "moodbot-v2.tar.gz"
	})
	s := f.statuses()
	if s["production"].LastApplied != "main@sha1:"+signed || s["production"].LastAttempted != "main@sha1:"+unsigned || s["production"].ObservedModel != "moodbot-v2.tar.gz" {
		t.Errorf("production after the refusal: %+v", s["production"])
	}
	if !strings.Contains(s["production"].SyncReason, "not signed") {
		t.Errorf("the refusal does not say why: %q", s["production"].SyncReason)
	}
	code, out, _ := runCLI(t, "history", "--state-dir", f.state, "--env", "production")
	if code != exitOK || !strings.Contains(out, "policy: signature") || !strings.Contains(out, "refused") {
		t.Errorf("history lacks the refusal:\n%s", out)
	}

	// Removing production's file without a signature does not remove production.
	before := containerID(t, testengine.Connect(t), f.project+"-rasa-production-1")
	delete(f.files, "environments/production.yaml")
	removal := f.remote.Commit(f.files, testgit.CommitOptions{Message: "drop production", Remove: []string{"environments/production.yaml"}})
	f.webhook(true)
	f.waitFor("the refused removal", func(s map[string]state.EnvStatus) bool {
		return s["experimental"].LastApplied == "main@sha1:"+removal
	})
	if after := containerID(t, testengine.Connect(t), f.project+"-rasa-production-1"); after != before {
		t.Error("an unsigned revision removed the protected production environment")
	}
	if code, out, _ = runCLI(t, "history", "--state-dir", f.state, "--env", "production"); code != exitOK {
		t.Fatalf("history: exit %d", code)
	}
	if !strings.Contains(out, "policy: signature") || strings.Count(out, "refused") < 2 {
		t.Errorf("the refused removal is not audited:\n%s", out)
	}
}

func TestDaemonPollForcePushAndRemoteDown(t *testing.T) {
	f := startDaemon(t, "@every 1s", nil, testgit.CommitOptions{})
	f.waitFor("the first revision", func(s map[string]state.EnvStatus) bool { return s["production"].Sync == state.Synced })
	first := f.statuses()["production"].LastApplied

	// A push is picked up by polling alone.
	f.files["environments/experimental.yaml"] = "model: moodbot-v1\n"
	second := f.remote.Commit(f.files, testgit.CommitOptions{})
	f.waitFor("the polled push", func(s map[string]state.EnvStatus) bool {
		return s["experimental"].LastApplied == "main@sha1:"+second && s["experimental"].ObservedModel == "moodbot-v1.tar.gz"
	})

	// A force-push back to the first commit's content is followed.
	f.remote.ResetHard(strings.TrimPrefix(first, "main@sha1:"))
	f.files["environments/experimental.yaml"] = "model: moodbot-v2\n"
	rewritten := f.remote.Commit(f.files, testgit.CommitOptions{Message: "rewrite", Force: true})
	f.waitFor("the force-push", func(s map[string]state.EnvStatus) bool {
		return s["experimental"].LastApplied == "main@sha1:"+rewritten && s["experimental"].ObservedModel == "moodbot-v2.tar.gz"
	})

	// An invalid revision is refused; the last good one keeps running and is healed.
	f.files["environments/production.yaml"] = "model: [not, a, name]\n"
	f.remote.Commit(f.files, testgit.CommitOptions{Message: "broken"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(f.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 503 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the broken revision did not make the daemon unready within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cli := testengine.Connect(t)
	name := f.project + "-rasa-production-1"
	before := containerID(t, cli, name)
	if err := cli.ContainerStop(context.Background(), name, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if info, err := cli.ContainerInspect(context.Background(), name); err == nil && info.State.Running && info.ID == before {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("a container stopped by hand was not healed while the newest revision is refused")
}

func TestDaemonRemoteDownAndChangeWindow(t *testing.T) {
	f := startDaemon(t, "@every 1s", func(dir string) string {
		p := filepath.Join(dir, "policy.yaml")
		// experimental may never change on its own: every minute is denied.
		writeFile(t, p, "environments:\n  experimental:\n    windows:\n      - deny: \"* * * * *\"\n        duration: 2m\n", 0o644)
		return p
	}, testgit.CommitOptions{})
	// Even the first deployment of experimental is a change its window holds.
	f.waitFor("the first revision", func(s map[string]state.EnvStatus) bool {
		return s["production"].Sync == state.Synced && s["experimental"].Sync == state.Pending
	})
	if code, out, errOut := runCLI(t, "sync", "--server", f.base, "--api-token-file", f.tokenFile(), "--force-window"); code != exitOK {
		t.Fatalf("sync: %d %s%s", code, out, errOut)
	}
	f.waitFor("the forced first deployment", func(s map[string]state.EnvStatus) bool {
		return s["experimental"].Sync == state.Synced && s["experimental"].ObservedModel == "moodbot-v2.tar.gz"
	})

	// The remote goes down: the last good revision keeps running and readiness says why.
	f.git.Stop()
	deadline := time.Now().Add(20 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		resp, err := http.Get(f.base + "/readyz")
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("read /readyz: %v", err)
			}
			if resp.StatusCode == 503 {
				body = string(b)
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if body == "" || strings.Contains(body, "git://") {
		t.Fatalf("readyz while the remote is down: %q (no details without a token)", body)
	}
	req, err := http.NewRequest("GET", f.base+"/api/status", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Ready  bool   `json:"ready"`
		Reason string `json:"reason"`
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Ready || !strings.Contains(st.Reason, "cannot read the revision: fetch") {
		t.Errorf("/api/status while the remote is down: %+v, %v", st, err)
	}
	f.waitFor("the fetch failure on every environment", func(s map[string]state.EnvStatus) bool {
		return strings.Contains(s["production"].SourceError, "connection refused") && strings.Contains(s["experimental"].SourceError, "connection refused")
	})
	if s := f.statuses(); s["production"].Health != state.Healthy || s["production"].Sync != state.Synced {
		t.Errorf("production while the remote is down: %+v", s["production"])
	}
	if code, out, _ := runCLI(t, "status", "--state-dir", f.state); code != exitOK || !strings.Contains(out, "source: fetch git://") {
		t.Errorf("local status does not show the fetch failure:\n%s", out)
	}
	f.files["environments/production.yaml"] = "model: moodbot-v2\n"
	f.files["environments/experimental.yaml"] = "model: moodbot-v1\n"
	change := f.remote.Commit(f.files, testgit.CommitOptions{})
	f.git.Start()
	// Recovery is automatic; production applies, experimental is held by its window.
	f.waitFor("recovery", func(s map[string]state.EnvStatus) bool {
		return s["production"].LastApplied == "main@sha1:"+change && s["production"].ObservedModel == "moodbot-v2.tar.gz" && s["experimental"].Sync == state.Pending
	})
	if s := f.statuses(); s["experimental"].ObservedModel != "moodbot-v2.tar.gz" || !strings.Contains(s["experimental"].SyncReason, "held by a change window") {
		t.Errorf("experimental while held: %+v", s["experimental"])
	}
	// sync --force-window releases it, and the override is audited.
	code, out, errOut := runCLI(t, "sync", "--server", f.base, "--api-token-file", f.tokenFile(), "--force-window")
	if code != exitOK {
		t.Fatalf("sync: %d %s%s", code, out, errOut)
	}
	f.waitFor("the forced window", func(s map[string]state.EnvStatus) bool {
		return s["experimental"].Sync == state.Synced && s["experimental"].ObservedModel == "moodbot-v1.tar.gz"
	})
	code, out, _ = runCLI(t, "history", "--state-dir", f.state, "--env", "experimental")
	if code != exitOK || !strings.Contains(out, "forced") || !strings.Contains(out, "held") {
		t.Errorf("history lacks the hold and the override:\n%s", out)
	}
}

func TestDaemonProjectSigners(t *testing.T) {
	alice, alicePub := testgit.NewKey(t, "alice")
	f := startDaemon(t, "@every 1h", func(dir string) string {
		writeFile(t, filepath.Join(dir, "alice.asc"), alicePub, 0o644)
		p := filepath.Join(dir, "policy.yaml")
		writeFile(t, p, "project:\n  signers: [alice.asc]\n", 0o644)
		return p
	}, testgit.CommitOptions{Sign: alice})
	f.waitFor("the first revision", func(s map[string]state.EnvStatus) bool { return s["production"].Sync == state.Synced })
	cli := testengine.Connect(t)

	// A signed revision adds a helper service: applied.
	f.files["rasa-gitops.yaml"] += "compose:\n  files: [compose/base.yml]\n"
	f.files["compose/base.yml"] = "services:\n  helper:\n    image: " + testengine.StubImage + "\n    command: [run, --port, \"5005\"]\n"
	signed := f.remote.Commit(f.files, testgit.CommitOptions{Sign: alice})
	f.webhook(true)
	f.waitFor("the signed helper", func(s map[string]state.EnvStatus) bool { return s["production"].LastApplied == "main@sha1:"+signed })
	helper := containerID(t, cli, f.project+"-helper-1")

	// An unsigned revision adds a service and changes the helper: neither happens,
	// while the environments (no policy of their own) still converge.
	f.files["compose/base.yml"] = "services:\n  helper:\n    image: " + testengine.StubImage + "\n    command: [run, --port, \"5006\"]\n  evil:\n    image: " + testengine.StubImage + "\n    command: [run]\n"
	f.files["environments/experimental.yaml"] = "model: moodbot-v1\n"
	unsigned := f.remote.Commit(f.files, testgit.CommitOptions{})
	f.webhook(true)
	f.waitFor("the environments", func(s map[string]state.EnvStatus) bool {
		return s["experimental"].LastApplied == "main@sha1:"+unsigned && s["experimental"].ObservedModel == "moodbot-v1.tar.gz"
	})
	if _, err := cli.ContainerInspect(context.Background(), f.project+"-evil-1"); err == nil {
		t.Error("an unsigned revision created a service")
	}
	if now := containerID(t, cli, f.project+"-helper-1"); now != helper {
		t.Error("an unsigned revision recreated the project's service")
	}
	code, out, errOut := runCLI(t, "history", "--state-dir", f.state)
	if code != exitOK || !strings.Contains(out, "policy: project signature") {
		t.Errorf("the refusal is not audited: exit %d\n%s%s", code, out, errOut)
	}
}

// TestDaemonRefusedEnvironmentKeepsItsFiles: an unsigned revision changing the shared
// endpoints.yml is refused for production, which keeps reading the signed revision's
// file (each revision has its own checkout), while experimental takes the new one.
func TestDaemonRefusedEnvironmentKeepsItsFiles(t *testing.T) {
	alice, alicePub := testgit.NewKey(t, "alice")
	f := startDaemon(t, "@every 1h", func(dir string) string {
		writeFile(t, filepath.Join(dir, "alice.asc"), alicePub, 0o644)
		p := filepath.Join(dir, "policy.yaml")
		writeFile(t, p, "environments:\n  production:\n    signers: [alice.asc]\n", 0o644)
		return p
	}, testgit.CommitOptions{Sign: alice})
	f.waitFor("the first revision", func(s map[string]state.EnvStatus) bool { return s["production"].Sync == state.Synced })
	endpoints := "models:\n  url: ${RASA_MODEL_SERVER}\n  token: ${RASA_MODEL_TOKEN}\n  wait_time_between_pulls: 1\n"
	f.files["endpoints.yml"] = endpoints + "# signed\n"
	signed := f.remote.Commit(f.files, testgit.CommitOptions{Sign: alice})
	f.webhook(true)
	f.waitFor("the signed endpoints", func(s map[string]state.EnvStatus) bool { return s["production"].LastApplied == "main@sha1:"+signed })

	f.files["endpoints.yml"] = endpoints + "# unsigned: tracker_store pointing elsewhere\n"
	unsigned := f.remote.Commit(f.files, testgit.CommitOptions{})
	f.webhook(true)
	f.waitFor("the refusal", func(s map[string]state.EnvStatus) bool {
		return s["production"].Sync == state.Refused && s["experimental"].LastApplied == "main@sha1:"+unsigned
	})
	cli := testengine.Connect(t)
	mounted := func(env string) string {
		info, err := cli.ContainerInspect(context.Background(), f.project+"-rasa-"+env+"-1")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range info.Mounts {
			if m.Destination == "/app/endpoints.yml" {
				data, err := os.ReadFile(m.Source)
				if err != nil {
					t.Fatal(err)
				}
				return string(data)
			}
		}
		return ""
	}
	if got := mounted("production"); !strings.Contains(got, "# signed") {
		t.Errorf("production mounts %q, want the signed revision's endpoints.yml", got)
	}
	if got := mounted("experimental"); !strings.Contains(got, "# unsigned") {
		t.Errorf("experimental mounts %q, want the newest endpoints.yml", got)
	}
}

// TestDaemonAuditAnchor: with --audit-anchor-ref the daemon pushes the audit chain's
// anchor to the declaration repository after its runs, logs it and exports it as a
// metric; `audit verify --anchor` accepts the untouched log against those anchors and
// names the rows missing after the newest ones are deleted (which the chain alone
// cannot see).
func TestDaemonAuditAnchor(t *testing.T) {
	f := startDaemon(t, "@every 1h", nil, testgit.CommitOptions{}, "--audit-anchor-ref", "refs/rasa-gitops/audit")
	f.waitFor("the first revision", func(s map[string]state.EnvStatus) bool { return s["production"].Sync == state.Synced })
	var anchors []byte
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && len(anchors) == 0 {
		// Until the first push the ref does not exist and git show fails: poll on.
		anchors, _ = exec.Command("git", "-C", f.remote.Bare, "show", "refs/rasa-gitops/audit:anchors.jsonl").Output()
		time.Sleep(100 * time.Millisecond)
	}
	if len(anchors) == 0 {
		t.Fatal("no anchor was pushed to refs/rasa-gitops/audit")
	}
	exported := func() bool {
		resp, err := http.Get(f.base + "/metrics")
		if err != nil {
			return false
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		return err == nil && strings.Contains(string(body), "rasa_gitops_audit_head_info{hash=") && strings.Contains(f.log.String(), `"msg":"audit anchor"`)
	}
	for deadline := time.Now().Add(10 * time.Second); !exported() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if !exported() {
		t.Errorf("the anchor is not in /metrics or the log")
	}
	f.stop()
	// The anchors as the Git ref holds them now (the daemon may have pushed more).
	anchors, err := exec.Command("git", "-C", f.remote.Bare, "show", "refs/rasa-gitops/audit:anchors.jsonl").Output()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "anchors.jsonl")
	writeFile(t, file, string(anchors), 0o644)
	if code, out, errOut := runCLI(t, "audit", "verify", "--state-dir", f.state, "--anchor", file); code != exitOK || !strings.Contains(out, "chain intact, matches") {
		t.Fatalf("verify --anchor of the untouched log: exit %d %s%s", code, out, errOut)
	}
	// Delete the newest anchored rows (and any after them).
	parsed, err := state.ReadAnchors(bytes.NewReader(anchors))
	if err != nil {
		t.Fatal(err)
	}
	newest := parsed[len(parsed)-1].Rows
	db, err := sql.Open("sqlite", filepath.Join(f.state, state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DELETE FROM audit WHERE id > ?", newest-2); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCLI(t, "audit", "verify", "--state-dir", f.state); code != exitOK {
		t.Fatalf("the chain alone should look intact after a truncation: exit %d %s", code, out)
	}
	code, _, errOut := runCLI(t, "audit", "verify", "--state-dir", f.state, "--anchor", file)
	if code != exitError || !strings.Contains(errOut, "does not match its anchors") || !strings.Contains(errOut, "are missing") {
		t.Errorf("verify --anchor after a truncation: exit %d %s", code, errOut)
	}
}
