package vault

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteMigrations holds every goose migration of the SQLite schema. The
// glob takes all files in the directory, including those other packages'
// owners add there (00002_audit_events.sql).
//
//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// timeLayout is the stored form of every timestamp: fixed width, so it sorts
// as text, and microsecond precision, like PostgreSQL's timestamptz.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// busyTimeoutMS bounds how long a connection waits for another process's
// write lock before SQLITE_BUSY. Inside one process writes are serialised by
// the single writer connection and never wait on each other here.
const busyTimeoutMS = 10000

// SQLite is the embedded Store: one database file in WAL mode. Writes go
// through a pool of exactly one connection with BEGIN IMMEDIATE transactions,
// so concurrent writers in this process queue in database/sql instead of
// failing with SQLITE_BUSY; reads use a separate read-only pool that WAL lets
// run alongside the writer.
type SQLite struct {
	w   *sql.DB // single connection, all writes and DB()
	r   *sql.DB // read-only pool
	now func() time.Time
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the database file at path with mode
// 0600, enables WAL, foreign keys and a busy timeout, and applies every
// embedded goose migration. The -wal and -shm files are set to 0600 too.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if path == "" || strings.ContainsAny(path, "?#") || path == ":memory:" {
		return nil, fmt.Errorf("sqlite path %q must name a file without '?' or '#': %w", path, ErrInvalid)
	}
	abs, err := filepath.Abs(path) // an absolute path can never be read as a "file:" URI
	if err != nil {
		return nil, fmt.Errorf("sqlite path: %w", err)
	}
	if err := createPrivateFile(abs); err != nil {
		return nil, err
	}
	s := &SQLite{now: time.Now}
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)", busyTimeoutMS)
	s.w, err = sql.Open("sqlite", abs+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := migrateSQLite(ctx, s.w); err != nil {
		_ = s.w.Close()
		return nil, err
	}
	// Opened after the writer switched the file to WAL, which persists.
	s.r, err = sql.Open("sqlite", abs+"?"+common+"&_query_only=1")
	if err != nil {
		_ = s.w.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)
	if err := s.r.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// SQLite gives the -wal and -shm files the main file's mode; make sure
	// anyway, since they hold recent pages of the same data.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Chmod(abs+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			_ = s.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
	}
	return s, nil
}

// createPrivateFile creates path with mode 0600 if missing and tightens the
// mode of an existing file to 0600.
func createPrivateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open sqlite: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("open sqlite: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("open sqlite: %w", err)
	}
	return nil
}

func migrateSQLite(ctx context.Context, db *sql.DB) error {
	dir, err := fs.Sub(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, dir, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// DB returns the writer handle (one connection) for other packages' tables
// in the same file, such as audit events. Do not hold a transaction on it
// while calling the store: the store would wait for that same connection.
func (s *SQLite) DB() *sql.DB { return s.w }

// Ping checks both pools.
func (s *SQLite) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite ping: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite ping: %w", err)
	}
	return nil
}

// Close closes both pools.
func (s *SQLite) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

// inTx runs fn in a BEGIN IMMEDIATE transaction on the writer connection.
func (s *SQLite) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// stamp returns t (or now when t is zero) in UTC at the stored precision.
func (s *SQLite) stamp(t time.Time) time.Time {
	if t.IsZero() {
		t = s.now()
	}
	return t.UTC().Truncate(time.Microsecond)
}

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(v string) (time.Time, error) {
	t, err := time.Parse(timeLayout, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored timestamp %q: %w", v, err)
	}
	return t, nil
}

// fmtOptTime is fmtTime for a nullable column: the zero time is NULL.
func fmtOptTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t.Truncate(time.Microsecond))
}

// parseOptTime is parseTime for a nullable column: NULL is the zero time.
func parseOptTime(v sql.NullString) (time.Time, error) {
	if !v.Valid {
		return time.Time{}, nil
	}
	return parseTime(v.String)
}

// classify maps driver errors to the Store sentinels: unique and primary
// key violations are ErrConflict, a foreign key violation (the app does not
// exist) and no rows are ErrNotFound.
func classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return ErrConflict
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return ErrNotFound
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// newID returns a fresh UUIDv7 (time-ordered, so inserts stay local in the
// primary key index).
func newID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	return id.String(), nil
}

// idOrNew returns id, or a fresh one when empty. A non-empty id must be a
// canonical UUID.
func idOrNew(what, id string) (string, error) {
	if id == "" {
		return newID()
	}
	if !IsCanonicalUUID(id) {
		return "", fmt.Errorf("%s id must be a lowercase UUID: %w", what, ErrInvalid)
	}
	return id, nil
}

// requireAffected turns "no row matched" into ErrNotFound.
func requireAffected(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
