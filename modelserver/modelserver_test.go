package modelserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/needs"

	"github.com/rasa-gitops/rasa-gitops/internal/modelarchive"
)

const token = "model-token-123"

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fixture is a store with one model tagged production, served over real HTTP.
type fixture struct {
	srv     *httptest.Server
	h       *Handler
	model   []byte
	digest  string
	state   string
	tags    *Tags
	store   *Store
	observe *Observed
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	state := t.TempDir()
	store, err := NewStore(state)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := OpenTags(state)
	if err != nil {
		t.Fatal(err)
	}
	model := bytes.Repeat([]byte("model-bytes "), 1000)
	digest, _, err := store.Put(bytes.NewReader(model), digestOf(model))
	if err != nil {
		t.Fatal(err)
	}
	if err := tags.Set(Table{Project: "rasa", Tags: map[string]Tag{"production": {Model: "moodbot", Digest: digest}}}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{model: model, digest: digest, state: state, tags: tags, store: store, observe: NewObserved()}
	f.h = &Handler{Tags: tags, Store: store, Token: token, UploadToken: "api-token", Observed: f.observe}
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	return f
}

// rasaGet sends exactly what Rasa's model-pulling client sends.
func (f *fixture) rasaGet(t *testing.T, method, path, query string, inm string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	if inm != "" {
		req.Header.Set("If-None-Match", inm)
	}
	// DisableCompression: see the raw response, as aiohttp would.
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestModelServerProtocol(t *testing.T) {
	f := newFixture(t)
	tq := "?token=" + token
	tests := []struct {
		name, method, path, query, inm string
		code                           int
		body                           bool
	}{
		{"get", "GET", "/api/projects/default/models/tags/production", tq, "", 200, true},
		{"get declared project", "GET", "/api/projects/rasa/models/tags/production", tq, "", 200, true},
		{"rasa x docs path", "GET", "/projects/default/models/tags/production", tq, "", 200, true},
		{"short alias", "GET", "/api/models/tags/production", tq, "", 200, true},
		{"head", "HEAD", "/api/projects/default/models/tags/production", tq, "", 200, false},
		{"revalidate unquoted", "GET", "/api/projects/default/models/tags/production", tq, f.digest, 204, false},
		{"revalidate quoted", "GET", "/api/projects/default/models/tags/production", tq, `"` + f.digest + `"`, 204, false},
		{"revalidate weak", "GET", "/api/projects/default/models/tags/production", tq, `W/"` + f.digest + `"`, 204, false},
		{"revalidate list", "GET", "/api/projects/default/models/tags/production", tq, `"other", ` + f.digest, 204, false},
		{"stale etag", "GET", "/api/projects/default/models/tags/production", tq, strings.Repeat("0", 64), 200, true},
		{"python None", "GET", "/api/projects/default/models/tags/production", tq, "None", 200, true},
		{"no model tagged", "GET", "/api/projects/default/models/tags/worker", tq, "", 404, false},
		{"unknown project", "GET", "/api/projects/other/models/tags/production", tq, "", 404, false},
		{"no token", "GET", "/api/projects/default/models/tags/production", "", "", 401, false},
		{"wrong token", "GET", "/api/projects/default/models/tags/production", "?token=nope", "", 401, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.rasaGet(t, tt.method, tt.path, tt.query, tt.inm)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.code)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read the body: %v", err)
			}
			if resp.Header.Get("Content-Encoding") != "" {
				t.Errorf("Content-Encoding %q: Rasa would save a compressed body", resp.Header.Get("Content-Encoding"))
			}
			switch tt.code {
			case 200:
				h := resp.Header
				if h.Get("ETag") != f.digest || h.Get("filename") != "moodbot.tar.gz" || h.Get("Content-Type") != "application/gzip" {
					t.Errorf("headers: ETag %q filename %q Content-Type %q", h.Get("ETag"), h.Get("filename"), h.Get("Content-Type"))
				}
				if h.Get("Content-Length") != fmt.Sprint(len(f.model)) {
					t.Errorf("Content-Length %q", h.Get("Content-Length"))
				}
				if tt.body && !bytes.Equal(body, f.model) {
					t.Errorf("body differs from the model (%d bytes)", len(body))
				}
				if !tt.body && len(body) != 0 {
					t.Errorf("HEAD sent a body")
				}
			case 204:
				if len(body) != 0 {
					t.Error("204 with a body")
				}
			case 401, 404:
				var msg map[string]any
				if err := json.Unmarshal(body, &msg); err != nil || msg["code"] != float64(tt.code) {
					t.Errorf("JSON error body: %s", body)
				}
				if strings.Contains(string(body), token) {
					t.Error("the token leaked into an error")
				}
			}
		})
	}
}

