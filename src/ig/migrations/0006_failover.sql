-- Issue 14: a job may name several providers and fail over between them when that is safe.
-- candidates: JSON list, in order, of the providers the job may still move to, each with its
-- model, task and parameters already resolved and checked (or the reason it is not eligible).
-- attempts: JSON list of every provider the job was sent to, with time, outcome and error.
ALTER TABLE jobs ADD COLUMN candidates TEXT;
ALTER TABLE jobs ADD COLUMN attempts TEXT;
ALTER TABLE jobs ADD COLUMN failover_after_accept INTEGER NOT NULL DEFAULT 0;
-- GET /v1/providers shows each provider's latest failure without scanning every job.
CREATE INDEX jobs_failed_by_provider ON jobs (provider, completed_at) WHERE status = 'failed';

-- Per-provider limits (IG_PROVIDER_LIMITS). A job holds one of its provider's concurrency slots
-- from its first submit until it ends (slot_at); the claim is one guarded UPDATE, so concurrent
-- Worker invocations can never exceed a cap, and it goes to the oldest waiting job first.
ALTER TABLE jobs ADD COLUMN slot_at TEXT;
-- The one invocation sending the job's request right now: a duplicated or concurrent submit
-- message finds it taken and sends nothing (for fal and Replicate a second send bills twice).
ALTER TABLE jobs ADD COLUMN sending_at TEXT;
CREATE INDEX jobs_holding_slots ON jobs (provider, status) WHERE slot_at IS NOT NULL;
CREATE INDEX jobs_waiting_for_slots ON jobs (provider, seq) WHERE status = 'queued' AND slot_at IS NULL;
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
