-- Migration 0001: the initial schema (schema.sql is the readable canonical copy).

-- One inference request. The job is plumbing; the artifacts below are what lasts.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,                  -- UUIDv4, also the provider's taskUUID
    status TEXT NOT NULL CHECK (status IN ('queued', 'submitted', 'succeeded', 'failed')),
    provider TEXT NOT NULL,
    task TEXT NOT NULL,                   -- Runware taskType
    model TEXT NOT NULL,
    params TEXT NOT NULL,                 -- JSON, the consumer's parameters
    metadata TEXT NOT NULL,               -- JSON, opaque to ig
    request TEXT NOT NULL,                -- JSON, the request body as received
    provider_request TEXT NOT NULL,       -- JSON, the exact task sent (webhook token redacted)
    provider_task_id TEXT NOT NULL,
    webhook_token TEXT,                   -- the per-job secret in the webhook URL; NULL when polling
    expected_results INTEGER NOT NULL,
    error TEXT,                           -- JSON {code, message, ...} once failed
    last_error TEXT,                      -- JSON, the latest transient error while retrying
    submit_attempts INTEGER NOT NULL DEFAULT 0,
    poll_seq INTEGER NOT NULL DEFAULT 0,  -- guards the poll chain against duplicated messages
    created_at TEXT NOT NULL,
    submitted_at TEXT,
    completed_at TEXT,
    deadline_at TEXT NOT NULL,
    next_check_at TEXT NOT NULL,          -- when the sweeper should next look at an open job
    updated_at TEXT NOT NULL
);
CREATE INDEX jobs_by_created ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_open ON jobs (status, next_check_at) WHERE status IN ('queued', 'submitted');
CREATE INDEX jobs_overdue ON jobs (deadline_at) WHERE status IN ('queued', 'submitted');

CREATE TABLE job_tags (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    tag TEXT NOT NULL,
    PRIMARY KEY (job_id, tag)
) WITHOUT ROWID;
CREATE INDEX job_tags_by_tag ON job_tags (tag, job_id);

-- Every body the provider sent about a job: submit answers, webhooks, getResponse polls.
-- Identical bodies are stored once and counted.
CREATE TABLE provider_events (
    id TEXT PRIMARY KEY,                  -- derived from (job, source, body digest)
    job_id TEXT NOT NULL REFERENCES jobs (id),
    source TEXT NOT NULL CHECK (source IN ('submit', 'webhook', 'poll')),
    http_status INTEGER,
    body TEXT,                            -- the raw body when it is small
    body_blob_key TEXT,                   -- otherwise, where the blob store keeps it
    body_sha256 TEXT NOT NULL,
    body_size INTEGER NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 1,
    received_at TEXT NOT NULL,
    last_received_at TEXT NOT NULL,
    processed_at TEXT
);
CREATE INDEX provider_events_by_job ON provider_events (job_id, received_at);

-- One finished result of a task (a task with numberResults = 4 has four).
CREATE TABLE results (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    result_key TEXT NOT NULL,             -- resultIndex / imageUUID / ... that tells results apart
    raw TEXT NOT NULL,                    -- JSON, the provider's result item (large inline data elided)
    seed TEXT,                            -- text: Runware seeds exceed JavaScript's safe integers
    cost REAL,                            -- USD, as the provider reported it
    nsfw INTEGER,
    event_id TEXT NOT NULL REFERENCES provider_events (id),
    received_at TEXT NOT NULL,
    stored_at TEXT,                       -- set once every output of the result is in the blob store
    PRIMARY KEY (job_id, result_key)
) WITHOUT ROWID;

-- The library: one stored output.
CREATE TABLE artifacts (
    id TEXT PRIMARY KEY,                  -- derived from (job, result, output) so redelivery is a no-op
    job_id TEXT NOT NULL REFERENCES jobs (id),
    result_key TEXT NOT NULL,
    output_name TEXT NOT NULL,            -- the result field it came from: imageURL, text, ...
    kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'audio', 'text', 'file')),
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    source_url TEXT,                      -- where the provider served it, if it was a URL
    created_at TEXT NOT NULL,
    UNIQUE (job_id, result_key, output_name)
);
CREATE INDEX artifacts_by_created ON artifacts (created_at DESC, id DESC);
CREATE INDEX artifacts_by_job ON artifacts (job_id);

CREATE TABLE artifact_tags (
    artifact_id TEXT NOT NULL REFERENCES artifacts (id),
    tag TEXT NOT NULL,
    PRIMARY KEY (tag, artifact_id)
) WITHOUT ROWID;
CREATE INDEX artifact_tags_by_artifact ON artifact_tags (artifact_id);
