package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// maxDatabaseConns bounds database.max_conns: far beyond any sensible pool,
// low enough to catch a typo such as 16000.
const maxDatabaseConns = 1000

// noDatabaseURL is the answer of `migrate` without PostgreSQL.
func noDatabaseURL() error {
	return &cliError{Code: codeUsage, Message: "database.url is not set: `gatehouse migrate` " +
		"manages a PostgreSQL database (set database.url in the config file or GATEHOUSE_DATABASE_URL); " +
		"the embedded SQLite database needs no command, it migrates itself when `gatehouse serve` opens it"}
}

func (c *cli) migrateCmd() *cobra.Command {
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration to the PostgreSQL database",
		Long: `Apply every pending migration to the PostgreSQL database in database.url
(schema database.schema, created when missing). Safe to run while replicas
start: a PostgreSQL advisory lock lets exactly one process migrate at a time.
` + "`gatehouse serve`" + ` does the same at start, so running this first is optional.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return c.migrateUp(cmd) },
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "List the migrations and whether the PostgreSQL database has applied them",
		Args:  exactArgs(0),
		RunE:  func(cmd *cobra.Command, _ []string) error { return c.migrateStatus(cmd) },
	}
	g := group("migrate", "Manage the PostgreSQL schema (SQLite migrates itself)", up, status)
	g.Long = `Manage the schema of the PostgreSQL database named by database.url.
The embedded SQLite database (no database.url) migrates itself on open.`
	return g
}

// migrationReport is the output of `migrate up` and `migrate status`.
type migrationReport struct {
	// Version is the highest applied migration (0: none).
	Version int64 `json:"version"`
	// Applied lists the migrations this run applied (up only).
	Applied []vault.MigrationStatus `json:"applied,omitempty"`
	// Migrations lists every migration known to this binary (status only).
	Migrations []vault.MigrationStatus `json:"migrations,omitempty"`
}

func (c *cli) migrateUp(cmd *cobra.Command) error {
	db, err := c.databaseConfig(cmd)
	if err != nil {
		return err
	}
	ctx, opts := cmd.Context(), postgresOptions(db)
	before, err := vault.PostgresMigrationStatus(ctx, db.URL, opts)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := vault.MigratePostgres(ctx, db.URL, opts); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	after, err := vault.PostgresMigrationStatus(ctx, db.URL, opts)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	pending := map[int64]bool{}
	for _, m := range before {
		pending[m.Version] = !m.Applied
	}
	// Applied by this run, or by a replica migrating at the same moment:
	// either way, pending before and applied now.
	r := migrationReport{Version: currentVersion(after), Applied: []vault.MigrationStatus{}}
	for _, m := range after {
		if m.Applied && pending[m.Version] {
			r.Applied = append(r.Applied, m)
		}
	}
	return c.printer().value(r, func(w io.Writer) error {
		for _, m := range r.Applied {
			if _, err := fmt.Fprintf(w, "applied %s\n", m.Source); err != nil {
				return err
			}
		}
		state := "migrated"
		if len(r.Applied) == 0 {
			state = "already up to date"
		}
		_, err := fmt.Fprintf(w, "%s: schema at version %d\n", state, r.Version)
		return err
	})
}

func (c *cli) migrateStatus(cmd *cobra.Command) error {
	db, err := c.databaseConfig(cmd)
	if err != nil {
		return err
	}
	st, err := vault.PostgresMigrationStatus(cmd.Context(), db.URL, postgresOptions(db))
	if err != nil {
		return fmt.Errorf("migrate status: %w", err)
	}
	r := migrationReport{Version: currentVersion(st), Migrations: st}
	return c.printer().value(r, func(w io.Writer) error {
		rows := make([][]string, 0, len(st))
		for _, m := range st {
			state, at := "pending", ""
			if m.Applied {
				state, at = "applied", m.AppliedAt.Format(time.RFC3339)
			}
			rows = append(rows, []string{strconv.FormatInt(m.Version, 10), m.Source, state, at})
		}
		return table(w, []string{"VERSION", "SOURCE", "STATE", "APPLIED AT"}, rows)
	})
}

// databaseConfig loads the configuration and returns its validated
// database section; migrate needs nothing else, so the rest is not
// validated (a migration job need not have the KEK files or CA roots).
func (c *cli) databaseConfig(cmd *cobra.Command) (DatabaseConfig, error) {
	cfg, err := c.config(cmd)
	if err != nil {
		return DatabaseConfig{}, err
	}
	if cfg.Database.URL == "" {
		return DatabaseConfig{}, noDatabaseURL()
	}
	if errs := cfg.Database.problems(); len(errs) > 0 {
		return DatabaseConfig{}, fmt.Errorf("invalid configuration:\n%w", errors.Join(errs...))
	}
	return cfg.Database, nil
}

// problems validates the database section, each error naming its key. The
// URL is never quoted: it may hold a password.
func (d DatabaseConfig) problems() []error {
	var errs []error
	if d.URL != "" {
		if _, err := pgx.ParseConfig(d.URL); err != nil {
			errs = append(errs, errors.New("database.url: cannot be parsed as a PostgreSQL URL such as "+
				"postgres://user:password@host:5432/gatehouse?sslmode=require (or a TLS file it names is unreadable)"))
		}
	}
	if err := (vault.PostgresOptions{Schema: d.Schema}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("database.schema: %q must be a lower-case SQL identifier ([a-z_][a-z0-9_]{0,62})", d.Schema))
	}
	if d.MaxConns < 1 || d.MaxConns > maxDatabaseConns {
		errs = append(errs, fmt.Errorf("database.max_conns: must be between 1 and %d (got %d)", maxDatabaseConns, d.MaxConns))
	}
	return errs
}

func postgresOptions(d DatabaseConfig) vault.PostgresOptions {
	return vault.PostgresOptions{Schema: d.Schema, MaxConns: d.MaxConns}
}

// currentVersion is the highest applied version in st (0: none).
func currentVersion(st []vault.MigrationStatus) int64 {
	var v int64
	for _, m := range st {
		if m.Applied {
			v = max(v, m.Version)
		}
	}
	return v
}

// openDatabase opens the configured store and the audit store over the
// same database: PostgreSQL when database.url is set (migrated first, so
// replicas starting together are safe), otherwise SQLite in data_dir
// (which migrates itself).
func openDatabase(ctx context.Context, cfg Config) (vault.Store, audit.Store, error) {
	if cfg.Database.URL == "" {
		s, err := vault.OpenSQLite(ctx, filepath.Join(cfg.DataDir, databaseFile))
		if err != nil {
			return nil, nil, fmt.Errorf("database: %w", err)
		}
		return s, audit.NewSQLStore(s.DB()), nil
	}
	opts := postgresOptions(cfg.Database)
	if err := vault.MigratePostgres(ctx, cfg.Database.URL, opts); err != nil {
		return nil, nil, fmt.Errorf("database: %w", err)
	}
	p, err := vault.OpenPostgres(ctx, cfg.Database.URL, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("database: %w", err)
	}
	return p, audit.NewPostgresStore(p.DB()), nil
}
