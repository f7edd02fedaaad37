"""ig's Python client."""
