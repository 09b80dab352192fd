-- Identity and policy (issue 5) for PostgreSQL: the same tables, columns
-- and rules as vault/migrations/sqlite/00004_identity_policy.sql, in native
-- types and with COLLATE "C" identifiers as in 00001.

-- +goose Up
-- One identity provider per app. leeway_ns is a time.Duration in
-- nanoseconds (0: identity's default).
CREATE TABLE identity_providers (
    app_id      text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES apps (id),
    issuer      text NOT NULL CHECK (issuer <> ''),
    jwks_url    text NOT NULL DEFAULT '', -- '': OpenID discovery from the issuer
    audience    text NOT NULL CHECK (audience <> ''),
    user_claim  text NOT NULL DEFAULT '',
    group_claim text NOT NULL DEFAULT '',
    algorithms  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(algorithms) = 'array'),
    leeway_ns   bigint NOT NULL DEFAULT 0 CHECK (leeway_ns >= 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- One policy document (YAML) per app; version counts its writes.
CREATE TABLE app_policies (
    app_id     text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES apps (id),
    document   text NOT NULL CHECK (document <> ''),
    version    bigint NOT NULL CHECK (version >= 1),
    updated_at timestamptz NOT NULL
);

-- An agent's access set: each entry names one grant of the app, or one
-- provider (the app's system grants for it). Exactly one of provider_id and
-- grant_id is set; the other is '' (not NULL, so the UNIQUE constraint also
-- refuses duplicates). grant_id has no foreign key, like grants.credential_id:
-- the store checks that the grant exists in the same app. Deleting an agent
-- deletes its entries first.
CREATE TABLE agent_access (
    id          text COLLATE "C" NOT NULL PRIMARY KEY
                CHECK (id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    app_id      text COLLATE "C" NOT NULL REFERENCES apps (id),
    agent_id    text COLLATE "C" NOT NULL REFERENCES agents (id),
    provider_id text COLLATE "C" NOT NULL DEFAULT '',
    grant_id    text COLLATE "C" NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    CHECK ((provider_id = '') <> (grant_id = '')),
    UNIQUE (app_id, agent_id, provider_id, grant_id) -- also serves lookups by agent
);

-- Users the app's identity provider vouched for.
CREATE TABLE users (
    app_id     text COLLATE "C" NOT NULL REFERENCES apps (id),
    id         text COLLATE "C" NOT NULL CHECK (id <> ''),
    groups     jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(groups) = 'array'),
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (app_id, id)
);

-- Keys: status 'deprecated' (replaced by a rotation, valid until
-- expires_at).
ALTER TABLE keys ADD COLUMN expires_at timestamptz; -- deprecated keys: end of the grace period
ALTER TABLE keys DROP CONSTRAINT keys_status_check;
ALTER TABLE keys ADD CONSTRAINT keys_status_check CHECK (status IN ('active', 'deprecated', 'revoked'));
ALTER TABLE keys ADD CONSTRAINT keys_deprecated_expiry CHECK (status <> 'deprecated' OR expires_at IS NOT NULL);

-- +goose Down
-- A deprecated key cannot be represented before this migration; it is
-- revoked (the safe side) rather than made active again.
UPDATE keys SET status = 'revoked', revoked_at = coalesce(revoked_at, expires_at) WHERE status = 'deprecated';
ALTER TABLE keys DROP CONSTRAINT keys_deprecated_expiry;
ALTER TABLE keys DROP CONSTRAINT keys_status_check;
ALTER TABLE keys ADD CONSTRAINT keys_status_check CHECK (status IN ('active', 'revoked'));
ALTER TABLE keys DROP COLUMN expires_at;
DROP TABLE users;
DROP TABLE agent_access;
DROP TABLE app_policies;
DROP TABLE identity_providers;
