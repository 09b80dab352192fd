package vault

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// postgresMigrations holds every goose migration of the PostgreSQL schema
// (00001 vault tables, 00002 audit events).
//
//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// MigrationStatus is one migration's state in a database.
type MigrationStatus struct {
	Version   int64     `json:"version"`
	Source    string    `json:"source"` // file name, e.g. "00001_init.sql"
	Applied   bool      `json:"applied"`
	AppliedAt time.Time `json:"applied_at,omitzero"` // zero when pending
}

// Migration lock timing: replicas that lose the race for the advisory lock
// poll it every second (goose's minimum) for up to ten minutes, longer than
// any migration of ours should take.
const (
	migrateLockPollSeconds = 1
	migrateLockPolls       = 600
)

// MigratePostgres applies every pending embedded migration. Several
// processes may call it at once (replicas starting together): a PostgreSQL
// session advisory lock, keyed by the schema, lets exactly one migrate while
// the others wait and then find nothing to do. With opts.Schema set, the
// schema is created first when missing.
func MigratePostgres(ctx context.Context, url string, opts PostgresOptions) error {
	cfg, err := connConfig(url, opts)
	if err != nil {
		return err
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	id := migrationLockID(opts.Schema)
	if opts.Schema != "" {
		if err := createSchema(ctx, db, opts.Schema, id); err != nil {
			return err
		}
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(id),
		lock.WithLockTimeout(migrateLockPollSeconds, migrateLockPolls),
	)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := postgresProvider(db, goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// PostgresMigrationStatus lists every embedded migration, oldest first, and
// whether the database has applied it. It changes nothing except, like
// goose, creating the empty version table when the schema has none.
func PostgresMigrationStatus(ctx context.Context, url string, opts PostgresOptions) ([]MigrationStatus, error) {
	cfg, err := connConfig(url, opts)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	p, err := postgresProvider(db)
	if err != nil {
		return nil, err
	}
	if opts.Schema != "" {
		exists, err := schemaExists(ctx, db, opts.Schema)
		if err != nil {
			return nil, err
		}
		if !exists { // nothing applied, and nothing to create the version table in
			var out []MigrationStatus
			for _, s := range p.ListSources() {
				out = append(out, MigrationStatus{Version: s.Version, Source: path.Base(s.Path)})
			}
			return out, nil
		}
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		m := MigrationStatus{Version: s.Source.Version, Source: path.Base(s.Source.Path)}
		if s.State == goose.StateApplied {
			m.Applied, m.AppliedAt = true, s.AppliedAt.UTC()
		}
		out = append(out, m)
	}
	return out, nil
}

func postgresProvider(db *sql.DB, opts ...goose.ProviderOption) (*goose.Provider, error) {
	dir, err := fs.Sub(postgresMigrations, "migrations/postgres")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	opts = append(opts, goose.WithDisableGlobalRegistry(true))
	p, err := goose.NewProvider(goose.DialectPostgres, db, dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// migrationLockID is the advisory lock key for migrating schema. Advisory
// locks are per database, so distinct schemas (tests, tenants) get distinct
// keys and migrate in parallel, while every replica of one deployment
// computes the same key. "" and "public" name the same default schema.
func migrationLockID(schema string) int64 {
	if schema == "" {
		schema = "public"
	}
	h := fnv.New64a()
	h.Write([]byte("gatehouse-migrate:" + schema))
	return int64(h.Sum64())
}

// createSchema creates schema when missing. Concurrent CREATE SCHEMA IF NOT
// EXISTS can still fail on the catalog's unique index, so it runs under the
// same advisory lock as the migration (transaction-scoped here): a replica
// arriving while another migrates simply waits for it.
func createSchema(ctx context.Context, db *sql.DB, schema string, lockID int64) error {
	exists, err := schemaExists(ctx, db, schema)
	if err != nil || exists {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockID); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	return nil
}

func schemaExists(ctx context.Context, db *sql.DB, schema string) (bool, error) {
	var exists bool
	err := db.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("look up schema %s: %w", schema, err)
	}
	return exists, nil
}
