-- ig's canonical schema (D1 and sqlite3 alike). src/ig/migrations/ must produce exactly this;
-- tests/test_schema.py checks that. Timestamps are ISO 8601 UTC text with milliseconds and a
-- trailing Z, so they sort as text. JSON columns hold JSON text.

-- One inference request. The job is plumbing; the artifacts below are what lasts.
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order: keyset pagination never skips or repeats
    id TEXT NOT NULL UNIQUE,              -- UUIDv4, ig's own; Runware's taskUUID too
    status TEXT NOT NULL CHECK (status IN ('queued', 'submitted', 'succeeded', 'failed', 'cancelled')),
    provider TEXT NOT NULL,
    task TEXT NOT NULL,                   -- ig's task (Runware's taskType; fal endpoints map to one)
    model TEXT NOT NULL,                  -- the provider's model: a Runware AIR, a fal endpoint id
    params TEXT NOT NULL,                 -- JSON, the parameters sent, under the provider's own names
    metadata TEXT NOT NULL,               -- JSON, opaque to ig
    request TEXT NOT NULL,                -- JSON, the request body as received ('' when request_blob_key is set)
    provider_request TEXT NOT NULL,       -- JSON, the exact task sent (webhook token redacted)
    provider_task_id TEXT NOT NULL,       -- the provider's id of the request; '' until it has one
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
    updated_at TEXT NOT NULL,
    model_alias TEXT,                     -- the catalogue name the consumer used, if any
    preset TEXT,                          -- the preset the job was made from, if any
    preset_version INTEGER,
    timeout_seconds INTEGER,              -- the job's deadline, from created_at
    cancelled_at TEXT,
    callback_url TEXT,                    -- where ig POSTs the job's events, if anywhere
    callback_events TEXT,                 -- JSON list of the events wanted
    request_blob_key TEXT,                -- where the blob store keeps a request body over 64 KiB
    provider_handle TEXT,                 -- JSON, how to follow the request (fal: its status/result/cancel URLs)
    submit_unknown_at TEXT,               -- a submit's outcome is unknown and resending could bill twice: reconcile
    candidates TEXT,                      -- JSON, the providers the job may still fail over to, resolved
    attempts TEXT,                        -- JSON, every provider the job was sent to: time, outcome, error
    failover_after_accept INTEGER NOT NULL DEFAULT 0, -- the consumer accepts paying twice rather than waiting
    slot_at TEXT,                         -- when it took one of its provider's concurrency slots (IG_PROVIDER_LIMITS)
    sending_at TEXT                       -- while one invocation sends its request: no other may
);
CREATE INDEX jobs_by_created ON jobs (created_at);
CREATE INDEX jobs_by_model ON jobs (model, seq);
CREATE INDEX jobs_by_task ON jobs (task, seq);
CREATE INDEX jobs_open ON jobs (status, next_check_at) WHERE status IN ('queued', 'submitted');
CREATE INDEX jobs_overdue ON jobs (deadline_at) WHERE status IN ('queued', 'submitted');
CREATE INDEX jobs_by_provider_task ON jobs (provider, provider_task_id);
CREATE INDEX jobs_failed_by_provider ON jobs (provider, completed_at) WHERE status = 'failed';
CREATE INDEX jobs_holding_slots ON jobs (provider, status) WHERE slot_at IS NOT NULL;
CREATE INDEX jobs_waiting_for_slots ON jobs (provider, seq) WHERE status = 'queued' AND slot_at IS NULL;
CREATE INDEX jobs_by_status ON jobs (status || '', seq);  -- the library's status filter only

CREATE TABLE job_tags (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    tag TEXT NOT NULL,
    PRIMARY KEY (job_id, tag)
) WITHOUT ROWID;
CREATE INDEX job_tags_by_tag ON job_tags (tag, job_id);
CREATE TRIGGER job_tags_at_most_50 BEFORE INSERT ON job_tags
WHEN (SELECT count(*) FROM job_tags WHERE job_id = NEW.job_id) >= 50
 AND NOT EXISTS (SELECT 1 FROM job_tags WHERE job_id = NEW.job_id AND tag = NEW.tag)
BEGIN
    SELECT RAISE(ABORT, 'ig: at most 50 tags');
END;

