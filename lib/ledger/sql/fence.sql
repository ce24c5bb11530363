-- SPDX-License-Identifier: MIT
-- The run fence (ledger-runfence.c; docs/design.md, "Fencing effects"):
-- statements a plugin's run connection sends inside the plugin's own unit
-- transaction, and the late record of a run whose claim was recovered
-- while it worked.
--
-- Each "-- name: NAME" line starts a statement that the build embeds as
-- the C string chime_sql_NAME; it runs to the next such line. Comment lines
-- are left out of the embedded text.

-- name: runs_fence
-- Inside the plugin's transaction: prove run $1 is still node $2's live
-- claim and hold it. The UPDATE matches only a running row of this node
-- within its lease; its row lock (FOR NO KEY UPDATE) then keeps recovery
-- (runs_recover, which skips locked rows) off the row until the
-- transaction ends, and its heartbeat_at commits with the unit.
-- idle_in_transaction_session_timeout (SET LOCAL, the lease) lets the
-- server roll the unit back and free the row when the node stops inside
-- it (SIGSTOP, a VM pause). Returns one row: whether the fence holds, then
-- what the row said before (status, node, error, heartbeat age and lease
-- in usec) for the reason of a failed fence.
WITH f AS (UPDATE chime.runs SET heartbeat_at = now()
  WHERE id = $1 AND node = $2 AND status = 'running' AND heartbeat_at > now() - lease
  RETURNING lease)
SELECT (SELECT count(*) FROM f) = 1,
 set_config('idle_in_transaction_session_timeout',
  coalesce((SELECT greatest((extract(epoch FROM lease) * 1000)::bigint, 1)::text FROM f),
   current_setting('idle_in_transaction_session_timeout')), true),
 r.status, r.node, coalesce(r.error, ''),
 (extract(epoch FROM now() - r.heartbeat_at) * 1000000)::bigint,
 (extract(epoch FROM r.lease) * 1000000)::bigint
 FROM chime.runs r WHERE r.id = $1;

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
