package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/redis/go-redis/v9"
)

// redisPingTimeout bounds the start-up check of redis.url.
const redisPingTimeout = 3 * time.Second

// openRedis returns the vault's Redis layer for cfg, its client (which the
// OAuth refresh leases share) and a func that closes the client, or nil
// layer and client (and a no-op) when redis.url is empty. Redis is
// optional: a server that does not answer at start is logged as a warning
// and used once it answers; only a malformed URL is an error. Errors and
// logs never contain the URL, which may hold a password.
func openRedis(ctx context.Context, cfg RedisConfig, log *slog.Logger) (*vault.RedisLayer, redis.UniversalClient, func(), error) {
	if cfg.URL == "" {
		log.Info("redis.url is empty: in-process cache only; with several replicas, revocations reach the others only when their cache entries expire (vault.cache_ttl)")
		return nil, nil, func() {}, nil
	}
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // its message quotes the whole URL
			err = ue.Err
		}
		return nil, nil, nil, fmt.Errorf("redis.url: %w", err)
	}
	client := redis.NewClient(opt)
	layer := vault.NewRedisLayer(client, vault.RedisOptions{Prefix: cfg.Prefix, Log: log})

	pctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	if err := layer.Ping(pctx); err != nil {
		log.Warn("redis.url: Redis does not answer; starting without it. Reads go to the database, and revocations reach other replicas only when their cache entries expire, until Redis answers (it is retried in the background)",
			"addr", opt.Addr, "err", err)
	} else {
		log.Info("redis connected: shared cache and cross-replica invalidation enabled", "addr", opt.Addr, "channel", layer.Channel())
	}
	return layer, client, func() { _ = client.Close() }, nil
}

// routeRedisClientLogs sends go-redis's own log lines, one per failed dial
// while Redis is down, to debug level: the vault reports an outage once per
// state change. go-redis's logger is process-wide, so this runs once, from
// runServe, before any client exists.
func routeRedisClientLogs(cfg RedisConfig, log *slog.Logger) {
	if cfg.URL != "" {
		redis.SetLogger(redisLogger{log})
	}
}

// redisLogger sends go-redis's internal log lines to slog at debug level.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// staleIfError maps vault.stale_if_error to vault.Options, where 0 means
// the default and a negative value disables stale serving.
func staleIfError(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