-- Job tag posting lists, ordered by the job's seq as artifact_tags is by the artifact's, so "newest
-- jobs with tag X" is an index range scan; kept from job_tags (keyed by the job's id) by triggers.
CREATE TABLE job_tag_postings (
    tag TEXT NOT NULL,
    job_seq INTEGER NOT NULL REFERENCES jobs (seq),
    PRIMARY KEY (tag, job_seq)
) WITHOUT ROWID;
-- Job count per tag: picks the rarest AND tag to drive a job query.
CREATE TABLE job_tag_counts (
    tag TEXT PRIMARY KEY,
    jobs INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER job_tag_postings_up AFTER INSERT ON job_tags BEGIN
    INSERT INTO job_tag_postings (tag, job_seq) SELECT NEW.tag, seq FROM jobs WHERE id = NEW.job_id;
    INSERT INTO job_tag_counts (tag, jobs) VALUES (NEW.tag, 1)
    ON CONFLICT (tag) DO UPDATE SET jobs = jobs + 1;
END;
CREATE TRIGGER job_tag_postings_down AFTER DELETE ON job_tags BEGIN
    DELETE FROM job_tag_postings WHERE tag = OLD.tag AND job_seq = (SELECT seq FROM jobs WHERE id = OLD.job_id);
    UPDATE job_tag_counts SET jobs = jobs - 1 WHERE tag = OLD.tag;
END;

-- Where a time range starts and ends in seq order, one row per second that saw a job (or, below,
-- an artifact) created: first_seq is the lowest seq of any row created in that second or later,
-- last_seq the highest of any created in it or before. created_at and seq agree but for racing
-- writers, so the bounds are exact yet close: a created_after/created_before page walks the seqs
-- between them, never the rows outside the range. Kept by triggers, for rows inserted with the
-- next seq (AUTOINCREMENT); a row created in an earlier second than the latest raises later last_seqs.
CREATE TABLE job_seconds (
    second TEXT PRIMARY KEY,              -- substr(created_at, 1, 19): 2026-11-21T10:00:00
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER job_seconds_up AFTER INSERT ON jobs BEGIN
    INSERT INTO job_seconds (second, first_seq, last_seq)
    VALUES (substr(NEW.created_at, 1, 19),
            min(NEW.seq, coalesce((SELECT first_seq FROM job_seconds WHERE second > substr(NEW.created_at, 1, 19)
                                   ORDER BY second LIMIT 1), NEW.seq)),
            NEW.seq)
    ON CONFLICT (second) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);
    UPDATE job_seconds SET last_seq = NEW.seq WHERE second > substr(NEW.created_at, 1, 19) AND last_seq < NEW.seq;
END;

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
    cost REAL,                            -- the amount, in cost_currency
    nsfw INTEGER,
    event_id TEXT NOT NULL REFERENCES provider_events (id),
    received_at TEXT NOT NULL,
    stored_at TEXT,                       -- set once every output of the result is in the blob store
    cost_currency TEXT,                   -- ISO 4217, e.g. USD
    cost_source TEXT CHECK (cost_source IN ('reported', 'billed', 'estimated')),
    PRIMARY KEY (job_id, result_key)
) WITHOUT ROWID;

