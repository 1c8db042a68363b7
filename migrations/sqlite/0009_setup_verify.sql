-- Setup kit and preflight (issue 15).

-- Each pipeline's Verify: the newest request, which engine took it, and the newest
-- finished report (JSON: checks, times, and the facts that fill the setup kit). A request
-- newer than the report (`report_for`) is waiting for an engine; a claim older than Verify's time limit
-- belongs to a process that died, and another engine takes it.
CREATE TABLE pipeline_checks (
    pipeline     TEXT    PRIMARY KEY,
    requested_at INTEGER NOT NULL,
    requested_by TEXT    NOT NULL,
    claimed_by   TEXT,
    claimed_at   INTEGER,
    finished_at  INTEGER,
    -- The request the stored report answers: a newer `requested_at` is still to run.
    report_for   INTEGER,
    problems     INTEGER,
    report       TEXT
);

-- Deliveries refused for a bad signature, by the repository their (unverified) payload
-- names: only a count and times, never the payload, so a stranger's requests cost one row.
-- Verify reports them when they are newer than the repository's last good delivery.
CREATE TABLE webhook_rejections (
    repository TEXT    PRIMARY KEY,
    first_at   INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    refused    INTEGER NOT NULL
);

-- Verify looks up a repository's newest deliveries.
CREATE INDEX webhook_deliveries_by_repository ON webhook_deliveries (repository, received_at);
