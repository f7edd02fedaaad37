"""Everything provider-specific: the neutral base (replies, outcomes, the provider protocol, output
downloads), the registry, the mock, the model catalogue, and ``providers/runware/``."""
