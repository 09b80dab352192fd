package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgresOptions configures the PostgreSQL store and its migrations.
type PostgresOptions struct {
	// Schema holds every table. "" uses the connection's search_path
	// (public by default); otherwise the schema is created by
	// MigratePostgres when missing and set as the only search_path entry,
	// which lets tests and tenants share one database.
	Schema string
	// MaxConns caps the connection pool; 0 keeps pgxpool's default
	// (max(4, NumCPU)).
	MaxConns int32
}

// schemaPattern is the accepted schema name: a plain lower-case SQL
// identifier, so it needs no quoting surprises in search_path and logs.
var schemaPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Postgres is the production Store on PostgreSQL through a pgx pool. It is
// safe for any number of replicas sharing one database: every multi-step
// write runs in one transaction and locks the rows it decides on.
type Postgres struct {
	pool *pgxpool.Pool
	db   *sql.DB // database/sql view of pool, for the audit store
	now  func() time.Time
}

var _ Store = (*Postgres)(nil)

// OpenPostgres connects a pool to url (postgres://…) and checks that the
// database answers. It does not migrate: run MigratePostgres (or `gatehouse
// migrate up`) first.
func OpenPostgres(ctx context.Context, url string, opts PostgresOptions) (*Postgres, error) {
	cfg, err := poolConfig(url, opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return &Postgres{pool: pool, db: stdlib.OpenDBFromPool(pool), now: time.Now}, nil
}

// connConfig parses url and applies opts' schema. The parse error is not
// wrapped: it would quote the URL, and pgx's password redaction is only
// best effort.
func connConfig(url string, opts PostgresOptions) (*pgx.ConnConfig, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url is not a valid PostgreSQL URL such as postgres://user:password@host:5432/db?sslmode=require: %w", ErrInvalid)
	}
	applySession(cfg, opts)
	return cfg, nil
}

// poolConfig is connConfig for a pool, with opts.MaxConns applied.
func poolConfig(url string, opts PostgresOptions) (*pgxpool.Config, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url is not a valid PostgreSQL URL such as postgres://user:password@host:5432/db?sslmode=require: %w", ErrInvalid)
	}
	applySession(cfg.ConnConfig, opts)
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	return cfg, nil
}

// applySession sets the session parameters every connection starts with:
// the schema as search_path, and UTC so goose's timestamp (without time
// zone) bookkeeping reads back as UTC.
func applySession(cfg *pgx.ConnConfig, opts PostgresOptions) {
	if opts.Schema != "" {
		cfg.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	cfg.RuntimeParams["timezone"] = "UTC"
}

// Validate reports a schema name that is not a plain lower-case identifier
// and a negative MaxConns, as ErrInvalid.
func (o PostgresOptions) Validate() error {
	if o.Schema != "" && !schemaPattern.MatchString(o.Schema) {
		return fmt.Errorf("postgres schema %q must match %s: %w", truncate(o.Schema, 80), schemaPattern, ErrInvalid)
	}
	if o.MaxConns < 0 {
		return fmt.Errorf("postgres max conns %d is negative: %w", o.MaxConns, ErrInvalid)
	}
	return nil
}

// DB returns a database/sql handle over the same pool, for other packages'
// tables in the same schema (audit events). Closing the store closes it.
func (p *Postgres) DB() *sql.DB { return p.db }

// Ping checks that the database answers.
func (p *Postgres) Ping(ctx context.Context) error {
	if err := p.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres ping: %w", err)
	}
	return nil
}

// Close closes the database/sql handle and the pool.
func (p *Postgres) Close() error {
	err := p.db.Close()
	p.pool.Close()
	if err != nil {
		return fmt.Errorf("close postgres: %w", err)
	}
	return nil
}

// inTx runs fn in a READ COMMITTED transaction. Row locks taken by fn
// (SELECT … FOR UPDATE / FOR KEY SHARE) give the serial semantics the
// SQLite store gets from its single writer.
func (p *Postgres) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, p.pool, fn)
}

// stamp returns t (or now when t is zero) in UTC at the stored precision:
// timestamptz keeps microseconds and rounds, so truncate first.
func (p *Postgres) stamp(t time.Time) time.Time {
	if t.IsZero() {
		t = p.now()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// PostgreSQL error codes the store maps to sentinels.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
	pgCheckViolation      = "23514"
	pgNotNullViolation    = "23502"
	pgDataExceptionClass  = "22" // invalid text encoding, NUL bytes, out of range
)

// classifyPG maps driver errors to the Store sentinels like classify does
// for SQLite: unique violations are ErrConflict, a foreign key violation
// (the app does not exist) and no rows are ErrNotFound, and a value the
// schema refuses is ErrInvalid. Only the sentinel is kept for those: the
// server's message may quote row values.
func classifyPG(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == pgUniqueViolation:
			return ErrConflict
		case pe.Code == pgForeignKeyViolation:
			return ErrNotFound
		case pe.Code == pgCheckViolation, pe.Code == pgNotNullViolation,
			strings.HasPrefix(pe.Code, pgDataExceptionClass):
			return fmt.Errorf("value refused by the database (SQLSTATE %s): %w", pe.Code, ErrInvalid)
		}
	}
	return err
}

// storable reports whether every s can be sent as PostgreSQL text (valid
// UTF-8 without NUL). SQLite compares such strings byte for byte and finds
// no row; PostgreSQL would fail the statement instead, so lookups answer
// ErrNotFound for them without asking.
func storable(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}

// requireRows turns "no row matched" into ErrNotFound.
func requireRows(tag pgconn.CommandTag) error {
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// collectPG scans every row with scan and closes rows. An empty result is a
// non-nil empty slice.
func collectPG[T any](rows pgx.Rows, scan func(pgx.Row) (T, error), op string) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, classifyPG(err))
	}
	return out, nil
}
