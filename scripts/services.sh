#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis that the tests use are reachable (and
# the client tools the e2e tests drive are installed):
# starts them when installed, installs them with apt-get when root and they
# are missing, and otherwise fails naming what to run. With CI=true a
# service that cannot be brought up fails the run; it never silently skips.
set -uo pipefail

PGURL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
REDISURL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null; }

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then return 1; fi
  echo "services: installing $* with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

start_pg() {
  command -v pg_ctlcluster >/dev/null || apt_install postgresql || return 1
  local v; v=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  [ -n "$v" ] || return 1
  pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || true
  for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
  pg_up || return 1
  # The tests use trust auth on 127.0.0.1 and a database named test.
  su postgres -c "psql -qtc \"SELECT 1 FROM pg_database WHERE datname='test'\" | grep -q 1 || createdb test" 2>/dev/null || true
}

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server || return 1
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || return 1
  for _ in $(seq 1 50); do redis_up && break; sleep 0.2; done
  redis_up
}

fail=0
# The end-to-end tests drive the binary with these clients, and the README
# walkthrough they run uses jq.
for tool in curl jq python3; do
  if ! command -v "$tool" >/dev/null; then
    apt_install "$tool" || { echo "services: $tool is missing: apt-get install $tool" >&2; fail=1; }
  fi
done
if ! pg_up; then
  start_pg || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432 ($PGURL). Install and start it: apt-get install postgresql && pg_ctlcluster <version> main start" >&2; fail=1; }
fi
if ! redis_up; then
  start_redis || { echo "services: Redis is not reachable on 127.0.0.1:6379 ($REDISURL). Install and start it: apt-get install redis-server && redis-server --daemonize yes" >&2; fail=1; }
fi
if [ "$fail" = 1 ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "services: CI=true and a service is missing: failing the run" >&2
    exit 1
  fi
  exit 1
fi
echo "services: PostgreSQL and Redis are up; curl, jq and python3 are installed"
