-- Issue 15: every library query is driven by an index, for jobs as for artifacts, and a page reads
-- about as many rows as it returns however large the library is (bench/d1_rows_read.py).

-- Job tag posting lists, ordered by the job's seq as artifact_tags is by the artifact's, so "newest
-- jobs with tag X" is an index range scan; kept from job_tags (keyed by the job's id) by triggers.
CREATE TABLE job_tag_postings (
    tag TEXT NOT NULL,
    job_seq INTEGER NOT NULL REFERENCES jobs (seq),
    PRIMARY KEY (tag, job_seq)
) WITHOUT ROWID;
-- Job count per tag: picks the rarest AND tag to drive a job query.
CREATE TABLE job_tag_counts (
    tag TEXT PRIMARY KEY,
    jobs INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO job_tag_postings (tag, job_seq) SELECT t.tag, j.seq FROM job_tags t JOIN jobs j ON j.id = t.job_id;
INSERT INTO job_tag_counts (tag, jobs) SELECT tag, count(*) FROM job_tags GROUP BY tag;
CREATE TRIGGER job_tag_postings_up AFTER INSERT ON job_tags BEGIN
    INSERT INTO job_tag_postings (tag, job_seq) SELECT NEW.tag, seq FROM jobs WHERE id = NEW.job_id;
    INSERT INTO job_tag_counts (tag, jobs) VALUES (NEW.tag, 1)
    ON CONFLICT (tag) DO UPDATE SET jobs = jobs + 1;
END;
CREATE TRIGGER job_tag_postings_down AFTER DELETE ON job_tags BEGIN
    DELETE FROM job_tag_postings WHERE tag = OLD.tag AND job_seq = (SELECT seq FROM jobs WHERE id = OLD.job_id);
    UPDATE job_tag_counts SET jobs = jobs - 1 WHERE tag = OLD.tag;
END;

-- The kinds of each job's live artifacts, as posting lists by job seq: `GET /v1/jobs?kind=video`
-- walks the jobs that have one instead of looking at the artifacts of every job.
CREATE TABLE job_kinds (
    kind TEXT NOT NULL,
    job_seq INTEGER NOT NULL REFERENCES jobs (seq),
    artifacts INTEGER NOT NULL,           -- the job's live artifacts of this kind; the row goes at 0
    PRIMARY KEY (kind, job_seq)
) WITHOUT ROWID;
INSERT INTO job_kinds (kind, job_seq, artifacts)
SELECT a.kind, j.seq, count(*) FROM artifacts a JOIN jobs j ON j.id = a.job_id
WHERE a.deleted_at IS NULL GROUP BY a.kind, j.seq;
CREATE TRIGGER job_kinds_up AFTER INSERT ON artifacts WHEN NEW.job_id IS NOT NULL AND NEW.deleted_at IS NULL BEGIN
    INSERT INTO job_kinds (kind, job_seq, artifacts) SELECT NEW.kind, seq, 1 FROM jobs WHERE id = NEW.job_id
    ON CONFLICT (kind, job_seq) DO UPDATE SET artifacts = artifacts + 1;
END;
CREATE TRIGGER job_kinds_down AFTER UPDATE OF deleted_at ON artifacts
WHEN NEW.job_id IS NOT NULL AND OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL BEGIN
    UPDATE job_kinds SET artifacts = artifacts - 1
    WHERE kind = OLD.kind AND job_seq = (SELECT seq FROM jobs WHERE id = OLD.job_id);
    DELETE FROM job_kinds
    WHERE kind = OLD.kind AND job_seq = (SELECT seq FROM jobs WHERE id = OLD.job_id) AND artifacts <= 0;
END;

-- `GET /v1/jobs?status=failed` walks the failed jobs, newest first. The index is on an expression
-- only the library's status filter writes (status || ''): on the column itself, SQLite would take it
-- for the queries on open jobs too (the oldest waiting job, a model's recent cost) instead of the
-- partial and (model, seq) indexes made for them.
CREATE INDEX jobs_by_status ON jobs (status || '', seq);

-- Where a time range starts and ends in seq order, one row per second that saw a row created:
-- first_seq is the lowest seq of any row created in that second or later, last_seq the highest of
-- any created in it or before. created_at and seq agree but for racing writers, so the bounds are
-- exact yet close: a created_after/created_before page walks seqs between them and checks
-- created_at, never the rows outside the range. Kept by triggers, for rows inserted with the next
-- seq (AUTOINCREMENT); a row created in an earlier second than the latest raises later last_seqs.
CREATE TABLE artifact_seconds (
    second TEXT PRIMARY KEY,              -- substr(created_at, 1, 19): 2026-11-21T10:00:00
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE job_seconds (
    second TEXT PRIMARY KEY,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO artifact_seconds (second, first_seq, last_seq)
SELECT second, min(low) OVER (ORDER BY second DESC), max(high) OVER (ORDER BY second)
FROM (SELECT substr(created_at, 1, 19) AS second, min(seq) AS low, max(seq) AS high FROM artifacts GROUP BY 1);
INSERT INTO job_seconds (second, first_seq, last_seq)
SELECT second, min(low) OVER (ORDER BY second DESC), max(high) OVER (ORDER BY second)
FROM (SELECT substr(created_at, 1, 19) AS second, min(seq) AS low, max(seq) AS high FROM jobs GROUP BY 1);
CREATE TRIGGER artifact_seconds_up AFTER INSERT ON artifacts BEGIN
    INSERT INTO artifact_seconds (second, first_seq, last_seq)
    VALUES (substr(NEW.created_at, 1, 19),
            min(NEW.seq, coalesce((SELECT first_seq FROM artifact_seconds WHERE second > substr(NEW.created_at, 1, 19)
                                   ORDER BY second LIMIT 1), NEW.seq)),
            NEW.seq)
    ON CONFLICT (second) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);
    UPDATE artifact_seconds SET last_seq = NEW.seq WHERE second > substr(NEW.created_at, 1, 19) AND last_seq < NEW.seq;
END;
CREATE TRIGGER job_seconds_up AFTER INSERT ON jobs BEGIN
    INSERT INTO job_seconds (second, first_seq, last_seq)
    VALUES (substr(NEW.created_at, 1, 19),
            min(NEW.seq, coalesce((SELECT first_seq FROM job_seconds WHERE second > substr(NEW.created_at, 1, 19)
                                   ORDER BY second LIMIT 1), NEW.seq)),
            NEW.seq)
    ON CONFLICT (second) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);
    UPDATE job_seconds SET last_seq = NEW.seq WHERE second > substr(NEW.created_at, 1, 19) AND last_seq < NEW.seq;
END;

-- A deleted artifact holds no tags (deleting removes them in the same batch), and now no write can
-- give it one again: a tag written to a tombstone (a tag edit or a redelivered result racing the
-- delete) is skipped. So a posting list holds live artifacts only, tag_counts counts live artifacts
-- only, and a page driven by a posting list never reads the artifact rows to check deleted_at.
DELETE FROM artifact_tags WHERE artifact_seq IN (SELECT seq FROM artifacts WHERE deleted_at IS NOT NULL);
CREATE TRIGGER artifact_tags_live_only BEFORE INSERT ON artifact_tags
WHEN (SELECT deleted_at FROM artifacts WHERE seq = NEW.artifact_seq) IS NOT NULL
BEGIN
    SELECT RAISE(IGNORE);
END;
