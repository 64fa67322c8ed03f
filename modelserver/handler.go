package modelserver

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/modelarchive"
)

// Handler serves the model-server routes Rasa pulls from and the model upload.
type Handler struct {
	Tags  *Tags
	Store *Store
	// Token is the model token Rasa sends as ?token=; it is always required.
	Token string
	// UploadToken is the bearer token POST /api/models needs.
	UploadToken string
	// StallTimeout is how long a model download or upload may go without moving a
	// chunk before the connection is dropped (default DefaultStallTimeout).
	StallTimeout time.Duration
	// Observed records what each environment reports it has loaded.
	Observed *Observed
	// CheckName, when set, vets an uploaded model's name (models.yaml wants a DNS label).
	CheckName func(model string) error
	// BytesServed counts model bytes sent (for metrics).
	BytesServed atomic.Int64

	once sync.Once
	mux  *http.ServeMux
}

func (h *Handler) routes() {
	h.mux = http.NewServeMux()
	for _, p := range []string{"/api/projects/{project}/models/tags/{tag}", "/projects/{project}/models/tags/{tag}", "/api/models/tags/{tag}"} {
		h.mux.HandleFunc("GET "+p, h.serveTag) // GET patterns also answer HEAD
	}
	h.mux.HandleFunc("POST /api/models", h.upload)
}

// ServeHTTP dispatches to the model routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(h.routes)
	h.mux.ServeHTTP(w, r)
}

// Routes lists the patterns this handler answers, for mounting it in a larger mux.
func Routes() []string {
	return []string{"/api/projects/", "/projects/", "/api/models/tags/", "POST /api/models"}
}

// failure writes a JSON error in the shape Rasa X uses.
func failure(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"status": "failure", "reason": reason, "message": message, "code": code})
}

func (h *Handler) serveTag(w http.ResponseWriter, r *http.Request) {
	if h.Token == "" || subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("token")), []byte(h.Token)) != 1 {
		failure(w, http.StatusUnauthorized, "NotAuthenticated", "the model token is missing or wrong: Rasa sends it as ?token= from endpoints.yml models.token")
		return
	}
	table := h.Tags.Snapshot()
	project, env := r.PathValue("project"), r.PathValue("tag")
	if project != "" && project != "default" && project != table.Project {
		failure(w, http.StatusNotFound, "NotFound", fmt.Sprintf("no project %q here", project))
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && h.Observed != nil {
		h.Observed.saw(env, inm)
	}
	tag, ok := table.Tags[env]
	if !ok {
		failure(w, http.StatusNotFound, "NotFound", fmt.Sprintf("no model is tagged %s", env))
		return
	}
	if etagMatches(r.Header.Get("If-None-Match"), tag.Digest) {
		w.Header().Set("ETag", tag.Digest)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	f, err := os.Open(h.Store.Path(tag.Digest))
	if err != nil {
		failure(w, http.StatusNotFound, "NotFound", fmt.Sprintf("model %s of %s is not in the store yet", tag.Model, env))
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		failure(w, http.StatusInternalServerError, "StoreError", "cannot read the model file")
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/gzip")
	hdr.Set("ETag", tag.Digest) // unquoted, as Rasa X sends it and Rasa sends it back
	hdr.Set("filename", tag.Model+".tar.gz")
	hdr.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": tag.Model + ".tar.gz"}))
	hdr.Set("Content-Length", strconv.FormatInt(info.Size(), 10))
	hdr.Set("Last-Modified", info.ModTime().UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	n, _ := h.copyWithDeadlines(w, f)
	h.BytesServed.Add(n)
}

// stallChunk is how much of a model must move within StallTimeout.
const stallChunk = 1 << 20

// DefaultStallTimeout is StallTimeout's default.
const DefaultStallTimeout = time.Minute

func (h *Handler) stallTimeout() time.Duration {
	if h.StallTimeout <= 0 {
		return DefaultStallTimeout
	}
	return h.StallTimeout
}

// copyWithDeadlines sends the model in chunks, each with its own write deadline: the
// server's WriteTimeout would cut a slow but steady download, while no deadline
// would let a client that stopped reading hold the connection forever. Each chunk
// is an *io.LimitedReader of the *os.File, which net/http still sends with sendfile:
// the model is never buffered.
func (h *Handler) copyWithDeadlines(w http.ResponseWriter, f *os.File) (int64, error) {
	rc := http.NewResponseController(w)
	var total int64
	for {
		if err := rc.SetWriteDeadline(time.Now().Add(h.stallTimeout())); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return total, err
		}
		n, err := io.CopyN(w, f, stallChunk)
		total += n
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// deadlineBody extends the request's read deadline before each read of an upload, so
// a large model sent steadily outlasts the server's ReadTimeout and a stalled one does
// not hold the connection longer than StallTimeout.
type deadlineBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration
}

func (b deadlineBody) Read(p []byte) (int, error) {
	if err := b.rc.SetReadDeadline(time.Now().Add(b.stall)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	return b.ReadCloser.Read(p)
}

// etagMatches compares If-None-Match with a digest by hand: Rasa sends the ETag back
// unquoted, which net/http's own conditional handling would not match. Quoted and
// weak (W/) forms and lists are accepted too.
func etagMatches(header, digest string) bool {
	if header == "" {
		return false
	}
	for _, part := range strings.Split(header, ",") {
		v := strings.TrimSpace(part)
		if v == "*" {
			return true
		}
		v = strings.TrimPrefix(v, "W/")
		v = strings.Trim(v, `"`)
		if v == digest {
			return true
		}
	}
	return false
}

// normalizeETag turns an If-None-Match value into a bare digest (first entry).
func normalizeETag(header string) string {
	v := strings.TrimSpace(strings.Split(header, ",")[0])
	return strings.Trim(strings.TrimPrefix(v, "W/"), `"`)
}

// upload stores a model sent as multipart field "model", as Rasa X's POST /api/models.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request) {
	const prefix = "Bearer "
	auth := r.Header.Get("Authorization")
	if h.UploadToken == "" || !strings.HasPrefix(auth, prefix) || subtle.ConstantTimeCompare([]byte(auth[len(prefix):]), []byte(h.UploadToken)) != 1 {
		failure(w, http.StatusUnauthorized, "NotAuthenticated", "POST /api/models needs Authorization: Bearer <api token>")
		return
	}
	if err := h.Store.CheckIncoming(r.ContentLength); err != nil {
		storeFailure(w, err)
		return
	}
	r.Body = deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w), stall: h.stallTimeout()}
	mr, err := r.MultipartReader()
	if err != nil {
		failure(w, http.StatusBadRequest, "BadRequest", "send the model as multipart/form-data field \"model\"")
		return
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			failure(w, http.StatusBadRequest, "BadRequest", "no multipart field \"model\"")
			return
		}
		if err != nil {
			failure(w, http.StatusBadRequest, "BadRequest", "malformed multipart body")
			return
		}
		if part.FormName() != "model" {
			part.Close()
			continue
		}
		name := part.FileName()
		err = checkModelFileName(name)
		if err == nil && h.CheckName != nil {
			err = h.CheckName(strings.TrimSuffix(name, ".tar.gz"))
		}
		if err != nil {
			part.Close()
			failure(w, http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		digest, size, err := h.Store.PutNamed(name, clientReader{part})
		part.Close()
		switch {
		case errors.Is(err, ErrNameTaken):
			failure(w, http.StatusConflict, "Conflict", err.Error())
		case errors.Is(err, modelarchive.ErrNotModel):
			failure(w, http.StatusUnprocessableEntity, "NotAModel", name+": "+err.Error())
		case err != nil:
			storeFailure(w, err)
		default:
			model := strings.TrimSuffix(name, ".tar.gz")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"name": model, "sha256": digest, "size": size, "models_yaml": Snippet(model, digest)})
		}
		return
	}
}

