"""From a consumer's request to a recorded job and a provider task: what a request may be, presets
and placeholders, resolution, submission and batches, idempotency keys, the job record's guarded
transitions, the provider bodies kept for each job, and the callback outbox written with them."""
