-- Shipgate's foundation schema (PostgreSQL). Times are milliseconds since the Unix epoch,
-- the same representation as the SQLite schema, so one set of queries serves both.

CREATE TABLE pipelines (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           TEXT   NOT NULL UNIQUE,
    repository     TEXT   NOT NULL,
    repository_key TEXT   NOT NULL,
    branch         TEXT   NOT NULL,
    ecr_repository TEXT   NOT NULL,
    source         TEXT   NOT NULL CHECK (source IN ('config', 'api')),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX pipelines_by_repository ON pipelines (repository_key, branch);

CREATE TABLE environments (
    pipeline_id BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    name        TEXT   NOT NULL,
    cluster     TEXT   NOT NULL,
    service     TEXT   NOT NULL,
    container   TEXT   NOT NULL,
    region      TEXT   NOT NULL,
    promotion   TEXT   NOT NULL CHECK (promotion IN ('auto', 'manual')),
    PRIMARY KEY (pipeline_id, position),
    UNIQUE (pipeline_id, name)
);

CREATE TABLE runs (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline_name    TEXT   NOT NULL,
    delivery_id      TEXT   NOT NULL,
    status           TEXT   NOT NULL,
    version          BIGINT NOT NULL DEFAULT 0,
    repository       TEXT   NOT NULL,
    branch           TEXT   NOT NULL,
    commit_sha       TEXT   NOT NULL,
    commit_message   TEXT   NOT NULL,
    commit_author    TEXT   NOT NULL,
    pusher           TEXT   NOT NULL,
    compare_url      TEXT   NOT NULL,
    commit_url       TEXT   NOT NULL,
    commit_timestamp TEXT   NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (pipeline_name, delivery_id)
);
CREATE INDEX runs_by_status ON runs (status, id);
CREATE INDEX runs_by_pipeline_status ON runs (pipeline_name, status, id);
CREATE INDEX runs_by_delivery ON runs (delivery_id);

CREATE TABLE stage_runs (
    run_id      BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    kind        TEXT   NOT NULL CHECK (kind IN ('source', 'build', 'deploy')),
    environment TEXT,
    promotion   TEXT,
    status      TEXT   NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT,
    detail      TEXT   NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, position)
);

CREATE TABLE webhook_deliveries (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id   TEXT   NOT NULL UNIQUE,
    event         TEXT   NOT NULL,
    action        TEXT,
    repository    TEXT,
    git_ref       TEXT,
    outcome       TEXT   NOT NULL,
    reason        TEXT   NOT NULL,
    received_at   BIGINT NOT NULL,
    processing_us BIGINT NOT NULL,
    redeliveries  BIGINT NOT NULL DEFAULT 0,
    payload       BYTEA  NOT NULL
);

CREATE TABLE audit_log (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT   NOT NULL,
    action TEXT   NOT NULL,
    target TEXT   NOT NULL,
    ip     TEXT,
    detail TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_target ON audit_log (target, id);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
