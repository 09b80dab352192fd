package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

const twoPerMinute = `apiVersion: gatehouse/v1
kind: Policy
rules:
  - name: openai-per-agent
    effect: deny
    match:
      providers: [openai]
    rate_limit: {per: agent, rate: 2, period: 1m, burst: 2}
`

// TestServeRateLimit checks both limiters serve picks: in process without
// redis.url, in Redis (under redis.prefix) with it.
func TestServeRateLimit(t *testing.T) {
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
	limited := outcome{Status: http.StatusTooManyRequests, Code: "rate_limited", Rule: "openai-per-agent"}

	for _, tc := range []struct {
		name      string
		redisURL  string
		wantRedis int // rate-limit buckets in Redis
	}{
		{"memory", "", 0},
		{"redis", testRedisURL(), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newPolicyFixture(t, twoPerMinute, func(c *Config) { c.Redis = RedisConfig{URL: tc.redisURL, Prefix: prefix} })
			got := []outcome{f.call("GET", "/v1/models"), f.call("GET", "/v1/models"), f.call("GET", "/v1/models")}
			if diff := cmp.Diff([]outcome{allowed, allowed, limited}, got); diff != "" {
				t.Errorf("three calls (-want +got):\n%s", diff)
			}
			keys, err := rdb.Keys(t.Context(), prefix+rateLimitKeyPrefix+"*").Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != tc.wantRedis {
				t.Errorf("rate-limit keys in Redis: %v, want %d", keys, tc.wantRedis)
			}
		})
	}
}
