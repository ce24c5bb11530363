-- SPDX-License-Identifier: MIT
-- Pause state (chime.paused): `chimectl pause/resume`, read by every claim.
--
-- Each "-- name: NAME" line starts a statement that the build embeds as
-- the C string chime_sql_NAME; it runs to the next such line. Comment lines
-- are left out of the embedded text.

-- name: paused_insert
-- $1 job, $2 the node that paused it.
INSERT INTO chime.paused (job, node) VALUES ($1, $2)
 ON CONFLICT (job) DO NOTHING;

-- name: paused_delete
DELETE FROM chime.paused WHERE job = $1;

-- name: paused_exists
SELECT EXISTS (SELECT 1 FROM chime.paused WHERE job = $1);
