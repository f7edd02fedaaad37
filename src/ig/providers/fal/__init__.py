"""fal (https://fal.ai): the queue API, Ed25519-signed webhooks, and a catalogue of endpoints
generated from fal's own OpenAPI schemas. See ../shared/reference/providers.md, Part A."""
