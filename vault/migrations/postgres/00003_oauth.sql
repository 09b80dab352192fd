-- OAuth grants (issue 4) for PostgreSQL: the same columns, tables and
-- rules as vault/migrations/sqlite/00003_oauth.sql, in native types
-- (timestamptz, bytea, jsonb) and with COLLATE "C" identifiers as in 00001.

-- +goose Up
-- expires_at is when the material stops being usable (an access token's
-- expiry), NULL when unknown or never. Not secret: it bounds the Redis TTL
-- and drives refresh without decrypting anything.
ALTER TABLE credentials ADD COLUMN expires_at timestamptz;

-- account tells apart two connections of one provider by one user ('' when
-- unknown, and for every grant made before this migration).
ALTER TABLE grants ADD COLUMN account text COLLATE "C" NOT NULL DEFAULT '';

-- An app's OAuth client for one provider. The client secret is sealed in
-- the credential credential_id (kind oauth_client) so KEK rotation covers
-- it; like grants.credential_id it has no foreign key and the store checks
-- that the credential exists in the same app.
CREATE TABLE provider_settings (
    app_id        text COLLATE "C" NOT NULL REFERENCES apps (id),
    provider_id   text COLLATE "C" NOT NULL CHECK (provider_id ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    client_id     text NOT NULL CHECK (client_id <> ''),
    scopes        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(scopes) = 'array'),
    credential_id text COLLATE "C", -- NULL: no sealed secret
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (app_id, provider_id)
);

-- One authorization-code flow. The state is never stored, only its SHA-256;
-- claiming it (pending → exchanging) is a single conditional UPDATE, so a
-- state is used at most once.
CREATE TABLE connect_sessions (
    id            text COLLATE "C" NOT NULL PRIMARY KEY
                  CHECK (id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    state_hash    bytea NOT NULL UNIQUE CHECK (length(state_hash) = 32),
    app_id        text COLLATE "C" NOT NULL REFERENCES apps (id),
    provider_id   text COLLATE "C" NOT NULL CHECK (provider_id <> ''),
    principal     text COLLATE "C" NOT NULL CHECK (principal <> ''),
    agent         text COLLATE "C" NOT NULL DEFAULT '', -- agent name to delegate the new grant to
    grant_id      text COLLATE "C" NOT NULL DEFAULT '', -- grant to re-consent, then the grant made
    scopes        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(scopes) = 'array'),
    redirect_uri  text NOT NULL CHECK (redirect_uri <> ''),
    status        text NOT NULL CHECK (status IN ('pending', 'exchanging', 'complete', 'failed')),
    error_code    text NOT NULL DEFAULT '',
    error_message text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    completed_at  timestamptz,
    CHECK ((status IN ('complete', 'failed')) = (completed_at IS NOT NULL))
);
CREATE INDEX connect_sessions_expiry ON connect_sessions (expires_at); -- DeleteConnectSessions

-- A user's consent that one agent may use one of the user's grants. Grants
-- are never deleted (only revoked); deleting an agent deletes its
-- delegations first.
CREATE TABLE delegations (
    id         text COLLATE "C" NOT NULL PRIMARY KEY
               CHECK (id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    app_id     text COLLATE "C" NOT NULL REFERENCES apps (id),
    grant_id   text COLLATE "C" NOT NULL REFERENCES grants (id),
    agent_id   text COLLATE "C" NOT NULL REFERENCES agents (id),
    created_at timestamptz NOT NULL,
    UNIQUE (app_id, grant_id, agent_id) -- also serves ListDelegations by grant
);
-- DelegatedGrants: an agent's delegations, then each grant by primary key.
CREATE INDEX delegations_agent ON delegations (app_id, agent_id, grant_id);

-- +goose Down
DROP TABLE delegations;
DROP TABLE connect_sessions;
DROP TABLE provider_settings;
ALTER TABLE grants DROP COLUMN account;
ALTER TABLE credentials DROP COLUMN expires_at;