-- The library: one stored output, or one uploaded input. Deleting an artifact removes its blob
-- and keeps the row as a tombstone (deleted_at) with its provenance.
CREATE TABLE artifacts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- newest first = highest seq; the keyset of every listing
    id TEXT NOT NULL UNIQUE,              -- derived from (job, result, output) so redelivery is a no-op
    role TEXT NOT NULL CHECK (role IN ('output', 'input')),
    job_id TEXT REFERENCES jobs (id),     -- NULL for uploads
    result_key TEXT,
    output_name TEXT,                     -- the result field it came from: imageURL, text, ...
    provider TEXT,                        -- provider, task and model are the job's, copied so that
    task TEXT,                            -- library filters on them use an index
    model TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'audio', 'text', 'file')),
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    source_url TEXT,                      -- where the provider served it, if it was a URL
    filename TEXT,                        -- an upload's own file name, if it had one
    created_at TEXT NOT NULL,
    deleted_at TEXT,
    width INTEGER,                        -- from the image/video headers, when they say
    height INTEGER,
    duration_seconds REAL,                -- from the audio/video headers, when they say
    nsfw INTEGER,                         -- the result's NSFWContent; NULL when not checked
    arrived_after TEXT,                   -- 'cancelled' or 'failed': the job had ended when it came
    -- Its WebP thumbnail (raster images: PNG, JPEG, WebP, GIF; videos: their poster), made by ig.library.thumbnails
    thumbnail_state TEXT CHECK (thumbnail_state IN ('pending', 'made', 'failed')),  -- NULL: none to make
    thumbnail_key TEXT,                   -- the blob, beside the original's
    thumbnail_size INTEGER,
    thumbnail_sha256 TEXT,
    thumbnail_width INTEGER,
    thumbnail_height INTEGER,
    thumbnail_attempts INTEGER NOT NULL DEFAULT 0,
    thumbnail_error TEXT,                 -- the last try's, while pending or failed for good
    thumbnail_due_at TEXT DEFAULT '',     -- the sweeper's next try; NULL: nothing to try; '': not yet planned
    poster_url TEXT,                      -- a video's poster image as its provider served it, if it made one
    UNIQUE (job_id, result_key, output_name)
);
CREATE INDEX artifacts_by_job ON artifacts (job_id, seq);
CREATE INDEX artifacts_by_kind ON artifacts (kind, seq);
CREATE INDEX artifacts_by_model ON artifacts (model, seq);
CREATE INDEX artifacts_by_task ON artifacts (task, seq);
CREATE INDEX artifacts_by_created ON artifacts (created_at);
CREATE INDEX artifacts_by_nsfw ON artifacts (nsfw, seq);
CREATE UNIQUE INDEX uploads_by_sha256 ON artifacts (sha256) WHERE role = 'input' AND deleted_at IS NULL;
CREATE INDEX artifacts_thumbnail_due ON artifacts (thumbnail_due_at)
WHERE thumbnail_due_at IS NOT NULL AND deleted_at IS NULL
  AND content_type IN ('image/png', 'image/jpeg', 'image/webp', 'image/gif', 'video/mp4', 'video/webm', 'video/quicktime');
CREATE TABLE artifact_seconds (
    second TEXT PRIMARY KEY,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER artifact_seconds_up AFTER INSERT ON artifacts BEGIN
    INSERT INTO artifact_seconds (second, first_seq, last_seq)
    VALUES (substr(NEW.created_at, 1, 19),
            min(NEW.seq, coalesce((SELECT first_seq FROM artifact_seconds WHERE second > substr(NEW.created_at, 1, 19)
                                   ORDER BY second LIMIT 1), NEW.seq)),
            NEW.seq)
    ON CONFLICT (second) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);
    UPDATE artifact_seconds SET last_seq = NEW.seq WHERE second > substr(NEW.created_at, 1, 19) AND last_seq < NEW.seq;
END;

-- The kinds of each job's live artifacts, as posting lists by job seq: `GET /v1/jobs?kind=video`
-- walks the jobs that have one instead of looking at the artifacts of every job.
CREATE TABLE job_kinds (
    kind TEXT NOT NULL,
    job_seq INTEGER NOT NULL REFERENCES jobs (seq),
    artifacts INTEGER NOT NULL,           -- the job's live artifacts of this kind; the row goes at 0
    PRIMARY KEY (kind, job_seq)
) WITHOUT ROWID;
CREATE TRIGGER job_kinds_up AFTER INSERT ON artifacts WHEN NEW.job_id IS NOT NULL AND NEW.deleted_at IS NULL BEGIN
    INSERT INTO job_kinds (kind, job_seq, artifacts) SELECT NEW.kind, seq, 1 FROM jobs WHERE id = NEW.job_id
    ON CONFLICT (kind, job_seq) DO UPDATE SET artifacts = artifacts + 1;
END;
CREATE TRIGGER job_kinds_down AFTER UPDATE OF deleted_at ON artifacts
WHEN NEW.job_id IS NOT NULL AND OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL BEGIN
    UPDATE job_kinds SET artifacts = artifacts - 1
    WHERE kind = OLD.kind AND job_seq = (SELECT seq FROM jobs WHERE id = OLD.job_id);
    DELETE FROM job_kinds
    WHERE kind = OLD.kind AND job_seq = (SELECT seq FROM jobs WHERE id = OLD.job_id) AND artifacts <= 0;
END;