func TestObservedIsWhatRasaSendsBack(t *testing.T) {
	f := newFixture(t)
	if _, ok := f.observe.Get("production"); ok {
		t.Fatal("observed before any request")
	}
	f.rasaGet(t, "GET", "/api/projects/default/models/tags/production", "?token="+token, `"`+f.digest+`"`)
	seen, ok := f.observe.Get("production")
	if !ok || seen.Digest != f.digest || time.Since(seen.At) > time.Minute {
		t.Errorf("observed %+v", seen)
	}
}

func TestRetagDuringDownloadFinishesWithTheOldModel(t *testing.T) {
	f := newFixture(t)
	second := bytes.Repeat([]byte("second model "), 2000)
	d2, _, err := f.store.Put(bytes.NewReader(second), "")
	if err != nil {
		t.Fatal(err)
	}
	resp := f.rasaGet(t, "GET", "/api/projects/default/models/tags/production", "?token="+token, "")
	first := make([]byte, 100)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	// Retag while the body is still being read.
	if err := f.tags.Set(Table{Project: "rasa", Tags: map[string]Tag{"production": {Model: "moodbot-2", Digest: d2}}}); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the rest of the download: %v", err)
	}
	if got := append(first, rest...); !bytes.Equal(got, f.model) {
		t.Fatalf("the download in flight changed model (%d bytes)", len(got))
	}
	next := f.rasaGet(t, "GET", "/api/projects/default/models/tags/production", "?token="+token, f.digest)
	if next.StatusCode != 200 || next.Header.Get("ETag") != d2 || next.Header.Get("filename") != "moodbot-2.tar.gz" {
		t.Errorf("after retag: %d %q %q", next.StatusCode, next.Header.Get("ETag"), next.Header.Get("filename"))
	}
}

func TestTagsSeenByAnotherProcess(t *testing.T) {
	f := newFixture(t)
	other, err := OpenTags(f.state) // what `serve` holds while `apply` writes
	if err != nil {
		t.Fatal(err)
	}
	if tag, _ := other.Get("production"); tag.Digest != f.digest {
		t.Fatalf("other process sees %+v", tag)
	}
	if err := f.tags.Set(Table{Project: "rasa", Tags: map[string]Tag{}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := other.Get("production"); !ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Error("another Tags on the same state dir never saw the change")
}

func newStore(t *testing.T) *Store {
	t.Helper()
	store, err := NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func TestStoreDigestMismatchStoresNothing(t *testing.T) {
	store := newStore(t)
	want := strings.Repeat("a", 64)
	_, _, err := store.Put(strings.NewReader("not the model"), want)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), "expected sha256 "+want) || !strings.Contains(err.Error(), "found "+digestOf([]byte("not the model"))) {
		t.Fatalf("err = %v", err)
	}
	assertEmptyStore(t, store)
}

func assertEmptyStore(t *testing.T, store *Store) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(store.Dir(), "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("store keeps %v after a failure", names)
	}
}

func TestStoreTruncatedDownload(t *testing.T) {
	model := bytes.Repeat([]byte("x"), 1<<16)
	// A server that promises the whole model and hangs up halfway.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(model)))
		if _, err := w.Write(model[:len(model)/2]); err != nil {
			t.Errorf("write half the model: %v", err)
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		if err := conn.Close(); err != nil {
			t.Errorf("hang up: %v", err)
		}
	}))
	srv.StartTLS()
	defer srv.Close()
	store := newStore(t)
	store.Client = srv.Client()
	err := store.Fetch(t.Context(), "m", digestOf(model), srv.URL+"/m.tar.gz?sig=secret", "")
	if err == nil {
		t.Fatal("a truncated download was accepted")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("the source's query leaked: %v", err)
	}
	assertEmptyStore(t, store)
	// The same source served whole is stored.
	srv2 := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := w.Write(model); err != nil {
			t.Errorf("serve the model: %v", err)
		}
	}))
	defer srv2.Close()
	store.Client = srv2.Client()
	if err := store.Fetch(t.Context(), "m", digestOf(model), srv2.URL+"/m.tar.gz", ""); err != nil || !store.Has(digestOf(model)) {
		t.Fatalf("whole download: %v", err)
	}
}

