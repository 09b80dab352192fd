package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

// lockedBuffer is a log sink safe for concurrent writers and readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testRedisURL is the Redis serve tests use (TEST_REDIS_URL, default the
// local server).
func testRedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// closedRedisURL points at a loopback port nothing listens on, with a
// password that must never be logged.
func closedRedisURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("redis://:pw-%s@127.0.0.1:%d/0", secretWord, port)
}

const secretWord = "s3cretpassw0rd"

// readyz fetches /readyz.
func readyz(t *testing.T, s *server) (int, readyBody) {
	t.Helper()
	resp, err := http.Get(s.adminURL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body readyBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// readyBody is the part of the /readyz body these tests check.
type readyBody struct {
	Status     string `json:"status"`
	Store      string `json:"store"`
	Redis      string `json:"redis"`
	Subscribed bool   `json:"subscribed"`
}

// TestServeRedis starts serve with redis.url set: with a reachable Redis
// the vault subscribes and /readyz shows it; with an unreachable one serve
// starts anyway, warns (without the URL's password) and stays ready.
func TestServeRedis(t *testing.T) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "gatehouse-test:" + hex.EncodeToString(b[:]) + ":"
	opt, err := redis.ParseURL(testRedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, err := rdb.Keys(ctx, prefix+"*").Result(); err == nil && len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		_ = rdb.Close()
	})

	for _, tc := range []struct {
		name    string
		url     func(t *testing.T) string
		want    readyBody
		wantLog string
	}{
		{"reachable", func(*testing.T) string { return testRedisURL() },
			readyBody{Status: "ready", Store: vault.HealthOK, Redis: vault.HealthOK, Subscribed: true},
			"redis connected"},
		{"unreachable", closedRedisURL,
			readyBody{Status: "ready", Store: vault.HealthOK, Redis: vault.HealthError},
			"redis.url: Redis does not answer; starting without it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, filepath.Join(t.TempDir(), "data"))
			cfg.Redis = RedisConfig{URL: tc.url(t), Prefix: prefix}
			var logs lockedBuffer
			s, err := openServer(t.Context(), cfg, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			if err != nil {
				t.Fatalf("openServer: %v", err)
			}
			s.start()
			t.Cleanup(func() {
				if err := s.shutdown(); err != nil {
					t.Errorf("shutdown: %v", err)
				}
			})
			// The subscription is established in the background: poll.
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			deadline := time.Now().Add(10 * time.Second)
			status, got := readyz(t, s)
			for got.Subscribed != tc.want.Subscribed && time.Now().Before(deadline) {
				<-tick.C
				status, got = readyz(t, s)
			}
			if status != http.StatusOK {
				t.Fatalf("/readyz status %d", status)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("/readyz (-want +got):\n%s", d)
			}
			if out := logs.String(); !strings.Contains(out, tc.wantLog) || strings.Contains(out, secretWord) {
				t.Fatalf("logs lack %q or contain the password:\n%s", tc.wantLog, out)
			}
		})
	}
}

// TestServeRedisBadURL: a malformed redis.url is refused without quoting
// the URL, which may carry a password.
func TestServeRedisBadURL(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1:6379",
		"redis://:pw-" + secretWord + "@127.0.0.1:notaport/0",
		"redis://:pw-" + secretWord + "@127.0.0.1:6379/notadb",
	} {
		cfg := testConfig(t, filepath.Join(t.TempDir(), "data"))
		cfg.Redis.URL = u
		s, err := openServer(t.Context(), cfg, slog.New(slog.DiscardHandler))
		if err == nil {
			s.start()
			_ = s.shutdown()
			t.Fatalf("openServer(%s) succeeded", strings.ReplaceAll(u, secretWord, "***"))
		}
		if !strings.Contains(err.Error(), "redis.url") || strings.Contains(err.Error(), secretWord) {
			t.Fatalf("error %q must name redis.url and not quote the password", err)
		}
	}
}
