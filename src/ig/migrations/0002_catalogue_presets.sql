-- Issue 5: what the bytes say about an artifact, the provider's NSFW flag on the artifact
-- itself (so the library filters on it), and server-side presets with their provenance.

ALTER TABLE artifacts ADD COLUMN width INTEGER;              -- from the image/video headers
ALTER TABLE artifacts ADD COLUMN height INTEGER;
ALTER TABLE artifacts ADD COLUMN duration_seconds REAL;      -- from the audio/video headers
ALTER TABLE artifacts ADD COLUMN nsfw INTEGER;               -- the result's NSFWContent; NULL when not checked
CREATE INDEX artifacts_by_nsfw ON artifacts (nsfw, seq);

ALTER TABLE jobs ADD COLUMN model_alias TEXT;                -- the catalogue name the consumer used, if any
ALTER TABLE jobs ADD COLUMN preset TEXT;                     -- the preset the job was made from, if any
ALTER TABLE jobs ADD COLUMN preset_version INTEGER;

-- A preset's current version; DELETE removes this row and keeps every version for provenance.
CREATE TABLE presets (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- Every version ever saved, immutable: a job names (preset, version) and can be re-created.
CREATE TABLE preset_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,                   -- JSON {task, model, params, tags, metadata, provider, description}
    created_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
) WITHOUT ROWID;
