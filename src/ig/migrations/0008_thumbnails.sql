-- Issue 17: a WebP thumbnail per raster image artifact (PNG, JPEG, WebP, GIF; never SVG), stored
-- beside the original, recorded here; ig.library.thumbnails makes them and the sweeper retries.
ALTER TABLE artifacts ADD COLUMN thumbnail_state TEXT CHECK (thumbnail_state IN ('pending', 'made', 'failed'));
ALTER TABLE artifacts ADD COLUMN thumbnail_key TEXT;
ALTER TABLE artifacts ADD COLUMN thumbnail_size INTEGER;
ALTER TABLE artifacts ADD COLUMN thumbnail_sha256 TEXT;
ALTER TABLE artifacts ADD COLUMN thumbnail_width INTEGER;
ALTER TABLE artifacts ADD COLUMN thumbnail_height INTEGER;
ALTER TABLE artifacts ADD COLUMN thumbnail_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE artifacts ADD COLUMN thumbnail_error TEXT;
-- When the sweeper next tries; NULL once there is nothing to try. '' (before any time) is what
-- every artifact stored before this migration gets: the sweeper's first sweeps plan them.
ALTER TABLE artifacts ADD COLUMN thumbnail_due_at TEXT DEFAULT '';
CREATE INDEX artifacts_thumbnail_due ON artifacts (thumbnail_due_at)
WHERE thumbnail_due_at IS NOT NULL AND deleted_at IS NULL
  AND content_type IN ('image/png', 'image/jpeg', 'image/webp', 'image/gif');
