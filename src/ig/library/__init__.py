"""The artifacts, which are what lasts: query compilation, listing, tags and their limit, uploads,
content delivery and signed URLs, lineage, usage, media types, the streaming probe, and the JSON
shapes of jobs and artifacts."""
