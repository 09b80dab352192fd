-- Identity and policy (issue 5): each app's identity provider, its own
-- policy document, agents' access sets, the users its identity provider
-- vouched for, and key rotation with a grace period (keys.expires_at and
-- status 'deprecated'). Timestamps as in 00001: fixed-width UTC text with
-- microseconds.

-- +goose Up
-- One identity provider per app. algorithms is a JSON array; leeway_ns a
-- time.Duration in nanoseconds (0: identity's default).
CREATE TABLE identity_providers (
    app_id      TEXT    NOT NULL PRIMARY KEY REFERENCES apps (id),
    issuer      TEXT    NOT NULL,
    jwks_url    TEXT    NOT NULL DEFAULT '', -- '': OpenID discovery from the issuer
    audience    TEXT    NOT NULL,
    user_claim  TEXT    NOT NULL DEFAULT '',
    group_claim TEXT    NOT NULL DEFAULT '',
    algorithms  TEXT    NOT NULL DEFAULT '[]',
    leeway_ns   INTEGER NOT NULL DEFAULT 0 CHECK (leeway_ns >= 0),
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
) STRICT;

-- One policy document (YAML) per app; version counts its writes.
CREATE TABLE app_policies (
    app_id     TEXT    NOT NULL PRIMARY KEY REFERENCES apps (id),
    document   TEXT    NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 1),
    updated_at TEXT    NOT NULL
) STRICT;

-- An agent's access set: each entry names one grant of the app, or one
-- provider (the app's system grants for it). Exactly one of provider_id and
-- grant_id is set; the other is '' (not NULL, so the UNIQUE constraint also
-- refuses duplicates). grant_id has no foreign key, like grants.credential_id:
-- the store checks that the grant exists in the same app. Deleting an agent
-- deletes its entries first.
CREATE TABLE agent_access (
    id          TEXT NOT NULL PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps (id),
    agent_id    TEXT NOT NULL REFERENCES agents (id),
    provider_id TEXT NOT NULL DEFAULT '',
    grant_id    TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    CHECK ((provider_id = '') <> (grant_id = '')),
    UNIQUE (app_id, agent_id, provider_id, grant_id) -- also serves lookups by agent
) STRICT;

-- Users the app's identity provider vouched for. groups is a JSON array.
CREATE TABLE users (
    app_id     TEXT NOT NULL REFERENCES apps (id),
    id         TEXT NOT NULL,
    groups     TEXT NOT NULL DEFAULT '[]',
    first_seen TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    PRIMARY KEY (app_id, id)
) STRICT;

-- Keys: status 'deprecated' (replaced by a rotation, valid until
-- expires_at). SQLite cannot change a CHECK in place, so the table is
-- rebuilt; nothing references it.
CREATE TABLE keys_new (
    id         TEXT NOT NULL PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    agent_id   TEXT,
    hash       BLOB NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('active', 'deprecated', 'revoked')),
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    expires_at TEXT, -- deprecated keys: end of the grace period
    CHECK (status <> 'deprecated' OR expires_at IS NOT NULL)
) STRICT;
INSERT INTO keys_new (id, app_id, agent_id, hash, status, created_at, revoked_at)
    SELECT id, app_id, agent_id, hash, status, created_at, revoked_at FROM keys;
DROP TABLE keys;
ALTER TABLE keys_new RENAME TO keys;
CREATE INDEX keys_app ON keys (app_id, agent_id);

-- +goose Down
-- A deprecated key cannot be represented before this migration; it is
-- revoked (the safe side) rather than made active again.
CREATE TABLE keys_old (
    id         TEXT NOT NULL PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    agent_id   TEXT,
    hash       BLOB NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;
INSERT INTO keys_old (id, app_id, agent_id, hash, status, created_at, revoked_at)
    SELECT id, app_id, agent_id, hash,
           CASE status WHEN 'deprecated' THEN 'revoked' ELSE status END,
           created_at,
           CASE status WHEN 'deprecated' THEN coalesce(revoked_at, expires_at) ELSE revoked_at END
    FROM keys;
DROP TABLE keys;
ALTER TABLE keys_old RENAME TO keys;
CREATE INDEX keys_app ON keys (app_id, agent_id);
DROP TABLE users;
DROP TABLE agent_access;
DROP TABLE app_policies;
DROP TABLE identity_providers;
