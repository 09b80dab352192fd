package vault

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscription timing: how long the receive loop waits before it pings the
// connection (a silent network partition is otherwise never noticed), and
// how long it backs off between attempts while Redis is down.
const (
	subPingInterval = 15 * time.Second
	subMinBackoff   = 50 * time.Millisecond
	subMaxBackoff   = 2 * time.Second
)

// invalidation is the message published on the invalidation channel.
type invalidation struct {
	V      int      `json:"v"`
	Scopes []string `json:"scopes"`
}

func encodeInvalidation(scopes []string) (string, error) {
	b, err := json.Marshal(invalidation{V: 1, Scopes: scopes})
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// decodeInvalidation parses a message. Anything unreadable (a newer
// replica's format, garbage) reads as "invalidate everything": dropping too
// much costs a few store reads, dropping too little serves a revoked key.
func decodeInvalidation(payload string) []string {
	var m invalidation
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.V != 1 || len(m.Scopes) == 0 {
		return []string{scopeAll}
	}
	return m.Scopes
}

// subscription is one vault's listener on the invalidation channel.
type subscription struct {
	layer   *RedisLayer
	ps      *redis.PubSub
	cancel  context.CancelFunc
	done    chan struct{}
	up      atomic.Bool
	onDrop  func(scopes []string)
	onReset func()
}

// subscribe starts listening in its own goroutine: onDrop gets the scopes
// of every message; onReset runs each time the subscription is
// (re)established, because messages sent while it was down are lost. It
// never blocks on Redis; stop ends it.
func (l *RedisLayer) subscribe(onDrop func([]string), onReset func()) *subscription {
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscription{
		layer:   l,
		ps:      l.client.Subscribe(ctx), // no channel yet: does not dial
		cancel:  cancel,
		done:    make(chan struct{}),
		onDrop:  onDrop,
		onReset: onReset,
	}
	go s.run(ctx)
	return s
}

// stop ends the listener and waits for its goroutine.
func (s *subscription) stop() {
	s.cancel()
	_ = s.ps.Close() // unblocks a pending receive
	<-s.done
}

// subscribed reports whether the channel subscription is established.
func (s *subscription) subscribed() bool { return s != nil && s.up.Load() }

// run is the receive loop. go-redis reconnects and resubscribes the PubSub
// after a connection error on the next receive; the server then confirms
// the subscription again, which is how a reconnect is noticed.
func (s *subscription) run(ctx context.Context) {
	defer close(s.done)
	// Registers the channel even when Redis is down; the error is the
	// receive loop's to handle.
	_ = s.ps.Subscribe(ctx, s.layer.Channel())
	backoff := subMinBackoff
	for {
		msg, err := s.ps.ReceiveTimeout(ctx, subPingInterval)
		if ctx.Err() != nil {
			return
		}
		if err != nil && isTimeout(err) {
			err = s.ps.Ping(ctx) // the Pong arrives as a message
		}
		if err != nil {
			if s.up.Swap(false) {
				s.layer.log.Warn("redis invalidation subscription lost; reconnecting (the caches are flushed once it is back)", "err", err)
			}
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, subMaxBackoff)
			continue
		}
		backoff = subMinBackoff
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			s.onReset()
			if !s.up.Swap(true) {
				s.layer.log.Info("redis invalidation subscription established", "channel", m.Channel)
			}
			s.layer.ok()
			s.layer.replay(ctx)
		case *redis.Message:
			s.onDrop(decodeInvalidation(m.Payload))
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sleepCtx waits d or until ctx ends; false means ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
