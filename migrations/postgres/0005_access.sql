-- Sign-in and access control: sessions, the people who signed in, API tokens, and indexes
-- for the audit page's filters.

-- tower-sessions records. `data` is the session's JSON; a row past `expires_at` is dead
-- (it is never loaded, and new sign-ins sweep such rows away).
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Everyone who signed in, with the grants their last sign-in gave them, so a change of
-- role is noticed (and audited) at the next sign-in.
CREATE TABLE users (
    -- `<issuer> <sub>`: the only pair an OpenID provider promises is stable and unique.
    subject TEXT PRIMARY KEY,
    email TEXT,
    name TEXT NOT NULL,
    -- JSON array of grants.
    grants TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);

-- API tokens for automation. Only the SHA-256 of the token is kept; the token itself is
-- shown once, when it is created.
CREATE TABLE api_tokens (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    -- `personal` (acts for `owner`) or `service` (acts for itself).
    kind TEXT NOT NULL,
    owner TEXT,
    -- JSON grant: role and optional scope.
    grant_json TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    -- The first characters of the token, so people can tell their tokens apart.
    prefix TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    revoked_by TEXT,
    last_used_at BIGINT
);

CREATE INDEX audit_log_by_action ON audit_log (action, id);
CREATE INDEX audit_log_by_actor ON audit_log (actor, id);
