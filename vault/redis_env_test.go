package vault_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/redis/go-redis/v9"
)

// testRedisURL is the Redis the tests use (TEST_REDIS_URL, default the
// local server). A missing Redis fails the tests, never skips them.
func testRedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// newTestRedis returns a client for url, closed at cleanup.
func newTestRedis(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testPrefix returns a key prefix unique to this test on the test Redis,
// checks that the server answers, and deletes the prefix's keys at cleanup.
func testPrefix(t *testing.T) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "gatehouse-test:" + hex.EncodeToString(b[:]) + ":"
	c := newTestRedis(t, testRedisURL())
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("Redis at TEST_REDIS_URL is required: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		for _, k := range scanKeys(t, ctx, c, prefix) {
			c.Del(ctx, k)
		}
	})
	return prefix
}

// scanKeys lists the keys under prefix.
func scanKeys(t *testing.T, ctx context.Context, c *redis.Client, prefix string) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan %s: %v", prefix, err)
	}
	return keys
}

// redisVault returns a Vault of env e on its own client and layer for url,
// like one replica, and waits until its invalidation subscription is up.
func (e *cacheEnv) redisVault(t *testing.T, url, prefix string, log *slog.Logger) *vault.Vault {
	t.Helper()
	layer := vault.NewRedisLayer(newTestRedis(t, url), vault.RedisOptions{Prefix: prefix, Log: log})
	v := e.vault(t, vault.Options{Redis: layer})
	waitFor(t, "the invalidation subscription", func() bool { return v.Health(t.Context()).Subscribed })
	return v
}

// logCounter is a slog handler that counts records by message.
type logCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func newLogCounter() *logCounter { return &logCounter{n: map[string]int{}} }

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCounter) WithGroup(string) slog.Handler            { return l }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[r.Message]++
	return nil
}

// slogFor returns a logger writing to h.
func slogFor(h slog.Handler) *slog.Logger { return slog.New(h) }

// count returns how often a message was logged.
func (l *logCounter) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[msg]
}

// Messages the Redis layer logs on state changes.
const (
	logRedisDown  = "redis unavailable: reading from the store; revocations reach other replicas only when their cache entries expire, until redis is back"
	logRedisUp    = "redis available again"
	logSubLost    = "redis invalidation subscription lost; reconnecting (the caches are flushed once it is back)"
	logSubUp      = "redis invalidation subscription established"
	logReplayDone = "redis: published the invalidations made while it was unreachable"
)

// freePort returns a TCP port on 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// redisServer is a private redis-server process without persistence.
type redisServer struct {
	port int
	cmd  *exec.Cmd
}

// startRedisServer runs redis-server on port and waits until it answers.
func startRedisServer(t *testing.T, port int) *redisServer {
	t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server is required: %v", err)
	}
	s := &redisServer{port: port, cmd: cmd}
	t.Cleanup(s.stop)
	c := newTestRedis(t, s.url())
	waitFor(t, "redis-server to answer", func() bool { return c.Ping(t.Context()).Err() == nil })
	return s
}

func (s *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// stop kills the server and waits for it to exit; it is idempotent.
func (s *redisServer) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// elapsed formats a duration for the test log.
func elapsed(d time.Duration) string { return d.Round(time.Microsecond).String() }
