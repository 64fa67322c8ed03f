package modelserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/atomicfile"
)

// Tag is the model one environment serves.
type Tag struct {
	Model  string `json:"model"`  // name in models.yaml; the file is served as <model>.tar.gz
	Digest string `json:"sha256"` // content digest, the ETag
}

// Table is the whole tag table of a project: environment → tag. An environment that
// serves no model is absent.
type Table struct {
	Project string         `json:"project"`
	Tags    map[string]Tag `json:"tags"`
}

// Tags holds the tag table. Readers get an immutable snapshot (a download in flight
// keeps the model it started with); Set swaps in a new one atomically and persists it
// in the state directory, and other processes on the same directory (`apply` beside a
// running `serve`) see the change within reloadEvery.
type Tags struct {
	path      string
	cur       atomic.Pointer[Table]
	mu        sync.Mutex
	lastCheck atomic.Int64
	fileMod   time.Time
	fileSize  int64
	fileIno   uint64
}

// inode identifies a file version: a rename always brings a new inode, even when the
// size and modification time are the same.
func inode(info os.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// reloadEvery bounds how often a reader looks at the file for a change by another process.
const reloadEvery = 200 * time.Millisecond

// OpenTags loads the persisted tag table of stateDir (empty when there is none).
func OpenTags(stateDir string) (*Tags, error) {
	t := &Tags{path: filepath.Join(stateDir, "models", "tags.json")}
	t.cur.Store(&Table{Tags: map[string]Tag{}})
	if err := t.reload(true); err != nil {
		return nil, err
	}
	return t, nil
}

// Snapshot returns the current table; callers must not modify it.
func (t *Tags) Snapshot() *Table {
	now := time.Now().UnixNano()
	if last := t.lastCheck.Load(); now-last > int64(reloadEvery) && t.lastCheck.CompareAndSwap(last, now) {
		_ = t.reload(false) // a bad file written by another process keeps the last good table
	}
	return t.cur.Load()
}

// FileDigest is the sha256 of the persisted tag table ("" when there is none), so a
// caller can tell whether another process changed it.
func (t *Tags) FileDigest() string {
	data, err := os.ReadFile(t.path)
	if err != nil {
		return ""
	}
	return Digest(data)
}

// Get returns the tag of one environment.
func (t *Tags) Get(env string) (Tag, bool) {
	tag, ok := t.Snapshot().Tags[env]
	return tag, ok
}

// Set persists a new table (temp file, fsync, rename) and swaps it in.
func (t *Tags) Set(table Table) error {
	if table.Tags == nil {
		table.Tags = map[string]Tag{}
	}
	data, err := json.MarshalIndent(table, "", "  ")
	if err != nil {
		return fmt.Errorf("write tag table: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(t.path), 0o755); err != nil {
		return fmt.Errorf("write tag table: %w", err)
	}
	if err := atomicfile.Write(t.path, data, 0o644); err != nil {
		return fmt.Errorf("write tag table: %w", err)
	}
	if info, err := os.Stat(t.path); err == nil {
		t.fileMod, t.fileSize, t.fileIno = info.ModTime(), info.Size(), inode(info)
	}
	copied := table
	t.cur.Store(&copied)
	return nil
}

func (t *Tags) reload(strict bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	info, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read tag table: %w", err)
	}
	if info.ModTime().Equal(t.fileMod) && info.Size() == t.fileSize && inode(info) == t.fileIno {
		return nil
	}
	data, err := os.ReadFile(t.path)
	if err != nil {
		return fmt.Errorf("read tag table: %w", err)
	}
	var table Table
	if err := json.Unmarshal(data, &table); err != nil {
		if strict {
			return fmt.Errorf("read tag table %s: %w (remove it; the next apply writes it again)", t.path, err)
		}
		return err
	}
	if table.Tags == nil {
		table.Tags = map[string]Tag{}
	}
	t.fileMod, t.fileSize, t.fileIno = info.ModTime(), info.Size(), inode(info)
	t.cur.Store(&table)
	return nil
}
