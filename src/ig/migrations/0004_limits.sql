-- A job or an artifact holds at most 50 tags, enforced by the write itself: D1 has no interactive
-- transactions, so a limit checked by reading first lets concurrent edits pass it together. A
-- write that would add a 51st tag aborts its whole batch; ig turns that into a 422.
CREATE TRIGGER artifact_tags_at_most_50 BEFORE INSERT ON artifact_tags
WHEN (SELECT count(*) FROM artifact_tags WHERE artifact_seq = NEW.artifact_seq) >= 50
 AND NOT EXISTS (SELECT 1 FROM artifact_tags WHERE artifact_seq = NEW.artifact_seq AND tag = NEW.tag)
BEGIN
    SELECT RAISE(ABORT, 'ig: at most 50 tags');
END;
CREATE TRIGGER job_tags_at_most_50 BEFORE INSERT ON job_tags
WHEN (SELECT count(*) FROM job_tags WHERE job_id = NEW.job_id) >= 50
 AND NOT EXISTS (SELECT 1 FROM job_tags WHERE job_id = NEW.job_id AND tag = NEW.tag)
BEGIN
    SELECT RAISE(ABORT, 'ig: at most 50 tags');
END;

-- A request body over 64 KiB is kept in the blob store, as large provider bodies are, so that a job
-- row (which holds the task twice) stays well inside D1's 2 MB per row; `request` is then ''.
ALTER TABLE jobs ADD COLUMN request_blob_key TEXT;
