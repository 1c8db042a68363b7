-- Shipgate's foundation schema (SQLite). Times are milliseconds since the Unix epoch.

CREATE TABLE pipelines (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL UNIQUE,
    repository     TEXT    NOT NULL,
    -- GitHub compares owner/name case-insensitively; pushes are matched on this.
    repository_key TEXT    NOT NULL,
    branch         TEXT    NOT NULL,
    ecr_repository TEXT    NOT NULL,
    source         TEXT    NOT NULL CHECK (source IN ('config', 'api')),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX pipelines_by_repository ON pipelines (repository_key, branch);

CREATE TABLE environments (
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    cluster     TEXT    NOT NULL,
    service     TEXT    NOT NULL,
    container   TEXT    NOT NULL,
    region      TEXT    NOT NULL,
    promotion   TEXT    NOT NULL CHECK (promotion IN ('auto', 'manual')),
    PRIMARY KEY (pipeline_id, position),
    UNIQUE (pipeline_id, name)
);

-- Runs outlive their pipeline's definition: history stays readable after a pipeline is deleted.
CREATE TABLE runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_name    TEXT    NOT NULL,
    delivery_id      TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    -- Bumped on every state change, so concurrent writers cannot both apply an event.
    version          INTEGER NOT NULL DEFAULT 0,
    repository       TEXT    NOT NULL,
    branch           TEXT    NOT NULL,
    commit_sha       TEXT    NOT NULL,
    commit_message   TEXT    NOT NULL,
    commit_author    TEXT    NOT NULL,
    pusher           TEXT    NOT NULL,
    compare_url      TEXT    NOT NULL,
    commit_url       TEXT    NOT NULL,
    commit_timestamp TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (pipeline_name, delivery_id)
);
CREATE INDEX runs_by_status ON runs (status, id);
CREATE INDEX runs_by_pipeline_status ON runs (pipeline_name, status, id);
CREATE INDEX runs_by_delivery ON runs (delivery_id);

CREATE TABLE stage_runs (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('source', 'build', 'deploy')),
    environment TEXT,
    promotion   TEXT,
    status      TEXT    NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    detail      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, position)
);

CREATE TABLE webhook_deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   TEXT    NOT NULL UNIQUE,
    event         TEXT    NOT NULL,
    action        TEXT,
    repository    TEXT,
    git_ref       TEXT,
    outcome       TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    received_at   INTEGER NOT NULL,
    processing_us INTEGER NOT NULL,
    redeliveries  INTEGER NOT NULL DEFAULT 0,
    -- The body exactly as signed, so a delivery can be inspected or replayed later.
    payload       BLOB    NOT NULL
);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    target TEXT    NOT NULL,
    ip     TEXT,
    detail TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_target ON audit_log (target, id);

-- The audit log is append-only: the database itself refuses to rewrite history.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
