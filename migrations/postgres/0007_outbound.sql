-- What Shipgate tells the world about runs (chat, webhooks, GitHub deployment statuses),
-- rollback runs, and what a release manager sees at a gate.

-- `push` (from a webhook), `retry` (a person retried a run) or `rollback` (a redeploy
-- of an earlier revision, by a person or automatically after a failed deploy).
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'push';

-- Live pages ask "did any run change?" once a second; this answers it without a scan.
CREATE INDEX runs_by_updated ON runs (updated_at);

-- Everything the state machine changed that someone may want to hear about, written in the
-- same transaction as the change: so nothing is told that did not happen, and nothing that
-- happened goes untold after a crash.
CREATE TABLE run_events (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    happening     TEXT    NOT NULL,
    -- The environment's position in the run, and its name, for deploy happenings.
    position      BIGINT,
    environment   TEXT,
    detail        TEXT    NOT NULL DEFAULT '',
    at            BIGINT NOT NULL,
    -- When the event was turned into outbox messages (for the pipeline's notifiers and GitHub).
    dispatched_at BIGINT
);
CREATE INDEX run_events_undispatched ON run_events (dispatched_at, id);
CREATE INDEX run_events_by_run ON run_events (run_id, id);

-- Messages to send, each retried with backoff until it is delivered or given up on. They
-- are sent by a loop of their own, so a failing receiver never holds up a deploy.
CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        BIGINT NOT NULL REFERENCES run_events (id) ON DELETE CASCADE,
    run_id          BIGINT NOT NULL,
    -- `notifier:<name>` or `github`. Messages of one run on one channel go out in order.
    channel         TEXT    NOT NULL,
    -- What to send, as JSON.
    body            TEXT    NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    delivered_at    BIGINT,
    gave_up_at      BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX outbox_pending ON outbox (delivered_at, gave_up_at, next_attempt_at);
CREATE INDEX outbox_by_run ON outbox (run_id, channel, id);

-- The GitHub deployment made for each run and environment, so later statuses go to it.
CREATE TABLE github_deployments (
    run_id        BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    environment   TEXT    NOT NULL,
    deployment_id BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (run_id, environment)
);

-- What a release manager decides on, gathered by the engine when a gate opens: the commits
-- since the version live in that environment, the scan summary, and how the task
-- definition would change. Kept, so the page is fast and shows what was true at the time.
CREATE TABLE gate_briefs (
    run_id      BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    brief       TEXT    NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    gathered_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, position)
);

-- Keys the server signs with, made at first use and shared by every replica: decision
-- links in notifications are signed with the `gate-links` key.
CREATE TABLE signing_keys (
    name       TEXT    PRIMARY KEY,
    secret     TEXT    NOT NULL,
    created_at BIGINT NOT NULL
);

-- The nonces of decision links that were used: a link decides once.
CREATE TABLE gate_links_used (
    nonce   TEXT    PRIMARY KEY,
    run_id  BIGINT NOT NULL,
    actor   TEXT    NOT NULL,
    used_at BIGINT NOT NULL
);
