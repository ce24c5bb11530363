-- SPDX-License-Identifier: MIT
-- The run fence (ledger.c; docs/design.md, "Fencing effects"):
-- statements a plugin's run connection sends inside the plugin's own unit
-- transaction, and the late record of a run whose claim was recovered
-- while it worked.
--
-- Each "-- name: NAME" line starts a statement that the build embeds as
-- the C string chime_sql_NAME; it runs to the next such line. Comment lines
-- are left out of the embedded text.

-- name: runs_fence_hold
-- Inside the plugin's transaction, first: hold run $1 against recovery
-- until the transaction ends: its advisory lock (key 1667787109, 'chme',
-- and the run id modulo 2^31: a collision only makes a recovery wait a
-- scan), shared, so that the units of one run (several workers) do not
-- wait for each other, while recovery (runs_recover) needs it exclusive
-- and skips a held run. A lock, not the row's: heartbeats and overlap
-- checks keep reading and renewing the row while a unit runs. Waits while
-- a recovery of the run commits (then runs_fence fails).
SELECT pg_advisory_xact_lock_shared(1667787109, ($1::bigint % 2147483648)::int);

-- name: runs_fence
-- Then, in a statement of its own (a snapshot taken after the lock was
-- granted): whether run $1 is still node $2's running claim within its
-- lease. When it is, idle_in_transaction_session_timeout (SET LOCAL, the
-- lease) lets the server roll the unit back and free the lock when the
-- node stops inside it (SIGSTOP, a VM pause). Returns whether the fence
-- holds, then what the row says (status, node, error, heartbeat age and
-- lease in usec) for the reason of a failed fence.
WITH r AS (SELECT *, status = 'running' AND node = $2 AND heartbeat_at > now() - lease AS ok
  FROM chime.runs WHERE id = $1)
SELECT r.ok,
 set_config('idle_in_transaction_session_timeout',
  CASE WHEN r.ok THEN greatest((extract(epoch FROM r.lease) * 1000)::bigint, 1)::text
   ELSE current_setting('idle_in_transaction_session_timeout') END, true),
 r.status, r.node, coalesce(r.error, ''),
 (extract(epoch FROM now() - r.heartbeat_at) * 1000000)::bigint,
 (extract(epoch FROM r.lease) * 1000000)::bigint
 FROM r;

-- name: runs_finish_late
-- A run whose claim another node recovered (runs_recover: 'lost' or
-- 'failed', "lost: ...") finished after all, on node $2: record on its own
-- row what really happened. $1 id, $3 the final status it reached, $4
-- summary JSON or NULL, $5 its error or NULL. Succeeded: its work
-- committed, so the row says succeeded late; otherwise the row keeps its
-- status and adds why the node's run ended (the fence rolled its unit
-- back). Once only: the added text is the marker.
UPDATE chime.runs SET
 status = CASE WHEN $3 = 'succeeded' THEN 'succeeded' ELSE status END,
 summary = CASE WHEN $3 = 'succeeded' THEN $4::jsonb ELSE summary END,
 error = CASE WHEN $3 = 'succeeded' THEN 'succeeded late (' || error || ')'
  ELSE error || '; then node ' || quote_literal($2::text) || ' woke: '
   || coalesce($5::text, $3::text) END
 WHERE id = $1 AND node = $2 AND status IN ('lost', 'failed') AND error LIKE 'lost: %'
 AND position('; then node ' IN error) = 0;
