-- SPDX-License-Identifier: MIT
-- Read-only queries for `chimectl history/list` and the control socket
-- (queries.c).
--
-- Each "-- name: NAME" line starts a statement that the build embeds as
-- the C string chime_sql_NAME; it runs to the next such line. Comment lines
-- are left out of the embedded text.

-- name: query_history
-- The runs of job $1, newest slot first, at most $2; times in usec; the
-- report (summary) as JSON text.
SELECT id, (extract(epoch FROM scheduled_for) * 1000000)::bigint, attempt, node, status, manual,
 (extract(epoch FROM claimed_at) * 1000000)::bigint,
 (extract(epoch FROM started_at) * 1000000)::bigint,
 (extract(epoch FROM finished_at) * 1000000)::bigint,
 extract(epoch FROM finished_at - started_at), error, summary
 FROM chime.runs WHERE job = $1
 ORDER BY scheduled_for DESC, id DESC LIMIT $2::int;

-- name: query_jobs
-- The latest row of each job (by slot, then id), its latest success, and
-- the pauses (when, by whom, why); the indexes on (job, scheduled_for)
-- serve it.
WITH last AS (
  SELECT DISTINCT ON (job) job, status, finished_at FROM chime.runs
  ORDER BY job, scheduled_for DESC, id DESC),
 ok AS (
  SELECT job, max(finished_at) AS at FROM chime.runs
  WHERE status = 'succeeded' GROUP BY job)
 SELECT j.job, last.status, extract(epoch FROM last.finished_at),
  extract(epoch FROM ok.at), p.job IS NOT NULL, extract(epoch FROM p.paused_at), p.paused_by,
  p.note
 FROM (SELECT job FROM last UNION SELECT job FROM chime.paused) j
 LEFT JOIN last USING (job) LEFT JOIN ok USING (job)
 LEFT JOIN chime.paused p USING (job);
