-- Issue 14: a job may name several providers and fail over between them when that is safe.
-- candidates: JSON list, in order, of the providers the job may still move to, each with its
-- model, task and parameters already resolved and checked (or the reason it is not eligible).
-- attempts: JSON list of every provider the job was sent to, with time, outcome and error.
ALTER TABLE jobs ADD COLUMN candidates TEXT;
ALTER TABLE jobs ADD COLUMN attempts TEXT;
ALTER TABLE jobs ADD COLUMN failover_after_accept INTEGER NOT NULL DEFAULT 0;
-- GET /v1/providers shows each provider's latest failure without scanning every job.
CREATE INDEX jobs_failed_by_provider ON jobs (provider, completed_at) WHERE status = 'failed';
