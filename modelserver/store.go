package modelserver

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/docker/go-units"

	"github.com/rasa-gitops/rasa-gitops/internal/modelarchive"
	"github.com/rasa-gitops/rasa-gitops/internal/redact"
)

// ErrDigestMismatch is returned when content does not hash to the declared digest;
// nothing is stored.
var ErrDigestMismatch = errors.New("digest mismatch")

// ErrNameTaken is returned when an upload names a model that is already stored with
// different content.
var ErrNameTaken = errors.New("a different model with this name is already stored")

// ErrTooLarge is returned when a model is larger than the store accepts (MaxSize);
// nothing is stored.
var ErrTooLarge = errors.New("model too large")

// ErrNoSpace is returned when the store's file system has too little free space for
// a model of a known size; nothing is written.
var ErrNoSpace = errors.New("not enough free disk space")

// DefaultMaxModelSize bounds one model (uploads and downloads): Rasa models with
// language-model featurizers reach a few hundred MB, so 4 GiB leaves room and still
// stops an endless stream from filling the disk.
const DefaultMaxModelSize = 4 << 30

// freeSpaceReserve is kept free beside a model, for the state database and logs.
const freeSpaceReserve = 64 << 20

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Store is the content-addressed model store under <state>/models.
type Store struct {
	dir string
	// Client fetches https:// sources (default: 30 minutes per model).
	Client *http.Client
	// MaxSize is the largest model accepted, in bytes (default DefaultMaxModelSize).
	MaxSize int64
}

// NewStore opens (creating) the store under stateDir.
func NewStore(stateDir string) (*Store, error) {
	dir := filepath.Join(stateDir, "models")
	for _, d := range []string{filepath.Join(dir, "sha256"), filepath.Join(dir, "names")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open model store: %w", err)
		}
	}
	return &Store{dir: dir, Client: &http.Client{Timeout: 30 * time.Minute}, MaxSize: DefaultMaxModelSize}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Path is where the model with this digest lives (whether or not it is there).
func (s *Store) Path(digest string) string {
	return filepath.Join(s.dir, "sha256", digest+".tar.gz")
}

// Has reports whether the model with this digest is stored.
func (s *Store) Has(digest string) bool {
	info, err := os.Stat(s.Path(digest))
	return err == nil && info.Mode().IsRegular()
}

// Put stores content that must hash to want (lowercase hex sha256; empty accepts any
// digest). It writes a temp file in the store, fsyncs it and renames it into place only
// when the digest matches, so a reader never sees a partial or wrong model and a
// failure (mismatch, truncated source, disk full) leaves nothing behind.
func (s *Store) Put(r io.Reader, want string) (digest string, size int64, err error) {
	return s.put(r, want, nil, nil)
}

