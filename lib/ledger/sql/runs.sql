-- SPDX-License-Identifier: MIT
-- The statements on chime.runs: claims, heartbeats, outcomes, lost-claim
-- recovery and pruning (ledger.c). Each runs as one server-side prepared
-- statement, so a crash between two of them leaves the ledger consistent.
--
-- Times travel as bigint microseconds since the epoch and are converted
-- here: ('epoch'::timestamptz + ($n::bigint) * interval '1 microsecond')
-- for a timestamptz, the same with 'epoch'::timestamp for a slot's local
-- wall time, and (extract(epoch FROM col) * 1000000)::bigint back. A row
-- is live while status IN ('claimed', 'running'), and fresh while
-- heartbeat_at > now() - lease.
--
-- Each "-- name: NAME" line starts a statement that the build embeds as
-- the C string chime_sql_NAME; it runs to the next such line. Comment lines
-- are left out of the embedded text.

-- name: runs_claim
-- Claim a slot, or record it skipped when the job is paused ($12) or busy
-- on any node ($10, overlap: skip). $1 job, $2 slot local usec, $3
-- occurrence, $4 scheduled usec, $5 previous usec or NULL, $6 attempt, $7
-- node, $8 manual, $9 lease usec, $11 'running' or 'claimed'. No row when
-- the slot is already claimed.
INSERT INTO chime.runs (job, slot_local, slot_occurrence, scheduled_for,
 previous_for, attempt, node, status, manual, lease, started_at, finished_at, error)
 SELECT $1, ('epoch'::timestamp + ($2::bigint) * interval '1 microsecond'), $3,
  ('epoch'::timestamptz + ($4::bigint) * interval '1 microsecond'),
  ('epoch'::timestamptz + ($5::bigint) * interval '1 microsecond'), $6, $7,
  CASE WHEN b.busy THEN 'skipped' ELSE $11 END, $8,
  $9::bigint * interval '1 microsecond',
  CASE WHEN NOT b.busy AND $11 = 'running' THEN now() END,
  CASE WHEN b.busy THEN now() END,
  CASE WHEN b.paused THEN 'paused'
   WHEN b.busy THEN 'overlap: the previous run is still running' END
 FROM (SELECT $12::boolean AND EXISTS (SELECT 1 FROM chime.paused WHERE job = $1) AS paused,
  $10::boolean AND EXISTS (SELECT 1 FROM chime.runs
  WHERE job = $1 AND status IN ('claimed', 'running') AND heartbeat_at > now() - lease) AS busy) b0,
 LATERAL (SELECT b0.paused, b0.paused OR b0.busy AS busy) b
 ON CONFLICT (job, slot_local, slot_occurrence, attempt) DO NOTHING
 RETURNING id, status;

-- name: runs_start
-- A claimed run starts ($1 id); no row changed when it was recovered.
UPDATE chime.runs SET status = 'running', started_at = now(),
 heartbeat_at = now() WHERE id = $1 AND status = 'claimed';

-- name: runs_heartbeat
-- $1 the ids this node runs, as a bigint[] literal; returns the live ones
-- and whether a cancel was requested.
UPDATE chime.runs SET heartbeat_at = now()
 WHERE id = ANY($1::bigint[]) AND status IN ('claimed', 'running')
 RETURNING id, cancel_requested;

-- name: runs_finish
-- $1 id, $2 final status, $3 summary JSON or NULL, $4 error or NULL.
UPDATE chime.runs SET status = $2, finished_at = now(),
 heartbeat_at = now(), summary = $3::jsonb, error = $4
 WHERE id = $1 AND status IN ('claimed', 'running');

