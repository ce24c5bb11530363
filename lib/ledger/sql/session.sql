-- SPDX-License-Identifier: MIT
-- The pooled connections' session (db.c).
--
-- Each "-- name: NAME" line starts a statement that the build embeds as
-- the C string chime_sql_NAME; it runs to the next such line. Comment lines
-- are left out of the embedded text.

-- name: session_reset
-- Before a connection goes back to the pool (a plugin may have changed
-- anything): DISCARD ALL less DEALLOCATE ALL and DISCARD PLANS, so the
-- ledger's prepared statements survive.
CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *;
SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES;
