"""Replicate (https://replicate.com): predictions, Standard Webhooks, and a catalogue of models from
their Cog schemas."""
