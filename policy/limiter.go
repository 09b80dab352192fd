package policy

import (
	"context"
	"math"
	"sync"
	"time"
)

// Limiter is a keyed token bucket. Allow takes one token from the bucket
// named key (rate tokens per second, at most burst stored) and reports
// whether there was one; when not, retryAfter says when there will be.
// An error means the limiter could not decide; the policy then denies.
type Limiter interface {
	Allow(ctx context.Context, key string, rate float64, burst int) (ok bool, retryAfter time.Duration, err error)
}

// memoryLimiter keeps buckets in process: right for a single replica.
type memoryLimiter struct {
	now func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	nextSweep int // sweep idle buckets when the map grows past this
}

type bucket struct {
	tokens float64
	last   time.Time
	full   time.Time // when the bucket is full again if untouched; then it can be forgotten
}

// minSweep is the map size below which idle buckets are never swept.
const minSweep = 1024

// NewMemoryLimiter returns an in-process Limiter whose clock is now. Idle
// buckets (full again) are dropped as the map grows, so memory stays
// proportional to the number of recently active keys.
func NewMemoryLimiter(now func() time.Time) Limiter {
	return &memoryLimiter{now: now, buckets: map[string]*bucket{}, nextSweep: minSweep}
}

// Allow implements Limiter.
func (l *memoryLimiter) Allow(ctx context.Context, key string, rate float64, burst int) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.nextSweep {
			l.sweep(now)
		}
		b = &bucket{tokens: float64(burst), last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(float64(burst), b.tokens+elapsed*rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		b.full = now.Add(secondsToDuration((float64(burst) - b.tokens) / rate))
		return true, 0, nil
	}
	return false, secondsToDuration((1 - b.tokens) / rate), nil
}

// sweep drops buckets that have refilled completely: forgetting them
// changes nothing, a new bucket starts full.
func (l *memoryLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if !now.Before(b.full) {
			delete(l.buckets, k)
		}
	}
	l.nextSweep = max(minSweep, 2*len(l.buckets))
}

// secondsToDuration rounds up so a caller that waits retryAfter finds a token.
func secondsToDuration(s float64) time.Duration {
	return time.Duration(math.Ceil(s * float64(time.Second)))
}
