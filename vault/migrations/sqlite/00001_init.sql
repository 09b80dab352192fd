-- Vault schema: apps, agents, caller keys, encrypted credentials, grants.
-- Timestamps are TEXT in fixed-width UTC RFC 3339 with microseconds
-- ("2006-01-02T15:04:05.000000Z"), so they sort as strings and keep the
-- precision PostgreSQL's timestamptz has.

-- +goose Up
CREATE TABLE apps (
    id           TEXT NOT NULL PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    egress_allow TEXT NOT NULL DEFAULT '[]', -- JSON array of host patterns
    created_at   TEXT NOT NULL
) STRICT;

CREATE TABLE agents (
    id         TEXT NOT NULL PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (app_id, name)
) STRICT;

-- agent_id has no foreign key on purpose: deleting an agent revokes its keys
-- but keeps them, still naming the agent, for the audit trail. The store
-- checks that the agent exists in the same app when a key is created.
CREATE TABLE keys (
    id         TEXT NOT NULL PRIMARY KEY, -- public key id embedded in the key
    app_id     TEXT NOT NULL REFERENCES apps (id),
    agent_id   TEXT,                      -- NULL for app keys
    hash       BLOB NOT NULL,             -- HMAC-SHA256(pepper, key)
    status     TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;
CREATE INDEX keys_app ON keys (app_id, agent_id);

CREATE TABLE credentials (
    id          TEXT NOT NULL PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps (id),
    provider_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 1),
    kek_id      TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX credentials_app ON credentials (app_id);
CREATE INDEX credentials_kek ON credentials (kek_id); -- KEK rotation scans

-- credential_id has no foreign key on purpose: deleting a credential revokes
-- its grants (in the same transaction) and keeps them for the audit trail.
-- The store checks that the credential exists in the same app on insert.
CREATE TABLE grants (
    id            TEXT NOT NULL PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES apps (id),
    credential_id TEXT NOT NULL,
    provider_id   TEXT NOT NULL,
    principal     TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'expired', 'revoked', 'needs_reauth')),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX grants_lookup ON grants (app_id, provider_id, principal, status);
CREATE INDEX grants_credential ON grants (app_id, credential_id);

-- +goose Down
DROP TABLE grants;
DROP TABLE credentials;
DROP TABLE keys;
DROP TABLE agents;
DROP TABLE apps;
