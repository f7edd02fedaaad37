"""From provider events to artifacts: the webhook receiver, the queue consumer, ingest, the
sweeper, and sending consumer callbacks."""
