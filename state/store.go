package state

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// FileName is the state database under the state directory.
const FileName = "state.db"

// lockName is the file whose lock marks the directory as in use by one writer.
const lockName = "state.lock"

// ErrInUse is returned when another process holds the state directory.
var ErrInUse = errors.New("already in use by another rasa-gitops process")

// Store is the state database.
type Store struct {
	db     *sql.DB
	path   string
	lock   *os.File
	masker *Masker
	// check is the writer's integrity check of the whole file, begun at Open on a
	// connection of its own; every write waits for it (Checked). Nil for a reader.
	check *integrityCheck
}

// migrations are applied in order at open; PRAGMA user_version is the number applied.
var migrations = []string{
	// 1: environments, audit log, apply journal.
	`CREATE TABLE environments (
		name TEXT PRIMARY KEY,
		project TEXT NOT NULL,
		last_attempted_revision TEXT NOT NULL DEFAULT '',
		last_applied_revision TEXT NOT NULL DEFAULT '',
		sync TEXT NOT NULL,
		health TEXT NOT NULL,
		desired_model TEXT NOT NULL DEFAULT '',
		desired_digest TEXT NOT NULL DEFAULT '',
		observed_model TEXT NOT NULL DEFAULT '',
		observed_digest TEXT NOT NULL DEFAULT '',
		last_error TEXT NOT NULL DEFAULT '',
		since TEXT NOT NULL,
		updated_at TEXT NOT NULL
	);
	CREATE TABLE audit (
		id INTEGER PRIMARY KEY,
		time TEXT NOT NULL,
		revision TEXT NOT NULL,
		author TEXT NOT NULL,
		signer TEXT NOT NULL,
		environment TEXT NOT NULL,
		action TEXT NOT NULL,
		before TEXT NOT NULL,
		after TEXT NOT NULL,
		outcome TEXT NOT NULL,
		error TEXT NOT NULL,
		prev_hash TEXT NOT NULL,
		hash TEXT NOT NULL
	);
	CREATE INDEX audit_environment ON audit(environment, id);
	CREATE INDEX audit_time ON audit(time);
	CREATE TABLE journal (
		id INTEGER PRIMARY KEY,
		started_at TEXT NOT NULL,
		project TEXT NOT NULL,
		revision TEXT NOT NULL,
		intent TEXT NOT NULL,
		finished_at TEXT,
		outcome TEXT NOT NULL DEFAULT ''
	);`,
	// 2: the fingerprint of each environment's last applied rendering, so the daemon
	// can tell which environments a new revision changes (signer policy).
	`ALTER TABLE environments ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';`,
	// 3: small named values (the applied fingerprint of the project's other services).
	`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
	// 4: the status model says why health is what it is, and when it was observed
	// (last_error holds the sync reason).
	`ALTER TABLE environments ADD COLUMN health_reason TEXT NOT NULL DEFAULT '';
	ALTER TABLE environments ADD COLUMN observed_at TEXT NOT NULL DEFAULT '';
	ALTER TABLE environments ADD COLUMN source_error TEXT NOT NULL DEFAULT '';`,
}

// SchemaVersion is the schema this build writes.
var SchemaVersion = len(migrations)

// Open opens the state database of dir for writing: it takes the directory's lock for
// the life of the process (a second writer fails with ErrInUse), refuses a file that is
// not SQLite or has a newer schema, and applies missing migrations. It never resets or
// truncates history. The integrity check of the whole file (its cost grows with the
// audit log: ~200 ms at 100,000 rows) runs in the background from here: nothing is
// written before it passes (Checked), so a run renders and observes meanwhile.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	_, statErr := os.Stat(path)
	s, err := open(ctx, path, false)
	if err != nil {
		lock.Close()
		return nil, err
	}
	s.lock = lock
	// The writer's connection opens the file first (its version is read): it sets up
	// the shared-memory index the check's connection then shares.
	v, err := s.version(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	if !errors.Is(statErr, fs.ErrNotExist) {
		s.startCheck(path) // a file this Open creates has nothing to check
	}
	if err := s.migrate(ctx, v); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// OpenReader opens the state database for reading only (status, history, verify):
// it takes no lock, so it works beside a running daemon, and writes nothing. A state
// directory without a database reads as empty.
func OpenReader(ctx context.Context, dir string) (*Store, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no state in %s yet: run `rasa-gitops apply` (or serve, daemon) first", dir)
	}
	s, err := open(ctx, path, true)
	if err != nil {
		return nil, err
	}
	v, err := s.version(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	if v != SchemaVersion {
		s.Close()
		return nil, fmt.Errorf("state file %s is schema v%d, this build reads v%d: run `rasa-gitops apply` of this build once to migrate it, or use the build that wrote it", path, v, SchemaVersion)
	}
	return s, nil
}

func open(ctx context.Context, path string, readOnly bool) (*Store, error) {
	if err := checkHeader(path); err != nil {
		return nil, err
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
	if readOnly {
		dsn = "file:" + path + "?mode=ro&_pragma=busy_timeout(5000)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; SQLite serialises anyway
	s := &Store{db: db, path: path, masker: NewMasker()}
	// The writer checks the whole file before its first write (startCheck); a reader
	// (status, history) must not cost a pass over a large audit log. A damaged page
	// it reads is the error of the query that reads it.
	return s, nil
}

// integrityCheck is one background `PRAGMA integrity_check`: err is set when done
// closes.
type integrityCheck struct {
	done   chan struct{}
	err    error
	cancel context.CancelFunc
}

// startCheck begins the integrity check of the database at path on a read-only
// connection of its own (the writer's one connection stays free for the reads a run
// makes meanwhile). Close stops it.
func (s *Store) startCheck(path string) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &integrityCheck{done: make(chan struct{}), cancel: cancel}
	s.check = c
	go func() {
		defer close(c.done)
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			c.err = fmt.Errorf("state file %s cannot be checked: %w; restore it from a backup or move it aside", path, err)
			return
		}
		defer db.Close()
		c.err = integrity(ctx, db, path)
	}()
}

// Checked waits for the integrity check Open began and returns its verdict: every
// write calls it first, and a run calls it before its first change to the host, so a
// damaged file stops the run before anything it would have to record happens.
func (s *Store) Checked(ctx context.Context) error {
	if s.check == nil {
		return nil
	}
	select {
	case <-s.check.done:
		return s.check.err
	case <-ctx.Done():
		return fmt.Errorf("state file %s: waiting for its integrity check: %w", s.path, ctx.Err())
	}
}

// checkHeader refuses an existing, non-empty file that is not an SQLite database
// before the driver touches it.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open state file: %w", err)
	}
	defer f.Close()
	head := make([]byte, 16)
	n, err := io.ReadFull(f, head)
	if n == 0 && (errors.Is(err, io.EOF) || err == nil) {
		return nil
	}
	if !bytes.Equal(head[:n], []byte("SQLite format 3\x00")[:n]) || n < 16 {
		return fmt.Errorf("state file %s is not an SQLite database: move it aside (it is not rasa-gitops state) or point --state-dir elsewhere; nothing was changed", path)
	}
	return nil
}

// ioTrouble explains an error that comes from the disk rather than from the file's
// content (an I/O error, a full disk), so that it is never mistaken for corruption.
func ioTrouble(path string, err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY:
	default:
		return nil
	}
	msg := fmt.Sprintf("state file %s cannot be read or written: %v", path, err)
	var st syscall.Statfs_t
	if syscall.Statfs(filepath.Dir(path), &st) == nil && st.Bavail*uint64(st.Bsize) < 1<<20 {
		msg += fmt.Sprintf("; the disk holding it has %d bytes free (no space left): free some space", st.Bavail*uint64(st.Bsize))
	}
	return errors.New(msg + "; nothing was changed")
}

func integrity(ctx context.Context, db *sql.DB, path string) error {
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		if io := ioTrouble(path, err); io != nil {
			return io
		}
		return fmt.Errorf("state file %s cannot be checked: %w; restore it from a backup or move it aside", path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("state file %s: %w", path, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		if io := ioTrouble(path, err); io != nil {
			return io
		}
		return fmt.Errorf("state file %s fails integrity_check: %w; restore it from a backup or move it aside", path, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("state file %s fails integrity_check (%s); restore it from a backup or move it aside: rasa-gitops does not repair or reset history", path, problems[0])
	}
	return nil
}

func (s *Store) version(ctx context.Context) (int, error) {
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		if io := ioTrouble(s.path, err); io != nil {
			return 0, io // a full disk, say: the first read sets up the WAL's index
		}
		return 0, fmt.Errorf("state file %s cannot be read: %w; restore it from a backup or move it aside", s.path, err)
	}
	return v, nil
}

// migrate applies the migrations a file of schema v lacks.
func (s *Store) migrate(ctx context.Context, v int) error {
	if v > SchemaVersion {
		return fmt.Errorf("state file %s is schema v%d, newer than this build (v%d): run the newer rasa-gitops that wrote it", s.path, v, SchemaVersion)
	}
	if v < SchemaVersion {
		if err := s.Checked(ctx); err != nil {
			return err
		}
	}
	for i := v; i < SchemaVersion; i++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate state to v%d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate state to v%d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate state to v%d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate state to v%d: %w", i+1, err)
		}
	}
	return nil
}

// Close closes the database and releases the directory.
func (s *Store) Close() error {
	if s.check != nil {
		s.check.cancel()
		<-s.check.done
	}
	err := s.db.Close()
	if s.lock != nil {
		s.lock.Close() // closing the descriptor releases the flock
	}
	return err
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Masker is the masker applied to everything written.
func (s *Store) Masker() *Masker { return s.masker }

// lockDir takes an exclusive, non-blocking flock on <dir>/state.lock and writes the
// holder's pid into it.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(holder))
			if pid != "" {
				pid = " (pid " + pid + ")"
			}
			return nil, fmt.Errorf("state directory %s is %w%s: stop it, or give this one another --state-dir", dir, ErrInUse, pid)
		}
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// Meta reads a named value ("" when unset).
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	return v, nil
}

// SetMeta writes a named value.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if err := s.Checked(ctx); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}