// tinyTmpfs mounts a tmpfs of size on a temporary directory (unmounted at the end):
// a disk that fills up. It needs root; CI runs as root, so there it fails, not skips.
func tinyTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).Run(); err != nil {
		needs.Missing(t, "cannot mount a tiny tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func TestStoreDiskFull(t *testing.T) {
	dir := tinyTmpfs(t, "64k")
	store, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("y"), 256<<10)
	_, _, err = store.Put(bytes.NewReader(big), digestOf(big))
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("err = %v", err)
	}
	assertEmptyStore(t, store)
	small := []byte("fits")
	if _, _, err := store.Put(bytes.NewReader(small), digestOf(small)); err != nil {
		t.Errorf("after a full disk the store cannot take a small model: %v", err)
	}
}

// multipartModel is a multipart/form-data body of one model file, and its content type.
func multipartModel(name string, content []byte) (*bytes.Buffer, string, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, err := mw.CreateFormFile("model", name)
	if err != nil {
		return nil, "", err
	}
	if _, err := part.Write(content); err != nil {
		return nil, "", err
	}
	return &body, mw.FormDataContentType(), mw.Close()
}

// upload posts a model and returns the status and the JSON answer. Tests call it from
// several goroutines, so it fails with t.Errorf (and status 0), never t.Fatal.
func upload(t *testing.T, f *fixture, name string, content []byte, bearer string) (int, map[string]any) {
	t.Helper()
	body, contentType, err := multipartModel(name, content)
	if err != nil {
		t.Errorf("upload %s: build the body: %v", name, err)
		return 0, nil
	}
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/api/models", body)
	if err != nil {
		t.Errorf("upload %s: %v", name, err)
		return 0, nil
	}
	req.Header.Set("Content-Type", contentType)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("upload %s: %v", name, err)
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Errorf("upload %s: the %d answer is not JSON: %v", name, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

func TestUpload(t *testing.T) {
	f := newFixture(t)
	a := modelarchive.Rasa3Model("model a")
	if code, out := upload(t, f, "bot-a.tar.gz", a, "api-token"); code != 201 || out["sha256"] != digestOf(a) || !strings.Contains(out["models_yaml"].(string), "bot-a:\n    sha256: "+digestOf(a)) {
		t.Fatalf("upload: %d %v", code, out)
	}
	if code, _ := upload(t, f, "bot-a.tar.gz", a, "api-token"); code != 201 {
		t.Errorf("the same file again: %d", code)
	}
	if code, out := upload(t, f, "bot-a.tar.gz", modelarchive.Rasa3Model("other"), "api-token"); code != 409 {
		t.Errorf("a different file under the same name: %d %v", code, out)
	}
	if code, _ := upload(t, f, "bot.zip", a, "api-token"); code != 400 {
		t.Errorf("a name without .tar.gz: %d", code)
	}
	if code, _ := upload(t, f, "bot-b.tar.gz", a, ""); code != 401 {
		t.Errorf("no bearer token: %d", code)
	}
	if code, _ := upload(t, f, "bot-b.tar.gz", a, "wrong"); code != 401 {
		t.Errorf("wrong bearer token: %d", code)
	}
}

// TestUploadRefusesWhatIsNotAModel: an upload Rasa could not load is refused with 422
// naming what is missing, and nothing is stored under its digest or its name.
func TestUploadRefusesWhatIsNotAModel(t *testing.T) {
	f := newFixture(t)
	noComponents, err := modelarchive.Build(map[string]string{"metadata.json": "{}"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		content []byte
		says    string
	}{
		{[]byte("notmodel"), "not gzip-compressed"},
		{noComponents, "none of the trained components"},
	} {
		code, out := upload(t, f, "junk.tar.gz", tc.content, "api-token")
		if msg, _ := out["message"].(string); code != http.StatusUnprocessableEntity || !strings.Contains(msg, "junk.tar.gz") || !strings.Contains(msg, tc.says) {
			t.Errorf("%q: %d %v, want 422 saying %q", tc.content, code, out, tc.says)
		}
		if f.store.Has(digestOf(tc.content)) {
			t.Errorf("%q was stored", tc.content)
		}
	}
	if _, err := os.Stat(filepath.Join(f.store.Dir(), "names", "junk.tar.gz")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused upload claimed its name: %v", err)
	}
	assertNoIncoming(t, f.store)
}

func TestConcurrentUploadsOfOneModel(t *testing.T) {
	f := newFixture(t)
	content := modelarchive.Rasa3Model(strings.Repeat("concurrent ", 5000))
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i], _ = upload(t, f, "same.tar.gz", content, "api-token")
		}(i)
	}
	wg.Wait()
	for i, c := range codes {
		if c != 201 {
			t.Errorf("upload %d: %d", i, c)
		}
	}
	data, err := os.ReadFile(f.store.Path(digestOf(content)))
	if err != nil || !bytes.Equal(data, content) {
		t.Errorf("stored model is not the upload: %v", err)
	}
	assertNoIncoming(t, f.store)
}

