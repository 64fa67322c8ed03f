package modelserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/internal/modelarchive"
)

// TestUploadOverTheSizeLimit: an upload larger than MaxSize is answered 413, both
// when its Content-Length says so (nothing read) and when it is streamed without one
// (cut at the limit); nothing is stored and the message names the flag.
func TestUploadOverTheSizeLimit(t *testing.T) {
	f := newFixture(t)
	f.store.MaxSize = 1 << 10
	big := append(modelarchive.Rasa3Model("big"), make([]byte, 4<<10)...) // 4 KiB over the limit
	for _, chunked := range []bool{false, true} {
		body, contentType, err := multipartModel("big.tar.gz", big)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = body
		if chunked {
			r = io.MultiReader(body) // hides the length: sent chunked
		}
		req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/api/models", r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", "Bearer api-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("chunked=%v: read the answer: %v", chunked, err)
		}
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(msg), "--max-model-size") {
			t.Errorf("chunked=%v: %d %s, want 413 naming --max-model-size", chunked, resp.StatusCode, msg)
		}
		if f.store.Has(digestOf(big)) {
			t.Errorf("chunked=%v: the model over the limit was stored", chunked)
		}
	}
	assertNoIncoming(t, f.store)
}

// TestDownloadOverTheSizeLimit: a source announcing more than MaxSize is refused
// before its body is read; one that streams more than it announced is cut off.
func TestDownloadOverTheSizeLimit(t *testing.T) {
	model := bytes.Repeat([]byte("z"), 8<<10)
	for _, announce := range []bool{true, false} {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if announce {
				w.Header().Set("Content-Length", fmt.Sprint(len(model)))
			} else {
				w.(http.Flusher).Flush() // no length: chunked
			}
			w.Write(model) // the client hangs up on a model over the limit: the error is expected
		}))
		store := newStore(t)
		store.Client, store.MaxSize = srv.Client(), 1<<10
		err := store.Fetch(t.Context(), "m", digestOf(model), srv.URL+"/m.tar.gz", "")
		srv.Close()
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "1KiB limit") {
			t.Errorf("announce=%v: %v, want ErrTooLarge naming the limit", announce, err)
		}
		assertEmptyStore(t, store)
	}
}

// TestDownloadNeedsFreeSpace: a download whose size does not fit on the store's file
// system is refused before it is read, saying how much is needed and free.
func TestDownloadNeedsFreeSpace(t *testing.T) {
	dir := tinyTmpfs(t, "1m")
	model := bytes.Repeat([]byte("w"), 2<<20)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(model)))
		w.Write(model) // refused before the body is read: the error is expected
	}))
	defer srv.Close()
	store, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	store.Client = srv.Client()
	err = store.Fetch(t.Context(), "m", digestOf(model), srv.URL+"/m.tar.gz", "")
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "the model needs 2MiB") || !strings.Contains(err.Error(), "free on "+dir) {
		t.Fatalf("err = %v, want ErrNoSpace with the sizes and the directory", err)
	}
	assertEmptyStore(t, store)
}
