package policy

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type allowResult struct {
	OK    bool
	Retry time.Duration
}

func TestMemoryLimiter(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	lim := NewMemoryLimiter(clock.now)
	ctx := context.Background()
	step := func(key string, advance time.Duration) allowResult {
		clock.advance(advance)
		ok, retry, err := lim.Allow(ctx, key, 2, 3) // 2/s, burst 3
		if err != nil {
			t.Fatal(err)
		}
		return allowResult{ok, retry}
	}
	got := []allowResult{
		step("a", 0), step("a", 0), step("a", 0), // burst
		step("a", 0),                    // empty: next token in 0.5s
		step("a", 250*time.Millisecond), // half a token: 0.25s more
		step("a", 250*time.Millisecond), // one token
		step("b", 0),                    // other key, own bucket
		step("a", 10*time.Second),       // refilled, capped at burst
		step("a", 0), step("a", 0), step("a", 0),
	}
	want := []allowResult{
		{true, 0}, {true, 0}, {true, 0},
		{false, 500 * time.Millisecond},
		{false, 250 * time.Millisecond},
		{true, 0},
		{true, 0},
		{true, 0}, {true, 0}, {true, 0},
		{false, 500 * time.Millisecond},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestMemoryLimiterSweepsIdleBuckets(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	lim := NewMemoryLimiter(clock.now).(*memoryLimiter)
	ctx := context.Background()
	for range minSweep {
		if _, _, err := lim.Allow(ctx, uuid.NewString(), 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(2 * time.Second) // every bucket is full again
	if _, _, err := lim.Allow(ctx, "new", 1, 1); err != nil {
		t.Fatal(err)
	}
	if got := len(lim.buckets); got != 1 {
		t.Errorf("buckets after sweep = %d, want 1", got)
	}
}

// TestRateLimitRules runs rate-limit rules through Evaluate.
func TestRateLimitRules(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := compileYAML(t, Config{}, NewMemoryLimiter(clock.now), `- name: per-agent
  effect: deny
  match: {providers: [slack]}
  rate_limit: {per: agent, rate: 2, period: 1m, burst: 2}
- name: shadow-per-grant
  effect: report
  match: {providers: [slack]}
  rate_limit: {per: grant, rate: 1, period: 1h}
- name: no-delete
  effect: deny
  match: {methods: [DELETE]}
`)
	ctx := context.Background()
	limited := Decision{Effect: EffectDeny, Rule: "per-agent", Code: CodeRateLimited, RetryAfter: 30 * time.Second, Reason: `rate limit of policy rule "per-agent" exceeded`}
	call := func(agent, method string) Decision {
		in := baseInput()
		in.Agent, in.Method = agent, method
		return p.Evaluate(ctx, in)
	}
	got := []Decision{
		call("bot", "DELETE"), // denied by no-delete: takes no token
		call("bot", "GET"),
		call("bot", "GET"), // shadow bucket (burst 1) now empty
		call("bot", "GET"),
		call("other", "GET"), // other agent: own bucket
	}
	want := []Decision{
		deniedBy("no-delete"),
		allowedByDefault,
		{Allowed: true, Reason: "allowed by default", WouldDeny: []string{"shadow-per-grant"}},
		limited,
		{Allowed: true, Reason: "allowed by default", WouldDeny: []string{"shadow-per-grant"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
	clock.advance(30 * time.Second)
	if d := call("bot", "GET"); !d.Allowed {
		t.Errorf("after RetryAfter: %+v, want allowed", d)
	}
}

// failingLimiter always errors.
type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string, float64, int) (bool, time.Duration, error) {
	return false, 0, errors.New("connection refused")
}

func TestRateLimiterErrorFailsClosed(t *testing.T) {
	for _, effect := range []string{"deny", "report"} {
		t.Run(effect, func(t *testing.T) {
			p := compileYAML(t, Config{}, failingLimiter{}, "- {name: rl, effect: "+effect+", rate_limit: {per: provider, rate: 5}}\n")
			want := Decision{Effect: EffectDeny, Rule: "rl", Code: CodePolicyDenied, Reason: `rate limit of rule "rl" could not be checked; denied (fail closed)`}
			if diff := cmp.Diff(want, p.Evaluate(context.Background(), baseInput())); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

// testRedis connects to TEST_REDIS_URL (default redis://127.0.0.1:6379).
// Without Redis the test is skipped, except with CI=true, where it fails.
func testRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		// make test starts Redis (scripts/services.sh); a missing one is a
		// failure, never a skip.
		t.Fatalf("redis at %s: %v (start it: scripts/services.sh)", url, err)
	}
	return rdb
}

// TestRedisLimiterAcrossReplicas: two replicas (two clients, two limiters,
// two compiled policies) share one bucket, so N calls are allowed in total.
func TestRedisLimiterAcrossReplicas(t *testing.T) {
	prefix := "gatehouse-test:" + uuid.NewString() + ":"
	const n = 5
	rules := "- {name: rl, effect: deny, rate_limit: {per: agent, rate: 1, period: 1h, burst: 5}}\n"
	var replicas []*Policy
	for range 2 {
		replicas = append(replicas, compileYAML(t, Config{}, NewRedisLimiter(testRedis(t), prefix), rules))
	}
	t.Cleanup(func() {
		rdb := testRedis(t)
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	var retry []time.Duration
	for i := range 4 * n {
		wg.Go(func() {
			d := replicas[i%2].Evaluate(ctx, baseInput())
			mu.Lock()
			defer mu.Unlock()
			if d.Allowed {
				allowed++
			} else if d.Code == CodeRateLimited {
				retry = append(retry, d.RetryAfter)
			} else {
				t.Errorf("unexpected decision %+v", d)
			}
		})
	}
	wg.Wait()
	if allowed != n {
		t.Errorf("allowed %d calls across two replicas, want %d in total", allowed, n)
	}
	for _, r := range retry {
		if r <= 0 || r > time.Hour {
			t.Errorf("RetryAfter %v, want within (0, 1h]", r)
		}
	}
	// Another agent has its own bucket.
	in := baseInput()
	in.Agent = "other"
	if d := replicas[1].Evaluate(ctx, in); !d.Allowed {
		t.Errorf("other agent: %+v, want allowed", d)
	}
}

func TestRedisLimiterRefills(t *testing.T) {
	rdb := testRedis(t)
	prefix := "gatehouse-test:" + uuid.NewString() + ":"
	t.Cleanup(func() { rdb.Del(context.Background(), prefix+"k") })
	lim := NewRedisLimiter(rdb, prefix)
	ctx := context.Background()
	// 1000 tokens a second, burst 1: the second call comes back within
	// a couple of milliseconds, so poll for the refill with a deadline.
	if ok, _, err := lim.Allow(ctx, "k", 1000, 1); err != nil || !ok {
		t.Fatalf("first Allow = %v, %v; want true", ok, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, retry, err := lim.Allow(ctx, "k", 1000, 1)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if retry <= 0 || retry > time.Millisecond {
			t.Fatalf("retryAfter = %v, want within (0, 1ms]", retry)
		}
		if time.Now().After(deadline) {
			t.Fatal("bucket never refilled")
		}
	}
	ttl, err := rdb.PTTL(ctx, prefix+"k").Result()
	if err != nil || ttl <= 0 {
		t.Errorf("bucket TTL = %v, %v; want an expiry", ttl, err)
	}
}
