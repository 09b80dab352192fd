-- Audit events for PostgreSQL (audit/pgstore.go reads and writes them); the
-- same columns and indexes as vault/migrations/sqlite/00002_audit_events.sql.
--
-- Times and durations are bigint nanoseconds, not timestamptz: an
-- audit.Event keeps nanosecond precision and timestamptz has microseconds.
-- time_ns is Unix nanoseconds (UTC); the latencies are time.Duration values.
-- Strings are NOT NULL with '' for "absent", so filters compare with plain
-- equality, and COLLATE "C" so (time_ns, id) order is bytewise as in SQLite.
-- Rows are immutable; id (UUIDv7) is the idempotency key for inserts.
--
-- Every index ends in (time_ns, id), the order ListEvents returns and pages
-- by, so a filtered listing is an index range scan with no sort step.

-- +goose Up
CREATE TABLE audit_events (
    id                  text COLLATE "C" NOT NULL PRIMARY KEY,
    time_ns             bigint  NOT NULL,
    kind                text COLLATE "C" NOT NULL DEFAULT '',
    request_id          text COLLATE "C" NOT NULL DEFAULT '',
    app_id              text COLLATE "C" NOT NULL DEFAULT '',
    key_id              text COLLATE "C" NOT NULL DEFAULT '',
    agent_id            text COLLATE "C" NOT NULL DEFAULT '',
    principal           text COLLATE "C" NOT NULL DEFAULT '',
    grant_id            text COLLATE "C" NOT NULL DEFAULT '',
    provider_id         text COLLATE "C" NOT NULL DEFAULT '',
    method              text NOT NULL DEFAULT '',
    host                text NOT NULL DEFAULT '',
    path                text NOT NULL DEFAULT '',
    status              bigint  NOT NULL DEFAULT 0,
    upstream_latency_ns bigint  NOT NULL DEFAULT 0,
    total_latency_ns    bigint  NOT NULL DEFAULT 0,
    bytes_in            bigint  NOT NULL DEFAULT 0,
    bytes_out           bigint  NOT NULL DEFAULT 0,
    decision            text COLLATE "C" NOT NULL DEFAULT '',
    rule                text NOT NULL DEFAULT '',
    error_code          text NOT NULL DEFAULT '',
    action              text NOT NULL DEFAULT '',
    actor               text NOT NULL DEFAULT '',
    reason              text NOT NULL DEFAULT '',
    context             text NOT NULL DEFAULT '',
    client_addr         text NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_time ON audit_events (time_ns, id);
CREATE INDEX audit_events_app_time ON audit_events (app_id, time_ns, id);
CREATE INDEX audit_events_app_agent_time ON audit_events (app_id, agent_id, time_ns, id);
CREATE INDEX audit_events_app_grant_time ON audit_events (app_id, grant_id, time_ns, id);
CREATE INDEX audit_events_app_principal_time ON audit_events (app_id, principal, time_ns, id);

-- +goose Down
DROP TABLE audit_events;
