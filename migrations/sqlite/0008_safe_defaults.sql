-- Safe by default (issue 12).

-- The bootstrap admin password of a Shipgate that listens beyond loopback with no identity
-- provider: made at its first start and shown once in the log. Only its SHA-256 is kept
-- (it is 120 random bits, so a slow hash would add nothing). One row at most.
CREATE TABLE bootstrap_admin (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    password_sha256 TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
);

-- The API token an audited action came through. The actor is the person (a personal
-- token's owner) or the service token itself; the token is named beside it. Token names
-- never change, so the name is kept as it was.
ALTER TABLE audit_log ADD COLUMN via_token INTEGER;
ALTER TABLE audit_log ADD COLUMN via_token_name TEXT;
