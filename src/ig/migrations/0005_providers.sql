-- Issue 13: more than one provider. A provider that assigns its own request id (fal) has none
-- until it accepts the request: provider_task_id is '' until then (Runware's is ig's job id).
-- provider_handle keeps what the provider's answer said to follow the request by (fal's
-- status, result and cancel URLs). submit_unknown_at marks a submit whose outcome is unknown
-- (the connection failed after the request may have arrived) at a provider where sending it
-- again could bill twice: the sweeper reconciles it with the provider instead of resending.
ALTER TABLE jobs ADD COLUMN provider_handle TEXT;
ALTER TABLE jobs ADD COLUMN submit_unknown_at TEXT;
CREATE INDEX jobs_by_provider_task ON jobs (provider, provider_task_id);

-- Cost as {amount, currency, source}: 'reported' by the provider with the result (Runware),
-- 'billed' from the provider's billable units times its unit price (fal), or 'estimated'.
ALTER TABLE results ADD COLUMN cost_currency TEXT;
ALTER TABLE results ADD COLUMN cost_source TEXT CHECK (cost_source IN ('reported', 'billed', 'estimated'));
UPDATE results SET cost_currency = 'USD', cost_source = 'reported' WHERE cost IS NOT NULL;
