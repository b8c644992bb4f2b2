-- People, their memberships and logins; API tokens; invitations; the audit log.
-- Secrets (passwords, refresh tokens, API tokens, invitation links) are stored
-- only as hashes.
CREATE TABLE users (
    id            text PRIMARY KEY,
    email         text NOT NULL UNIQUE,   -- lower-cased
    name          text NOT NULL,
    password_hash text NOT NULL,          -- argon2id, PHC string
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    user_id    text NOT NULL REFERENCES users (id),
    org        text NOT NULL,
    role       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, org)
);
CREATE INDEX memberships_org ON memberships (org);

-- A login: the refresh token (rotated on each use) and when it ends.
CREATE TABLE sessions (
    id           text PRIMARY KEY,
    user_id      text NOT NULL REFERENCES users (id),
    refresh_hash text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    ip           text
);

CREATE TABLE api_tokens (
    id         text PRIMARY KEY,
    org        text NOT NULL,
    name       text NOT NULL,
    role       text NOT NULL,
    hash       text NOT NULL,
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_tokens_org ON api_tokens (org);

CREATE TABLE invitations (
    id          text PRIMARY KEY,
    org         text NOT NULL,
    role        text NOT NULL,
    email       text,                 -- only this address may accept, if set
    hash        text NOT NULL UNIQUE,
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by text,
    revoked_at  timestamptz
);

-- Every change by a member or token: who, what, when, from where. Rows for
-- changes to an organization's services, incidents and maintenances are
-- written in the same statement as the change's events.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    org        text NOT NULL,
    at         timestamptz NOT NULL,
    actor_kind text NOT NULL,
    actor_id   text NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    target     text,
    ip         text,
    details    json
);
CREATE INDEX audit_log_org ON audit_log (org, id DESC);
