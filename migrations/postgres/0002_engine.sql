-- The deploy engine's state (PostgreSQL). Everything the engine needs to resume after a crash
-- lives here: which step each stage reached, and what AWS said, before and after each call.

-- Optional settings (timeouts, scan gate, deployment configuration), as JSON.
ALTER TABLE pipelines ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE environments ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- When the engine should next look at a run, and which process holds it. A lease that is
-- not renewed expires, so a replica that dies hands its runs to the others.
ALTER TABLE runs ADD COLUMN wake_at BIGINT  NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_until BIGINT  NOT NULL DEFAULT 0;
CREATE INDEX runs_due ON runs (status, wake_at);

CREATE TABLE builds (
    run_id           BIGINT  PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    image_tag        TEXT    NOT NULL,
    deadline_at      BIGINT  NOT NULL,
    checks           BIGINT  NOT NULL DEFAULT 0,
    ci_name          TEXT,
    ci_status        TEXT,
    ci_conclusion    TEXT,
    ci_url           TEXT,
    image_uri        TEXT,
    image_digest     TEXT,
    image_size       BIGINT,
    image_pushed_at  BIGINT,
    scan_deadline_at BIGINT,
    scan_status      TEXT,
    -- {"critical": 0, "high": 2, ...}
    scan_counts      TEXT,
    last_error       TEXT
);

CREATE TABLE deploys (
    run_id                   BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    -- The environment's position in the pipeline, from 0.
    position                 BIGINT  NOT NULL,
    environment              TEXT    NOT NULL,
    region                   TEXT    NOT NULL,
    cluster                  TEXT    NOT NULL,
    service                  TEXT    NOT NULL,
    container                TEXT    NOT NULL,
    -- The environment's deploy settings when the deploy was queued, as JSON.
    settings                 TEXT    NOT NULL,
    -- repository URI @ digest: exactly what the build produced.
    image                    TEXT    NOT NULL,
    -- queued → registering → updating → following → done. A step is written *before* the
    -- AWS call it stands for, so a restart knows to look for that call's effect first.
    step                     TEXT    NOT NULL,
    previous_task_definition TEXT,
    task_definition          TEXT,
    deployment_id            TEXT,
    deadline_at              BIGINT,
    desired_count            BIGINT,
    running_count            BIGINT,
    pending_count            BIGINT,
    failed_tasks             BIGINT,
    service_arn              TEXT,
    events                   TEXT    NOT NULL DEFAULT '[]',
    outcome                  TEXT,
    error                    TEXT,
    queued_at                BIGINT  NOT NULL,
    started_at               BIGINT,
    finished_at              BIGINT,
    PRIMARY KEY (run_id, position)
);
CREATE INDEX deploys_by_service ON deploys (region, cluster, service, run_id);

-- One deploy per ECS service at a time. The primary key makes taking it atomic, on every
-- replica; the row goes when the deploy ends.
CREATE TABLE service_locks (
    region   TEXT    NOT NULL,
    cluster  TEXT    NOT NULL,
    service  TEXT    NOT NULL,
    run_id   BIGINT  NOT NULL,
    position BIGINT  NOT NULL,
    taken_at BIGINT  NOT NULL,
    PRIMARY KEY (region, cluster, service)
);

-- CI results from workflow_run / check_suite deliveries, stored by intake and applied to
-- matching runs by the engine.
CREATE TABLE ci_reports (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id    TEXT    NOT NULL UNIQUE,
    repository_key TEXT    NOT NULL,
    head_sha       TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    conclusion     TEXT,
    url            TEXT    NOT NULL,
    received_at    BIGINT  NOT NULL,
    applied_at     BIGINT
);
CREATE INDEX ci_reports_unapplied ON ci_reports (applied_at, id);
CREATE INDEX ci_reports_by_commit ON ci_reports (repository_key, head_sha);

CREATE TABLE gate_decisions (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    environment  TEXT    NOT NULL,
    decision     TEXT    NOT NULL CHECK (decision IN ('approved', 'rejected')),
    actor        TEXT    NOT NULL,
    comment      TEXT    NOT NULL DEFAULT '',
    image_digest TEXT,
    at           BIGINT  NOT NULL
);
CREATE INDEX gate_decisions_by_run ON gate_decisions (run_id, id);