// assertNoIncoming fails when an upload left its temp file in the store.
func assertNoIncoming(t *testing.T, store *Store) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(store.Dir(), "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".incoming") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

func TestGCKeepsModelsInUseAndRecentOnes(t *testing.T) {
	store := newStore(t)
	var digests []string
	for i := 0; i < 4; i++ {
		d, _, err := store.Put(strings.NewReader(fmt.Sprint("model ", i)), "")
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
		old := time.Now().Add(time.Duration(i-10) * time.Minute)
		if err := os.Chtimes(store.Path(d), old, old); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := store.GC(map[string]bool{digests[0]: true}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !store.Has(digests[0]) || !store.Has(digests[3]) || store.Has(digests[1]) || store.Has(digests[2]) || len(removed) != 2 {
		t.Errorf("after GC: removed %v", removed)
	}
}

func TestNudgeErrorsNeverCarryTokens(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What Rasa answers when it cannot reach the model server: the URL, token included.
		w.WriteHeader(http.StatusInternalServerError)
		if _, err := fmt.Fprintf(w, `{"message":"cannot GET http://models/tags/production?token=the-model-token"}`); err != nil {
			t.Errorf("answer: %v", err)
		}
	}))
	defer srv.Close()
	err := Nudge(t.Context(), srv.Client(), srv.URL, "the-auth-token", ModelServerConfig{URL: "http://models/tags/production", Token: "the-model-token"})
	if err == nil {
		t.Fatal("a 500 was taken for success")
	}
	if strings.Contains(err.Error(), "the-model-token") || strings.Contains(err.Error(), "the-auth-token") {
		t.Errorf("a token leaked: %v", err)
	}
}

// TestConcurrentUploadsOfDifferentModelsUnderOneName: racing uploads of different
// bytes under one name: exactly one wins, every other is refused with 409 and stores
// nothing (FuzzUpload found a refused upload's model left in the store), and the name
// names the winner's digest.
func TestConcurrentUploadsOfDifferentModelsUnderOneName(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i], _ = upload(t, f, "contested.tar.gz", modelarchive.Rasa3Model(strings.Repeat(fmt.Sprint("model ", i, " "), 4000)), "api-token")
		}(i)
	}
	wg.Wait()
	won := -1
	for i, c := range codes {
		switch {
		case c == 201 && won < 0:
			won = i
		case c == 201:
			t.Errorf("uploads %d and %d both won the name", won, i)
		case c != 409:
			t.Errorf("upload %d: %d, want 409", i, c)
		}
	}
	if won < 0 {
		t.Fatal("no upload won the name")
	}
	name, err := os.ReadFile(filepath.Join(f.store.Dir(), "names", "contested.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(name)) != digestOf(modelarchive.Rasa3Model(strings.Repeat(fmt.Sprint("model ", won, " "), 4000))) {
		t.Errorf("the name holds %q, not the winner's digest", name)
	}
	// A refused upload stores nothing: only the winner's model is in the store.
	for i := range codes {
		stored := f.store.Has(digestOf(modelarchive.Rasa3Model(strings.Repeat(fmt.Sprint("model ", i, " "), 4000))))
		if stored != (i == won) {
			t.Errorf("upload %d (answered %d): stored = %v", i, codes[i], stored)
		}
	}
}