-- Tag posting lists, ordered by artifact seq so "newest with tag X" is an index range scan.
CREATE TABLE artifact_tags (
    tag TEXT NOT NULL,
    artifact_seq INTEGER NOT NULL REFERENCES artifacts (seq),
    PRIMARY KEY (tag, artifact_seq)
) WITHOUT ROWID;
CREATE INDEX artifact_tags_by_artifact ON artifact_tags (artifact_seq, tag);

-- Live artifact count per tag, kept by triggers: GET /v1/tags and picking the rarest tag to
-- drive an AND query never count posting lists.
CREATE TABLE tag_counts (
    tag TEXT PRIMARY KEY,
    artifacts INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER tag_counts_up AFTER INSERT ON artifact_tags BEGIN
    INSERT INTO tag_counts (tag, artifacts) VALUES (NEW.tag, 1)
    ON CONFLICT (tag) DO UPDATE SET artifacts = artifacts + 1;
END;
CREATE TRIGGER tag_counts_down AFTER DELETE ON artifact_tags BEGIN
    UPDATE tag_counts SET artifacts = artifacts - 1 WHERE tag = OLD.tag;
END;
-- At most 50 tags per artifact and per job, enforced by the write itself (concurrent edits cannot
-- pass it together): a write that would add a 51st aborts its batch.
CREATE TRIGGER artifact_tags_at_most_50 BEFORE INSERT ON artifact_tags
WHEN (SELECT count(*) FROM artifact_tags WHERE artifact_seq = NEW.artifact_seq) >= 50
 AND NOT EXISTS (SELECT 1 FROM artifact_tags WHERE artifact_seq = NEW.artifact_seq AND tag = NEW.tag)
BEGIN
    SELECT RAISE(ABORT, 'ig: at most 50 tags');
END;
-- A deleted artifact holds no tags, and no write can give it one again (a tag edit or a redelivered
-- result racing the delete is skipped): posting lists and tag_counts hold live artifacts only.
CREATE TRIGGER artifact_tags_live_only BEFORE INSERT ON artifact_tags
WHEN (SELECT deleted_at FROM artifacts WHERE seq = NEW.artifact_seq) IS NOT NULL
BEGIN
    SELECT RAISE(IGNORE);
END;

-- Lineage: a job consumed an artifact (an "artifact:<id>" parameter). Parents of an artifact
-- are what its job consumed; its children are the artifacts of jobs that consumed it.
CREATE TABLE job_inputs (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    artifact_id TEXT NOT NULL REFERENCES artifacts (id),
    param_path TEXT NOT NULL,             -- where it was used, e.g. params.seedImage
    PRIMARY KEY (job_id, artifact_id, param_path)
) WITHOUT ROWID;
CREATE INDEX job_inputs_by_artifact ON job_inputs (artifact_id, job_id);

-- Full-text search (FTS5) over prompts and text outputs; rowid is the artifact's or job's seq.
CREATE VIRTUAL TABLE artifact_search USING fts5 (body, tokenize = 'unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE job_search USING fts5 (body, tokenize = 'unicode61 remove_diacritics 2');

-- Presets: server-side job templates. ``presets`` holds each live preset's current version;
-- DELETE removes that row and keeps every version, so a job's (preset, version) stays resolvable.
CREATE TABLE presets (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE preset_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,                   -- JSON {task, model, params, tags, metadata, provider, description}
    created_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
) WITHOUT ROWID;

-- Idempotency-Key: a repeated submit with the same key and body answers with the job it made;
-- kept at least 24 hours, then swept.
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

-- Consumer callbacks (Standard Webhooks): one row per event, every attempt logged below.
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

-- Every submit a rate-limited provider was sent, for the sliding window of its rate: a submit may
-- go only while fewer than N went in the last window (one guarded INSERT); older rows are pruned.
CREATE TABLE provider_sends (
    provider TEXT NOT NULL,
    at REAL NOT NULL,                     -- unix seconds
    job_id TEXT NOT NULL
);
CREATE INDEX provider_sends_by_time ON provider_sends (provider, at);

-- A circuit per provider: opened by repeated transient failures within a window, closed again by
-- a successful probe. While open, failover skips the provider and its single-provider jobs wait.
CREATE TABLE provider_circuits (
    provider TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,            -- transient failures since window_start
    window_start TEXT NOT NULL,
    opened_at TEXT,                       -- set while open
    probe_at TEXT,                        -- the one submit let through to test an open circuit
    last_error TEXT                       -- JSON, the failure that counted last
) WITHOUT ROWID;
