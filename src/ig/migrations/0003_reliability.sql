-- Issue 6: cancelled jobs, per-job deadlines, consumer callbacks and idempotency keys.
--
-- A job's status gains 'cancelled'. SQLite cannot alter a CHECK constraint, so jobs is rebuilt:
-- copied aside, dropped, created anew under its own name and refilled. seq is copied, so the
-- job_search rowids stay valid. Foreign keys are deferred: dropping jobs orphans its children
-- for a moment, and refilling the table under the same name adopts them again before commit.
-- (Renaming a new table into place would not: SQLite only clears a deferred violation when a
-- matching parent row is inserted.)
PRAGMA defer_foreign_keys = ON;

CREATE TABLE jobs_before_0003 AS SELECT * FROM jobs;
DROP TABLE jobs;
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('queued', 'submitted', 'succeeded', 'failed', 'cancelled')),
    provider TEXT NOT NULL,
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    params TEXT NOT NULL,
    metadata TEXT NOT NULL,
    request TEXT NOT NULL,
    provider_request TEXT NOT NULL,
    provider_task_id TEXT NOT NULL,
    webhook_token TEXT,
    expected_results INTEGER NOT NULL,
    error TEXT,
    last_error TEXT,
    submit_attempts INTEGER NOT NULL DEFAULT 0,
    poll_seq INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    submitted_at TEXT,
    completed_at TEXT,
    deadline_at TEXT NOT NULL,
    next_check_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    model_alias TEXT,
    preset TEXT,
    preset_version INTEGER,
    timeout_seconds INTEGER,
    cancelled_at TEXT,
    callback_url TEXT,
    callback_events TEXT
);
INSERT INTO jobs (seq, id, status, provider, task, model, params, metadata, request, provider_request,
                  provider_task_id, webhook_token, expected_results, error, last_error, submit_attempts,
                  poll_seq, created_at, submitted_at, completed_at, deadline_at, next_check_at, updated_at,
                  model_alias, preset, preset_version)
SELECT seq, id, status, provider, task, model, params, metadata, request, provider_request,
       provider_task_id, webhook_token, expected_results, error, last_error, submit_attempts,
       poll_seq, created_at, submitted_at, completed_at, deadline_at, next_check_at, updated_at,
       model_alias, preset, preset_version
FROM jobs_before_0003;
DROP TABLE jobs_before_0003;
CREATE INDEX jobs_by_created ON jobs (created_at);
CREATE INDEX jobs_by_model ON jobs (model, seq);
CREATE INDEX jobs_by_task ON jobs (task, seq);
CREATE INDEX jobs_open ON jobs (status, next_check_at) WHERE status IN ('queued', 'submitted');
CREATE INDEX jobs_overdue ON jobs (deadline_at) WHERE status IN ('queued', 'submitted');

-- Results that arrived after their job was cancelled or had failed (timed out): kept, flagged.
ALTER TABLE artifacts ADD COLUMN arrived_after TEXT;

CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,                  -- the route: 'jobs', 'batch', or 'batch-item'
    key TEXT NOT NULL,                    -- the Idempotency-Key header (batch items: key#index)
    request_sha256 TEXT NOT NULL,         -- of the canonical JSON body
    job_id TEXT,                          -- the job the request made
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

CREATE TABLE callbacks (
    id TEXT PRIMARY KEY,                  -- msg_<hex>, the webhook-id; derived from (job, event, artifact)
    job_id TEXT NOT NULL REFERENCES jobs (id),
    event TEXT NOT NULL CHECK (event IN ('job.succeeded', 'job.failed', 'artifact.stored')),
    artifact_id TEXT,
    url TEXT NOT NULL,
    body TEXT,                            -- the JSON payload, fixed at the first attempt
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,  -- every attempt ever, redeliveries included
    schedule_start INTEGER NOT NULL DEFAULT 0,  -- attempts before the current retry schedule began
    created_at TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    delivered_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX callbacks_by_job ON callbacks (job_id, created_at);
CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE status = 'pending';

CREATE TABLE callback_attempts (
    callback_id TEXT NOT NULL REFERENCES callbacks (id),
    attempt INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    attempted_at TEXT NOT NULL,
    status_code INTEGER,                  -- NULL when no answer came (refused, timed out)
    latency_ms INTEGER,
    error TEXT,
    PRIMARY KEY (callback_id, attempt)
) WITHOUT ROWID;
