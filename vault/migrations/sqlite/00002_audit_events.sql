-- Audit events (owned by the audit package; see audit/event.go and audit/sqlstore.go).
--
-- One row per audit.Event, one column per field. Times and durations are
-- INTEGER nanoseconds: time_ns is Unix nanoseconds (UTC, sorts numerically and
-- covers 1678..2262), the latencies are time.Duration values. Strings are
-- NOT NULL with '' for "absent", so filters compare with plain equality.
-- Rows are immutable; id (UUIDv7) is the idempotency key for inserts.
--
-- Every index ends in (time_ns, id), the order ListEvents returns and pages
-- by, so a filtered listing is an index range scan with no sort step.
--
-- Insert cost is the embedded default's main audit cost (the bench profile:
-- a B-tree insert per index per row), so the table is WITHOUT ROWID (the
-- primary key is the table: no separate index on id; UUIDv7 ids append at
-- the end) and there is no index for listings across apps, which are rare
-- and operator-only.

-- +goose Up
CREATE TABLE audit_events (
    id                  TEXT    NOT NULL PRIMARY KEY,
    time_ns             INTEGER NOT NULL,
    kind                TEXT    NOT NULL DEFAULT '',
    request_id          TEXT    NOT NULL DEFAULT '',
    app_id              TEXT    NOT NULL DEFAULT '',
    key_id              TEXT    NOT NULL DEFAULT '',
    agent_id            TEXT    NOT NULL DEFAULT '',
    principal           TEXT    NOT NULL DEFAULT '',
    grant_id            TEXT    NOT NULL DEFAULT '',
    provider_id         TEXT    NOT NULL DEFAULT '',
    method              TEXT    NOT NULL DEFAULT '',
    host                TEXT    NOT NULL DEFAULT '',
    path                TEXT    NOT NULL DEFAULT '',
    status              INTEGER NOT NULL DEFAULT 0,
    upstream_latency_ns INTEGER NOT NULL DEFAULT 0,
    total_latency_ns    INTEGER NOT NULL DEFAULT 0,
    bytes_in            INTEGER NOT NULL DEFAULT 0,
    bytes_out           INTEGER NOT NULL DEFAULT 0,
    decision            TEXT    NOT NULL DEFAULT '',
    rule                TEXT    NOT NULL DEFAULT '',
    error_code          TEXT    NOT NULL DEFAULT '',
    action              TEXT    NOT NULL DEFAULT '',
    actor               TEXT    NOT NULL DEFAULT '',
    reason              TEXT    NOT NULL DEFAULT '',
    context             TEXT    NOT NULL DEFAULT '',
    client_addr         TEXT    NOT NULL DEFAULT ''
) STRICT, WITHOUT ROWID;

CREATE INDEX audit_events_app_time ON audit_events (app_id, time_ns, id);
CREATE INDEX audit_events_app_agent_time ON audit_events (app_id, agent_id, time_ns, id);
CREATE INDEX audit_events_app_grant_time ON audit_events (app_id, grant_id, time_ns, id);
CREATE INDEX audit_events_app_principal_time ON audit_events (app_id, principal, time_ns, id);

-- +goose Down
DROP TABLE audit_events;