// put is Put with an optional check of the whole content, run on the written file
// before it is renamed into place: a refused archive leaves nothing behind.
// put receives a model into a temporary file, checks it, and moves it into the store
// under its digest; beforeStore, when set, runs with the digest before the move, and
// its error leaves nothing stored.
func (s *Store) put(r io.Reader, want string, check func(io.Reader) error, beforeStore func(digest string) error) (digest string, size int64, err error) {
	if want != "" && !hexDigest.MatchString(want) {
		return "", 0, fmt.Errorf("store model: %q is not a sha256 hex digest", want)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "sha256"), ".incoming-*")
	if err != nil {
		return "", 0, fmt.Errorf("store model: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, s.maxSize()+1))
	if err != nil {
		return "", size, fmt.Errorf("store model: %w", err)
	}
	if size > s.maxSize() {
		return "", size, s.tooLarge("it is")
	}
	digest = hex.EncodeToString(h.Sum(nil))
	if want != "" && digest != want {
		return digest, size, fmt.Errorf("store model: %w: expected sha256 %s, found %s (%d bytes)", ErrDigestMismatch, want, digest, size)
	}
	if err = tmp.Sync(); err != nil {
		return digest, size, fmt.Errorf("store model: %w", err)
	}
	if check != nil {
		if err = checkFile(tmp, check); err != nil {
			return digest, size, err
		}
	}
	if err = tmp.Chmod(0o644); err != nil {
		return digest, size, fmt.Errorf("store model: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return digest, size, fmt.Errorf("store model: %w", err)
	}
	if beforeStore != nil {
		if err = beforeStore(digest); err != nil {
			return digest, size, err
		}
	}
	if err = os.Rename(tmp.Name(), s.Path(digest)); err != nil {
		return digest, size, fmt.Errorf("store model: %w", err)
	}
	syncDir(filepath.Join(s.dir, "sha256"))
	return digest, size, nil
}

func (s *Store) maxSize() int64 {
	if s.MaxSize <= 0 {
		return DefaultMaxModelSize
	}
	return s.MaxSize
}

// tooLarge says a model exceeds MaxSize and what to do about it.
func (s *Store) tooLarge(what string) error {
	return fmt.Errorf("store model: %w: %s larger than the %s limit; raise --max-model-size if it is a real model", ErrTooLarge, what, units.BytesSize(float64(s.maxSize())))
}

// CheckIncoming refuses, before anything is read, a model whose announced size
// (an HTTP Content-Length; -1 when unknown) is over MaxSize or does not fit in the
// store's file system with a reserve for the state database.
func (s *Store) CheckIncoming(size int64) error {
	if size < 0 {
		return nil
	}
	if size > s.maxSize() {
		return s.tooLarge(units.BytesSize(float64(size)) + " is")
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return nil // cannot tell: the write itself will fail cleanly on a full disk
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free < size+freeSpaceReserve {
		return fmt.Errorf("store model: %w: the model needs %s and %s is kept in reserve; %s is free on %s: free space or move --state-dir",
			ErrNoSpace, units.BytesSize(float64(size)), units.BytesSize(freeSpaceReserve), units.BytesSize(float64(free)), s.dir)
	}
	return nil
}

// checkFile runs check over the whole of f from its start.
func checkFile(f *os.File, check func(io.Reader) error) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("store model: %w", err)
	}
	return check(bufio.NewReaderSize(f, 64<<10))
}

// checkArchive refuses content Rasa could not load as a model.
func checkArchive(r io.Reader) error {
	_, err := modelarchive.Check(r)
	return err
}

// PutNamed stores an uploaded model under a file name (which must end in .tar.gz).
// The content must be a model archive Rasa loads (modelarchive.ErrNotModel says what
// is missing). The same content under the same name is accepted again; different
// content under a name already taken is ErrNameTaken.
func (s *Store) PutNamed(name string, r io.Reader) (digest string, size int64, err error) {
	if err := checkModelFileName(name); err != nil {
		return "", 0, err
	}
	// The name is claimed before the model is moved into the store, so an upload
	// refused because the name holds another model stores nothing. (A move that fails
	// after the claim leaves the name to a model not stored yet; the same upload again
	// finds the name its own and stores it.)
	digest, size, err = s.put(r, "", checkArchive, func(digest string) error { return s.claimName(name, digest) })
	if err != nil && !errors.Is(err, ErrNameTaken) {
		return "", 0, err
	}
	return digest, size, err
}

// claimName records that name holds digest. The name file appears whole or not at all
// (written aside, then hard-linked into place, which fails if it exists), so a
// concurrent upload never reads it half-written: the same digest is accepted, another
// is ErrNameTaken.
func (s *Store) claimName(name, digest string) error {
	dir := filepath.Join(s.dir, "names")
	tmp, err := os.CreateTemp(dir, ".name-*")
	if err != nil {
		return fmt.Errorf("store model name: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(digest + "\n")
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("store model name: %w", werr)
	}
	err = os.Link(tmp.Name(), filepath.Join(dir, name))
	if errors.Is(err, fs.ErrExist) {
		old, rerr := os.ReadFile(filepath.Join(dir, name))
		if rerr != nil {
			return fmt.Errorf("store model name: %w", rerr)
		}
		if got := strings.TrimSpace(string(old)); got != digest {
			return fmt.Errorf("%w: %s is stored as sha256 %s, the upload is %s", ErrNameTaken, name, got, digest)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("store model name: %w", err)
	}
	return nil
}

func checkModelFileName(name string) error {
	if name == "" || filepath.Base(name) != name || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".tar.gz") || len(name) > 200 {
		return fmt.Errorf("model file name %q must be a plain file name ending in .tar.gz", name)
	}
	return nil
}

// Fetch makes sure the model with digest is stored, getting it from source when it is
// not: an https:// URL, a file:// URL, or a path inside repoDir. An empty source
// means the model must already be stored (pushed with `rasa-gitops model push`).
func (s *Store) Fetch(ctx context.Context, name, digest, source, repoDir string) error {
	if s.Has(digest) {
		return nil
	}
	if source == "" {
		return fmt.Errorf("model %s (sha256 %s) is not in the store and has no source: push it with `rasa-gitops model push` or add a source to models.yaml", name, digest)
	}
	r, err := s.open(ctx, source, repoDir)
	if err != nil {
		return fmt.Errorf("fetch model %s: %w", name, err)
	}
	defer r.Close()
	if _, _, err := s.Put(r, digest); err != nil {
		return fmt.Errorf("fetch model %s from %s: %w", name, redact.URL(source), err)
	}
	return nil
}

func (s *Store) open(ctx context.Context, source, repoDir string) (io.ReadCloser, error) {
	u, err := url.Parse(source)
	if err == nil && u.Scheme == "https" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
		if err != nil {
			return nil, err
		}
		resp, err := s.Client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", redact.URL(source), errors.Unwrap(err))
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("get %s: %s", redact.URL(source), resp.Status)
		}
		if err := s.CheckIncoming(resp.ContentLength); err != nil {
			resp.Body.Close()
			return nil, err
		}
		return resp.Body, nil
	}
	if err == nil && u.Scheme == "file" {
		return os.Open(u.Path)
	}
	// A path inside the repository (validated by compose.Load).
	return os.Open(filepath.Join(repoDir, filepath.FromSlash(source)))
}

// GC removes stored models that no environment uses, keeping the keep most recently
// stored unused ones for rollback. A model in use is never removed.
func (s *Store) GC(inUse map[string]bool, keep int) (removed []string, err error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "sha256"))
	if err != nil {
		return nil, fmt.Errorf("model gc: %w", err)
	}
	type stored struct {
		digest string
		mod    time.Time
	}
	var unused []stored
	for _, e := range entries {
		digest, ok := strings.CutSuffix(e.Name(), ".tar.gz")
		if !ok || !hexDigest.MatchString(digest) || inUse[digest] {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		unused = append(unused, stored{digest, info.ModTime()})
	}
	sort.Slice(unused, func(i, j int) bool { return unused[i].mod.After(unused[j].mod) })
	for i, u := range unused {
		if i < keep {
			continue
		}
		if err := os.Remove(s.Path(u.digest)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("model gc: %w", err)
		}
		removed = append(removed, u.digest)
	}
	return removed, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Digest is the digest the store gives content: lowercase hex sha256.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