-- name: runs_record_vanished
-- Run $12's row is gone: its claim committed on a primary whose
-- asynchronous standby was promoted before receiving it. Its outcome goes
-- on a row of its own, so the slot keeps one final row, unless the slot's
-- attempt has a row again. $1 job, $2 slot local usec, $3 occurrence, $4
-- scheduled usec, $5 previous usec or NULL, $6 attempt, $7 node, $8
-- manual, $9 final status, $10 summary JSON or NULL, $11 error.
INSERT INTO chime.runs (job, slot_local, slot_occurrence, scheduled_for,
 previous_for, attempt, node, status, manual, finished_at, summary, error)
 SELECT $1, ('epoch'::timestamp + ($2::bigint) * interval '1 microsecond'), $3,
  ('epoch'::timestamptz + ($4::bigint) * interval '1 microsecond'),
  ('epoch'::timestamptz + ($5::bigint) * interval '1 microsecond'), $6, $7, $9, $8,
  now(), $10::jsonb, $11
 WHERE NOT EXISTS (SELECT 1 FROM chime.runs WHERE id = $12)
 ON CONFLICT (job, slot_local, slot_occurrence, attempt) DO NOTHING
 RETURNING id;

-- name: runs_record_skipped
-- A slot that does not run: $1 job, $2 slot local usec, $3 occurrence, $4
-- scheduled usec, $5 previous usec or NULL, $6 node, $7 the reason.
INSERT INTO chime.runs (job, slot_local, slot_occurrence, scheduled_for,
 previous_for, attempt, node, status, finished_at, error)
 VALUES ($1, ('epoch'::timestamp + ($2::bigint) * interval '1 microsecond'), $3,
  ('epoch'::timestamptz + ($4::bigint) * interval '1 microsecond'),
  ('epoch'::timestamptz + ($5::bigint) * interval '1 microsecond'), 1, $6, 'skipped', now(), $7)
 ON CONFLICT (job, slot_local, slot_occurrence, attempt) DO NOTHING
 RETURNING id;

-- name: runs_slot_latest
-- The latest attempt of one slot: $1 job, $2 slot local usec, $3
-- occurrence. The columns are those ledger.c's row_read() reads.
SELECT id, attempt, status, node, (extract(epoch FROM scheduled_for) * 1000000)::bigint,
 (extract(epoch FROM slot_local) * 1000000)::bigint, slot_occurrence
 FROM chime.runs WHERE job = $1
 AND slot_local = ('epoch'::timestamp + ($2::bigint) * interval '1 microsecond')
 AND slot_occurrence = $3
 ORDER BY attempt DESC LIMIT 1;

-- name: runs_last_slot
-- The job's latest scheduled slot at or before $2 (usec; NULL: no bound).
SELECT id, attempt, status, node, (extract(epoch FROM scheduled_for) * 1000000)::bigint,
 (extract(epoch FROM slot_local) * 1000000)::bigint, slot_occurrence
 FROM chime.runs WHERE job = $1 AND NOT manual
 AND ($2::bigint IS NULL
  OR scheduled_for <= ('epoch'::timestamptz + ($2::bigint) * interval '1 microsecond'))
 ORDER BY scheduled_for DESC, attempt DESC LIMIT 1;

-- name: runs_slots_taken
-- The instants (usec, ascending) of job $1's slots after $2 and at or
-- before $3 that have a row: catch-up must not plan them again.
SELECT DISTINCT (extract(epoch FROM scheduled_for) * 1000000)::bigint FROM chime.runs
 WHERE job = $1
 AND scheduled_for > ('epoch'::timestamptz + ($2::bigint) * interval '1 microsecond')
 AND scheduled_for <= ('epoch'::timestamptz + ($3::bigint) * interval '1 microsecond')
 ORDER BY 1;

-- name: runs_last_success
SELECT (extract(epoch FROM max(finished_at)) * 1000000)::bigint FROM chime.runs
 WHERE job = $1 AND status = 'succeeded';

