"""Runware: its wire protocol (pure functions), the HTTP client, its task types and their
parameter rules, and its model-to-task map."""
