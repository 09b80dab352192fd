package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgresURL is the test database used when TEST_DATABASE_URL is
// unset; scripts/services.sh starts PostgreSQL and creates it.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresURL returns TEST_DATABASE_URL, or DefaultPostgresURL.
func PostgresURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// PostgresSchema returns the test database URL and a fresh, random schema
// name for t alone (not created: vault.MigratePostgres creates it), and
// drops that schema with everything in it when t ends. Tests and packages
// can therefore share one database and run in parallel.
//
// An unreachable database fails t, with or without CI=true: the PostgreSQL
// tests are part of the suite, never skipped.
func PostgresSchema(t testing.TB) (dbURL, schema string) {
	t.Helper()
	dbURL = PostgresURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err == nil {
		err = conn.Ping(ctx)
		_ = conn.Close(context.Background())
	}
	if err != nil {
		hint := "start it with scripts/services.sh (or point TEST_DATABASE_URL at a PostgreSQL database)"
		if os.Getenv("CI") == "true" {
			hint = "CI=true requires it; .ci/run starts it with scripts/services.sh"
		}
		t.Fatalf("PostgreSQL is not reachable at %s: %v; %s", redactURL(dbURL), err, hint)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema = "gh_test_" + hex.EncodeToString(b)
	t.Cleanup(func() { dropSchema(t, dbURL, schema) })
	return dbURL, schema
}

// dropSchema removes schema and its tables, with a context of its own: the
// test's context is already cancelled when cleanups run.
func dropSchema(t testing.TB, dbURL, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
	}
}

// redactURL hides a password in a database URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "TEST_DATABASE_URL"
	}
	return u.Redacted()
}
