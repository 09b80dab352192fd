package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// Defaults of the machine's test services, the same as scripts/services.sh
// and the vault's tests.
const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379/0"
	serviceTimeout     = 5 * time.Second
)

// errServices prefixes a failure to reach PostgreSQL or Redis.
var errServices = errors.New("the gatehouse-pg path needs PostgreSQL and Redis " +
	"(TEST_DATABASE_URL, TEST_REDIS_URL; run scripts/services.sh to start them, or pass -pg=false to skip the path)")

// pgBackend is the production backend: a fresh random schema in
// TEST_DATABASE_URL (vault and audit tables), and the Redis layer on
// TEST_REDIS_URL under a unique key prefix. Releasing it drops the schema
// and deletes the prefix's keys. Errors never quote the URLs, which may
// hold passwords.
func pgBackend(ctx context.Context, log *slog.Logger) (_ *backend, err error) {
	dbURL := envOr("TEST_DATABASE_URL", defaultDatabaseURL)
	redisURL := envOr("TEST_REDIS_URL", defaultRedisURL)
	suffix := strings.ToLower(rand.Text())
	opts := vault.PostgresOptions{Schema: "benchproxy_" + suffix}
	prefix := "benchproxy:" + suffix + ":"

	ropt, err := redis.ParseURL(redisURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // its message quotes the whole URL
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: TEST_REDIS_URL: %w", errServices, err)
	}
	client := redis.NewClient(ropt)
	layer := vault.NewRedisLayer(client, vault.RedisOptions{Prefix: prefix, Log: log})
	pctx, cancel := context.WithTimeout(ctx, serviceTimeout)
	defer cancel()
	if err := layer.Ping(pctx); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("%w: Redis at %s: %w", errServices, ropt.Addr, err)
	}
	if err := vault.MigratePostgres(pctx, dbURL, opts); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("%w: PostgreSQL: %w", errServices, err)
	}
	pg, err := vault.OpenPostgres(pctx, dbURL, opts)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("%w: PostgreSQL: %w", errServices, err)
	}
	return &backend{
		store: pg, events: audit.NewPostgresStore(pg.DB()), redis: layer, db: pg.DB(),
		// Schema: vault/migrations/postgres/00002_audit_events.sql; the
		// pool's search_path is the benchmark's schema.
		countSQL: `SELECT COUNT(*),
			COUNT(*) FILTER (WHERE decision = $1 AND status = 200 AND grant_id <> '' AND principal = $2)
			FROM audit_events WHERE app_id = $3 AND kind = $4`,
		release: func(ctx context.Context) error {
			_, derr := pg.DB().ExecContext(ctx, "DROP SCHEMA "+opts.Schema+" CASCADE")
			if derr != nil {
				derr = fmt.Errorf("drop schema: %w", derr)
			}
			return errors.Join(derr, pg.Close(), deletePrefix(ctx, client, prefix), client.Close())
		},
	}, nil
}

// deletePrefix deletes every Redis key under prefix.
func deletePrefix(ctx context.Context, client *redis.Client, prefix string) error {
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan redis keys: %w", err)
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		if err := client.Del(ctx, keys[:n]...).Err(); err != nil {
			return fmt.Errorf("delete redis keys: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}

// envOr is the environment variable name, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
