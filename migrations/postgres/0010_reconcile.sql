-- Never miss a push (issue 16): head reconcile, delivery recovery, one run per commit.

-- Where a delivery came from: `webhook` (GitHub sent it to Shipgate) or `recovered`
-- (Shipgate found it itself: read from the hook's delivery log, or made by head reconcile
-- for a push whose webhook never came).
ALTER TABLE webhook_deliveries ADD COLUMN source TEXT NOT NULL DEFAULT 'webhook';

-- A run no webhook started: `reconcile` (the branch head had no run) or `hook_delivery`
-- (the delivery failed and was read back from GitHub's delivery log), and when.
ALTER TABLE runs ADD COLUMN recovered_by TEXT;
ALTER TABLE runs ADD COLUMN recovered_at BIGINT;
-- The commits the run ships (JSON: sha, title, author), oldest first: a push's commits,
-- or for a recovered head every commit since the run before it.
ALTER TABLE runs ADD COLUMN commits TEXT NOT NULL DEFAULT '[]';

-- Which push first took each commit of a pipeline. Intake and reconcile both claim here,
-- inside the transaction that makes the run, so two writers (two replicas, a late webhook
-- and reconcile) never both start a run for one push: the second waits on the key, then
-- sees the first's claim. `reconciled` marks a claim made by head reconcile, which the
-- push's own webhook, arriving late, joins instead of starting a second run
-- (`joined_by` then names that delivery, so only the one late push joins). The run is the
-- pipeline's run of `delivery_id` (runs are unique by pipeline and delivery).
CREATE TABLE commit_claims (
    pipeline_name TEXT    NOT NULL,
    commit_sha    TEXT    NOT NULL,
    delivery_id   TEXT    NOT NULL,
    reconciled    BIGINT NOT NULL DEFAULT 0,
    joined_by     TEXT,
    PRIMARY KEY (pipeline_name, commit_sha)
);
-- Every run so far holds its commit's claim (the oldest run, where a commit was pushed twice).
INSERT INTO commit_claims (pipeline_name, commit_sha, delivery_id)
SELECT pipeline_name, commit_sha, MIN(delivery_id) FROM runs GROUP BY pipeline_name, commit_sha;

-- Each pipeline's head reconcile: the branch's last ETag and head, when it is next due,
-- which engine holds it (a lease, like a run's), and whether GitHub could be reached.
CREATE TABLE reconcile_state (
    pipeline       TEXT    PRIMARY KEY,
    etag           TEXT,
    head_sha       TEXT,
    next_at        BIGINT NOT NULL DEFAULT 0,
    claimed_by     TEXT,
    claimed_until  BIGINT NOT NULL DEFAULT 0,
    checked_at     BIGINT,
    last_ok_at     BIGINT,
    error          TEXT,
    error_since    BIGINT,
    recovered_runs BIGINT NOT NULL DEFAULT 0
);

-- The webhook each repository delivers through (from X-GitHub-Hook-ID, or configured as a
-- pipeline's `github_hook_id`), and how far its delivery log has been read.
CREATE TABLE github_hooks (
    repository_key TEXT    PRIMARY KEY,
    hook_id        BIGINT NOT NULL,
    seen_at        BIGINT NOT NULL,
    etag           TEXT,
    scanned_at     BIGINT,
    error          TEXT
);
