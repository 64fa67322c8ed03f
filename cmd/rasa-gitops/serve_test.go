package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/modelarchive"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
)

// TestServe runs `serve` in the foreground: it applies the directory, serves the
// model server and the upload on --listen, and a cancelled context (what SIGTERM does
// through main's signal.NotifyContext) makes it finish and exit 0.
func TestServe(t *testing.T) {
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	addr, port := testengine.FreeHostPort(t, cli)

	dir, state := t.TempDir(), t.TempDir()
	files := standInDeclaration(t, project, port, "1s")
	files["environments/production.yaml"] = "model: moodbot-v1\n"
	files["environments/worker.yaml"] = ""
	writeTree(t, dir, files)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	stderr := &syncBuffer{} // serve logs from several goroutines while the test reads
	go func() {
		done <- run(ctx, []string{"serve", "--state-dir", state, "--listen", addr, "--interval", "1s", dir}, io.Discard, stderr)
	}()
	t.Cleanup(func() { cancel(); <-done })

	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve was not ready within 60 s:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	token, err := os.ReadFile(filepath.Join(state, "secrets", "model-token"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/api/projects/default/models/tags/production?token=" + strings.TrimSpace(string(token)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("filename") != "moodbot-v1.tar.gz" {
		t.Fatalf("model route: %d %q\n%s", resp.StatusCode, resp.Header.Get("filename"), stderr.String())
	}

	// Upload over HTTP with the API token.
	apiToken, err := os.ReadFile(filepath.Join(state, "secrets", "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, err := mw.CreateFormFile("model", "uploaded.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := part.Write(modelarchive.Rasa3Model("an uploaded model")); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/api/models", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(apiToken)))
	up, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	up.Body.Close()
	if up.StatusCode != http.StatusCreated {
		t.Errorf("upload: %d", up.StatusCode)
	}
	checkServePage(t, base, strings.TrimSpace(string(apiToken)))

	// A promotion by editing the environment file is followed without a restart.
	before := containerID(t, cli, project+"-rasa-production-1")
	writeTree(t, dir, map[string]string{"environments/production.yaml": "model: moodbot-v2\n"})
	deadline = time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(stderr.String(), `"environment":"production","model":"moodbot-v2","serves":"moodbot-v2.tar.gz","model_synced":true`) {
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), `"environment":"production","model":"moodbot-v2","serves":"moodbot-v2.tar.gz","model_synced":true`) {
		t.Fatalf("serve did not follow the promotion:\n%s", stderr.String())
	}
	if after := containerID(t, cli, project+"-rasa-production-1"); after != before {
		t.Error("the promotion restarted the production container")
	}
	for _, secret := range []string{strings.TrimSpace(string(token)), strings.TrimSpace(string(apiToken))} {
		if strings.Contains(stderr.String(), secret) {
			t.Error("a token reached the log")
		}
	}

	cancel()
	select {
	case code := <-done:
		done <- code
		if code != exitOK {
			t.Errorf("serve exited %d after cancellation\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestModelPush(t *testing.T) {
	state := t.TempDir()
	model := filepath.Join("..", "..", "examples", "quickstart", "models", "moodbot-v1.tar.gz")
	code, out, errOut := runCLI(t, "model", "push", "--state-dir", state, model)
	data, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	want := "models:\n  moodbot-v1:\n    sha256: " + modelserver.Digest(data) + "\n"
	if code != exitOK || out != want {
		t.Fatalf("model push: exit %d\n%s%s", code, out, errOut)
	}
	if stored, err := os.ReadFile(filepath.Join(state, "models", "sha256", modelserver.Digest(data)+".tar.gz")); err != nil || !bytes.Equal(stored, data) {
		t.Errorf("not stored: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "model.zip")
	writeFile(t, bad, "x", 0o644)
	if code, _, errOut := runCLI(t, "model", "push", "--state-dir", state, bad); code != exitError || !strings.Contains(errOut, ".tar.gz") {
		t.Errorf("a .zip was pushed: exit %d %s", code, errOut)
	}
	junk := filepath.Join(t.TempDir(), "junk.tar.gz")
	writeFile(t, junk, "notmodel", 0o644)
	if code, _, errOut := runCLI(t, "model", "push", "--state-dir", state, junk); code != exitError || !strings.Contains(errOut, "junk.tar.gz") || !strings.Contains(errOut, "not a Rasa model archive: not gzip-compressed") {
		t.Errorf("a file that is not a model was pushed: exit %d %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(state, "models", "sha256", modelserver.Digest([]byte("notmodel"))+".tar.gz")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused file was stored: %v", err)
	}
	upper := filepath.Join(t.TempDir(), "MoodBot.tar.gz")
	writeFile(t, upper, "x", 0o644)
	if code, _, errOut := runCLI(t, "model", "push", "--state-dir", state, upper); code != exitError || !strings.Contains(errOut, "not a DNS label") {
		t.Errorf("a model name models.yaml would refuse was pushed: exit %d %s", code, errOut)
	}
}

// TestApplyModels: a one-shot apply converges the models too, serving the model server
// itself while it waits, and reports per environment what it serves.
func TestApplyModels(t *testing.T) {
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	addr, port := testengine.FreeHostPort(t, cli)
	dir, state := t.TempDir(), t.TempDir()
	files := standInDeclaration(t, project, port, "")
	files["environments/production.yaml"] = "model: moodbot-v1\n"
	files["environments/worker.yaml"] = ""
	writeTree(t, dir, files)
	code, out, errOut := runCLI(t, "apply", "--state-dir", state, "--listen", addr, dir)
	if code != exitOK {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"model:production  declared moodbot-v1, serves moodbot-v1.tar.gz: model-synced",
		"model:worker  declared (no model), serves (none): model-synced",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	// A model whose source does not match its digest is refused before any retag.
	files["models.yaml"] = strings.Replace(files["models.yaml"], "source: models/moodbot-v2.tar.gz", "source: models/moodbot-v1.tar.gz", 1)
	files["environments/production.yaml"] = "model: moodbot-v2\n"
	writeTree(t, dir, files)
	code, out, errOut = runCLI(t, "apply", "--state-dir", state, "--listen", addr, dir)
	if code != exitError || !strings.Contains(errOut, "digest mismatch") {
		t.Fatalf("apply with a wrong digest: exit %d\n%s%s", code, out, errOut)
	}
	tags, err := os.ReadFile(filepath.Join(state, "models", "tags.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(tags), `"model": "moodbot-v1"`) {
		t.Errorf("the tag table changed although the model could not be had:\n%s", tags)
	}
}
