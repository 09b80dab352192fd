package policy

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// tokenBucketScript is one token bucket, updated atomically in Redis so
// that every replica draws from the same bucket. It uses Redis's own clock
// (TIME) so replicas with skewed clocks agree. Returns {allowed, retry_us}.
var tokenBucketScript = redis.NewScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) / 1000000 * rate)
  ts = now
end
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) / rate * 1000000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
local ttl = math.ceil((burst - tokens) / rate * 1000) + 1000
redis.call('PEXPIRE', KEYS[1], ttl)
return {allowed, retry}
`)

type redisLimiter struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisLimiter returns a Limiter whose buckets live in Redis under
// prefix+key, so a limit holds across replicas. Each Allow is one
// EVALSHA of an atomic Lua script; buckets expire once full again.
func NewRedisLimiter(rdb redis.UniversalClient, prefix string) Limiter {
	return &redisLimiter{rdb: rdb, prefix: prefix}
}

// Allow implements Limiter.
func (l *redisLimiter) Allow(ctx context.Context, key string, rate float64, burst int) (bool, time.Duration, error) {
	res, err := tokenBucketScript.Run(ctx, l.rdb, []string{l.prefix + key},
		strconv.FormatFloat(rate, 'g', -1, 64), strconv.Itoa(burst)).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("policy: redis rate limiter: %w", err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("policy: redis rate limiter: unexpected reply of %d values", len(res))
	}
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}
