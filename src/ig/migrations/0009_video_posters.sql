-- Issue 17: videos (MP4, WebM, QuickTime) get a thumbnail too, their poster: the provider's own
-- still when it gave one (its URL kept here until the thumbnail is made from it), else a frame of
-- the video where the runtime can take one (ig.library.thumbnails).
ALTER TABLE artifacts ADD COLUMN poster_url TEXT;
-- The sweeper's claim finds due thumbnails through this index; its condition names the types
-- that get one, the same text as ig.library.thumbnails' _HAS_THUMBNAIL_TYPE.
DROP INDEX artifacts_thumbnail_due;
CREATE INDEX artifacts_thumbnail_due ON artifacts (thumbnail_due_at)
WHERE thumbnail_due_at IS NOT NULL AND deleted_at IS NULL
  AND content_type IN ('image/png', 'image/jpeg', 'image/webp', 'image/gif', 'video/mp4', 'video/webm', 'video/quicktime');
-- Videos stored since 0008 were planned as having none to make: back to "not yet planned" (as
-- 0008 left older rows), so the sweeper's backfill plans them.
UPDATE artifacts SET thumbnail_due_at = ''
WHERE thumbnail_state IS NULL AND thumbnail_due_at IS NULL AND deleted_at IS NULL
  AND content_type IN ('video/mp4', 'video/webm', 'video/quicktime');
