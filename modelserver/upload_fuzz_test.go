package modelserver

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/internal/modelarchive"
)

// FuzzUpload: any body and content type sent to POST /api/models gets one of the
// documented answers, never a panic; only a 201 adds a model to the store or a name.
func FuzzUpload(f *testing.F) {
	good, contentType, err := multipartModel("bot.tar.gz", modelarchive.Rasa3Model("seed"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes(), contentType)
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"model\"; filename=\"x.tar.gz\"\r\n\r\nnot a model\r\n--b--\r\n"), "multipart/form-data; boundary=b")
	f.Add([]byte("{}"), "application/json")
	state := f.TempDir()
	store, err := NewStore(state)
	if err != nil {
		f.Fatal(err)
	}
	store.MaxSize = 1 << 20
	h := &Handler{Store: store, UploadToken: "api-token", CheckName: func(string) error { return nil }}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		before := storeEntries(t, store)
		req := httptest.NewRequest(http.MethodPost, "/api/models", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", "Bearer api-token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusCreated:
		case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusInsufficientStorage:
			if after := storeEntries(t, store); after != before {
				t.Fatalf("a refused upload (%d: %s) changed the store: %d → %d entries", rec.Code, rec.Body, before, after)
			}
		default:
			t.Fatalf("answer %d: %s", rec.Code, rec.Body)
		}
	})
}

// storeEntries counts the store's models, names and leftovers.
func storeEntries(t *testing.T, s *Store) int {
	n := 0
	for _, d := range []string{"sha256", "names"} {
		entries, err := os.ReadDir(filepath.Join(s.Dir(), d))
		if err != nil {
			t.Fatal(err)
		}
		n += len(entries)
	}
	return n
}
