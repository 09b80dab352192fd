-- Vault schema for PostgreSQL: apps, agents, caller keys, encrypted
-- credentials, grants. Same tables, columns and rules as the SQLite schema
-- (vault/migrations/sqlite/00001_init.sql), in native types: timestamptz
-- (microseconds, like the SQLite store's text form), bytea, bigint, jsonb.
--
-- Identifiers and names are COLLATE "C" so ORDER BY and range comparisons
-- are bytewise, exactly as in SQLite, whatever the database's locale: a
-- locale collation ignores '-', '.' and '_' and would reorder listings.
-- The CHECKs repeat the store's input validation as a last line of defence.

-- +goose Up
CREATE TABLE apps (
    id           text COLLATE "C" NOT NULL PRIMARY KEY
                 CHECK (id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    name         text COLLATE "C" NOT NULL UNIQUE
                 CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    egress_allow jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(egress_allow) = 'array'),
    created_at   timestamptz NOT NULL
);

CREATE TABLE agents (
    id         text COLLATE "C" NOT NULL PRIMARY KEY
               CHECK (id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    app_id     text COLLATE "C" NOT NULL REFERENCES apps (id),
    name       text COLLATE "C" NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    created_at timestamptz NOT NULL,
    UNIQUE (app_id, name)
);

-- agent_id has no foreign key on purpose: deleting an agent revokes its keys
-- but keeps them, still naming the agent, for the audit trail. The store
-- checks that the agent exists in the same app when a key is created.
CREATE TABLE keys (
    id         text COLLATE "C" NOT NULL PRIMARY KEY -- public key id embedded in the key
               CHECK (length(id) BETWEEN 1 AND 64),
    app_id     text COLLATE "C" NOT NULL REFERENCES apps (id),
    agent_id   text COLLATE "C",                     -- NULL for app keys
    hash       bytea NOT NULL CHECK (length(hash) > 0), -- HMAC-SHA256(pepper, key)
    status     text NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX keys_app ON keys (app_id, agent_id);

CREATE TABLE credentials (
    id          text COLLATE "C" NOT NULL PRIMARY KEY
                CHECK (id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    app_id      text COLLATE "C" NOT NULL REFERENCES apps (id),
    provider_id text COLLATE "C" NOT NULL CHECK (provider_id <> ''),
    kind        text COLLATE "C" NOT NULL CHECK (kind <> ''),
    version     bigint NOT NULL CHECK (version >= 1),
    kek_id      text COLLATE "C" NOT NULL CHECK (kek_id <> ''),
    wrapped_key bytea NOT NULL CHECK (length(wrapped_key) > 0),
    ciphertext  bytea NOT NULL CHECK (length(ciphertext) > 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX credentials_app ON credentials (app_id);
CREATE INDEX credentials_kek ON credentials (kek_id); -- KEK rotation scans

-- credential_id has no foreign key on purpose: deleting a credential revokes
-- its grants (in the same transaction) and keeps them for the audit trail.
-- The store checks that the credential exists in the same app on insert.
CREATE TABLE grants (
    id            text COLLATE "C" NOT NULL PRIMARY KEY
                  CHECK (id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    app_id        text COLLATE "C" NOT NULL REFERENCES apps (id),
    credential_id text COLLATE "C" NOT NULL,
    provider_id   text COLLATE "C" NOT NULL,
    principal     text COLLATE "C" NOT NULL CHECK (principal <> ''),
    status        text NOT NULL CHECK (status IN ('active', 'expired', 'revoked', 'needs_reauth')),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX grants_lookup ON grants (app_id, provider_id, principal, status);
CREATE INDEX grants_credential ON grants (app_id, credential_id);

-- +goose Down
DROP TABLE grants;
DROP TABLE credentials;
DROP TABLE keys;
DROP TABLE agents;
DROP TABLE apps;
