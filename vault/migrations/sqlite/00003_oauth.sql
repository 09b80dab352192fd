-- OAuth grants (issue 4): token expiry in clear on credentials, the
-- provider-side account on grants, per-app OAuth client settings, connect
-- sessions of the authorization-code flow, and delegations of a grant to an
-- agent. Timestamps as in 00001: fixed-width UTC text with microseconds.

-- +goose Up
-- expires_at is when the material stops being usable (an access token's
-- expiry), NULL when unknown or never. Not secret: it bounds the Redis TTL
-- and drives refresh without decrypting anything.
ALTER TABLE credentials ADD COLUMN expires_at TEXT;

-- account tells apart two connections of one provider by one user ('' when
-- unknown, and for every grant made before this migration).
ALTER TABLE grants ADD COLUMN account TEXT NOT NULL DEFAULT '';

-- An app's OAuth client for one provider. The client secret is sealed in
-- the credential credential_id (kind oauth_client) so KEK rotation covers
-- it; like grants.credential_id it has no foreign key and the store checks
-- that the credential exists in the same app.
CREATE TABLE provider_settings (
    app_id        TEXT NOT NULL REFERENCES apps (id),
    provider_id   TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    scopes        TEXT NOT NULL DEFAULT '[]', -- JSON array; empty: the catalog's defaults
    credential_id TEXT,                       -- NULL: no sealed secret
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (app_id, provider_id)
) STRICT;

-- One authorization-code flow. The state is never stored, only its SHA-256;
-- claiming it (pending → exchanging) is a single conditional UPDATE, so a
-- state is used at most once.
CREATE TABLE connect_sessions (
    id            TEXT NOT NULL PRIMARY KEY,
    state_hash    BLOB NOT NULL UNIQUE,
    app_id        TEXT NOT NULL REFERENCES apps (id),
    provider_id   TEXT NOT NULL,
    principal     TEXT NOT NULL,
    agent         TEXT NOT NULL DEFAULT '', -- agent name to delegate the new grant to
    grant_id      TEXT NOT NULL DEFAULT '', -- grant to re-consent, then the grant made
    scopes        TEXT NOT NULL DEFAULT '[]',
    redirect_uri  TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'exchanging', 'complete', 'failed')),
    error_code    TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    completed_at  TEXT
) STRICT;
CREATE INDEX connect_sessions_expiry ON connect_sessions (expires_at); -- DeleteConnectSessions

-- A user's consent that one agent may use one of the user's grants. Grants
-- are never deleted (only revoked); deleting an agent deletes its
-- delegations first.
CREATE TABLE delegations (
    id         TEXT NOT NULL PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    grant_id   TEXT NOT NULL REFERENCES grants (id),
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    created_at TEXT NOT NULL,
    UNIQUE (app_id, grant_id, agent_id) -- also serves ListDelegations by grant
) STRICT;
-- DelegatedGrants: an agent's delegations, then each grant by primary key.
CREATE INDEX delegations_agent ON delegations (app_id, agent_id, grant_id);

-- +goose Down
DROP TABLE delegations;
DROP TABLE connect_sessions;
DROP TABLE provider_settings;
ALTER TABLE grants DROP COLUMN account;
ALTER TABLE credentials DROP COLUMN expires_at;