-- name: runs_job_busy
-- Overlap queue/replace: whether run $2 of job $1 must still wait, for a
-- running row or an older live claim.
SELECT EXISTS (SELECT 1 FROM chime.runs o, chime.runs me
 WHERE me.id = $2 AND o.job = $1 AND o.id <> $2
 AND o.status IN ('claimed', 'running') AND o.heartbeat_at > now() - o.lease
 AND (o.status = 'running'
  OR (o.scheduled_for, o.id) < (me.scheduled_for, me.id)));

-- name: runs_request_cancel
-- Overlap replace: ask the nodes running job $1 (except run $2) to cancel.
UPDATE chime.runs SET cancel_requested = true
 WHERE job = $1 AND id <> $2 AND status IN ('claimed', 'running') AND NOT cancel_requested;

-- name: runs_find_lost
-- Live rows whose heartbeat is older than their lease plus one heartbeat
-- period (lease / 4, CHIME_LEASE_HEARTBEATS), at most $1: the holder,
-- if alive, fenced its run by 3/4 lease and stopped it by the lease's end
-- (ledger-fence.c), so its self-fence always comes first.
SELECT id, job, attempt, node, (extract(epoch FROM slot_local) * 1000000)::bigint,
 slot_occurrence, (extract(epoch FROM scheduled_for) * 1000000)::bigint,
 (extract(epoch FROM previous_for) * 1000000)::bigint,
 (extract(epoch FROM heartbeat_at) * 1000000)::bigint
 FROM chime.runs
 WHERE status IN ('claimed', 'running') AND NOT (heartbeat_at > now() - (lease + lease / 4))
 ORDER BY heartbeat_at LIMIT $1;

-- name: runs_recover
-- Close lost run $1 if its heartbeat is still $2 (usec: nobody recovered
-- it meanwhile) and, when $3 (idempotent), claim the next attempt for node
-- $4 with lease $5 usec. Returns the rows closed (0 or 1) and the new id.
-- A run held by a fence (fence.sql: its holder is inside a unit
-- transaction, holding the run's advisory lock shared) is skipped, not
-- waited for: the holder is alive, and a later scan finds the lock free
-- once the unit ended (or the server rolled it back after a lease idle,
-- idle_in_transaction_session_timeout). Taken exclusive, the lock keeps
-- new fences waiting until this recovery committed; they then fail.
WITH free AS (SELECT $1::bigint AS id
  WHERE pg_try_advisory_xact_lock(1667787109, ($1::bigint % 2147483648)::int)),
 old AS (UPDATE chime.runs SET
  status = CASE WHEN $3::boolean THEN 'lost' ELSE 'failed' END,
  finished_at = now(),
  error = format('lost: node %L stopped heartbeating', node)
   || CASE WHEN $3::boolean THEN format(', re-run by node %L', $4::text)
      ELSE ', not re-run (not idempotent)' END
  WHERE id = (SELECT id FROM free) AND status IN ('claimed', 'running')
  AND (extract(epoch FROM heartbeat_at) * 1000000)::bigint = $2::bigint
  RETURNING *),
 ins AS (INSERT INTO chime.runs (job, slot_local, slot_occurrence,
  scheduled_for, previous_for, attempt, node, status, manual, lease)
  SELECT job, slot_local, slot_occurrence, scheduled_for, previous_for,
  attempt + 1, $4, 'claimed', manual, $5::bigint * interval '1 microsecond'
  FROM old WHERE $3::boolean
  ON CONFLICT (job, slot_local, slot_occurrence, attempt) DO NOTHING
  RETURNING id)
 SELECT (SELECT count(*) FROM old), (SELECT id FROM ins);

-- name: runs_prune
-- Delete job $1's finished rows older than $2 (usec). The job's newest
-- slot stays: catch-up plans from it.
DELETE FROM chime.runs WHERE job = $1
 AND finished_at < ('epoch'::timestamptz + ($2::bigint) * interval '1 microsecond')
 AND NOT (status IN ('claimed', 'running'))
 AND scheduled_for < (SELECT max(scheduled_for)
  FROM chime.runs WHERE job = $1 AND NOT manual);
