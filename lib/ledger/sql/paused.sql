-- SPDX-License-Identifier: MIT
-- Pause state (chime.paused): `chimectl pause/resume`, read by every claim.
-- Each pause is also kept in chime.pause_log (with when it ended), so the
-- audit of a past slot can say who paused the job and why.
--
-- Each "-- name: NAME" line starts a statement that the build embeds as
-- the C string chime_sql_NAME; it runs to the next such line. Comment lines
-- are left out of the embedded text.

-- name: paused_insert
-- $1 job, $2 the node that paused it, $3 who (or NULL), $4 why (or NULL).
-- A job already paused keeps its pause: the first reason stands. Returns
-- the pause in force: when, who, why, and whether this call made it.
WITH ins AS (
  INSERT INTO chime.paused (job, node, paused_by, note) VALUES ($1, $2, $3, $4)
  ON CONFLICT (job) DO NOTHING
  RETURNING job, paused_at, paused_by, note, node),
 log AS (
  INSERT INTO chime.pause_log (job, paused_at, paused_by, note, node)
  SELECT job, paused_at, paused_by, note, node FROM ins)
 SELECT (extract(epoch FROM paused_at) * 1000000)::bigint, paused_by, note, true FROM ins
 UNION ALL
 SELECT (extract(epoch FROM paused_at) * 1000000)::bigint, paused_by, note, false
  FROM chime.paused WHERE job = $1 AND NOT EXISTS (SELECT 1 FROM ins);

-- name: paused_delete
WITH del AS (DELETE FROM chime.paused WHERE job = $1 RETURNING job, paused_at)
 UPDATE chime.pause_log l SET resumed_at = now()
 FROM del WHERE l.job = del.job AND l.paused_at = del.paused_at;

-- name: paused_exists
SELECT EXISTS (SELECT 1 FROM chime.paused WHERE job = $1);
