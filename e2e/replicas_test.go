package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/fakeupstream"
)

// Shared services of the machine; each test uses its own PostgreSQL schema
// and Redis key prefix, so tests and packages run in parallel.
func testDatabaseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

func testRedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// cluster is several replicas sharing one PostgreSQL schema and one Redis
// prefix, and the vault's KEK and key pepper (each has its own data dir,
// CA and admin token).
type cluster struct {
	schema, prefix string
	replicas       []*gatehouse
	up             *fakeupstream.Server
}

// startCluster starts n replicas, the first alone (it migrates and creates
// the shared key files), then the others together. more adds config
// sections (every replica gets them).
func startCluster(t *testing.T, n int, dbURL, redisURL string, more ...map[string]map[string]any) *cluster {
	t.Helper()
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	c := &cluster{
		schema: "e2e_" + hex.EncodeToString(id),
		prefix: "gatehouse-e2e-" + hex.EncodeToString(id) + ":",
		up:     fakeupstream.Start(t, upstreamHosts()...),
	}
	t.Cleanup(func() { dropSchema(t, c.schema); deletePrefix(t, c.prefix) })
	shared := t.TempDir()
	extra := map[string]map[string]any{
		"database": {"url": dbURL, "schema": c.schema},
		"redis":    {"url": redisURL, "prefix": c.prefix},
		"vault": {
			"kek_files":   map[string]string{"dev": filepath.Join(shared, "kek-dev.key")},
			"pepper_file": filepath.Join(shared, "pepper.key"),
		},
	}
	for _, m := range more {
		maps.Copy(extra, m)
	}
	for range n {
		c.replicas = append(c.replicas, startWith(t, c.up, extra))
	}
	return c
}

func dropSchema(t *testing.T, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testDatabaseURL())
	if err != nil {
		t.Errorf("drop schema: %v", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("drop schema: %v", err)
	}
}

func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(testRedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	t.Cleanup(func() { rc.Close() })
	return rc
}

func deletePrefix(t *testing.T, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc := redisClient(t)
	keys, err := rc.Keys(ctx, prefix+"*").Result()
	if err == nil && len(keys) > 0 {
		err = rc.Del(ctx, keys...).Err()
	}
	if err != nil {
		t.Errorf("delete redis keys: %v", err)
	}
}

// TestReplicasShareRevocationAndRotation: three replicas on one PostgreSQL
// and one Redis; a revocation or rotation made through replica A is what B
// and C do on their very next request, although their caches were warm.
func TestReplicasShareRevocationAndRotation(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, testDatabaseURL(), testRedisURL())
	a := c.replicas[0]
	tn := a.newTenant("acme")
	s := a.putSecret("acme", "openai", "agent:bot", "sk-replica-v1-0123456789")
	clients := make([]*http.Client, len(c.replicas))
	for i, g := range c.replicas {
		g.secrets = a.secrets // every replica's logs are scanned for every secret
		clients[i] = g.goClient(t, tn.agent.Key)
	}
	call := func(i int) reply {
		return goDo(t, clients[i], "GET", "https://api.openai.com/v1/models", http.Header{"Gatehouse-Grant": {s.GrantID}})
	}
	for i := range c.replicas { // warm every cache layer
		if r := call(i); r.status != 200 {
			t.Fatalf("replica %d: status %d: %s", i, r.status, r.body)
		}
		requireDelivered(t, c.up.Last(t), "api.openai.com", "Authorization", "Bearer sk-replica-v1-0123456789")
	}

	t.Run("rotation", func(t *testing.T) {
		a.rememberSecret("acme openai secret v2", "sk-replica-v2-9876543210", false)
		a.cliJSON(nil, "sk-replica-v2-9876543210", "secret", "rotate", s.GrantID, "--app", "acme")
		for i := 1; i < len(c.replicas); i++ {
			if r := call(i); r.status != 200 {
				t.Fatalf("replica %d: status %d: %s", i, r.status, r.body)
			}
			requireDelivered(t, c.up.Last(t), "api.openai.com", "Authorization", "Bearer sk-replica-v2-9876543210")
		}
	})

	t.Run("revocation", func(t *testing.T) {
		before := c.up.Count()
		a.cliJSON(nil, "", "grant", "revoke", s.GrantID, "--app", "acme")
		revoked := time.Now()
		for i := 1; i < len(c.replicas); i++ {
			call(i).requireRefusal(t, http.StatusForbidden, "grant_revoked")
			t.Logf("replica %d refused its next request %v after the revoke command returned", i, time.Since(revoked))
		}
		if c.up.Count() != before {
			t.Error("a request with the revoked grant reached the upstream")
		}
	})

	t.Run("encryption at rest", func(t *testing.T) {
		ctx := t.Context()
		conn, err := pgx.Connect(ctx, testDatabaseURL())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, "SELECT t::text FROM "+pgx.Identifier{c.schema, "credentials"}.Sanitize()+" AS t")
		if err != nil {
			t.Fatal(err)
		}
		var dump strings.Builder
		n := 0
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			dump.WriteString(row)
			n++
		}
		if rows.Err() != nil || n == 0 {
			t.Fatalf("read %d credential rows: %v", n, rows.Err())
		}
		requireNoSecrets(t, "PostgreSQL credentials rows", dump.String(), a.secrets)
		rc := redisClient(t)
		keys, err := rc.Keys(ctx, c.prefix+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		var values strings.Builder
		for _, k := range keys {
			if v, err := rc.Dump(ctx, k).Result(); err == nil {
				values.WriteString(v)
			}
		}
		requireNoSecrets(t, "Redis values", values.String(), a.secrets)
	})
}