// errClientBody marks a failure to read the upload itself (a truncated or malformed
// body, a client that hung up): the client's fault, not the store's.
var errClientBody = errors.New("the upload's body could not be read")

// clientReader marks the errors of reading an upload's body with errClientBody.
type clientReader struct{ r io.Reader }

func (c clientReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w (%v): send the whole file again", errClientBody, err)
	}
	return n, err
}

// storeFailure answers a store error: 400 for a body that could not be read, 413 for
// a model over the size limit, 507 when the disk cannot hold it, 500 otherwise.
func storeFailure(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errClientBody):
		failure(w, http.StatusBadRequest, "BadRequest", err.Error())
	case errors.Is(err, ErrTooLarge):
		failure(w, http.StatusRequestEntityTooLarge, "TooLarge", err.Error())
	case errors.Is(err, ErrNoSpace):
		failure(w, http.StatusInsufficientStorage, "NoSpace", err.Error())
	default:
		failure(w, http.StatusInternalServerError, "StoreError", err.Error())
	}
}

// Snippet is the models.yaml entry to commit for a stored model.
func Snippet(model, digest string) string {
	return fmt.Sprintf("models:\n  %s:\n    sha256: %s\n", model, digest)
}

// Observed records, per environment, the ETag its Rasa server last sent as
// If-None-Match: Rasa sends the ETag of the model it has loaded (a failed load does
// not change it), so this is the model the environment serves.
type Observed struct {
	mu   sync.Mutex
	seen map[string]Seen
}

// Seen is one environment's last revalidation.
type Seen struct {
	Digest string
	At     time.Time
}

// NewObserved returns an empty record.
func NewObserved() *Observed { return &Observed{seen: map[string]Seen{}} }

func (o *Observed) saw(env, inm string) {
	o.mu.Lock()
	o.seen[env] = Seen{Digest: normalizeETag(inm), At: time.Now()}
	o.mu.Unlock()
}

// Get returns what env last reported.
func (o *Observed) Get(env string) (Seen, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.seen[env]
	return s, ok
}
