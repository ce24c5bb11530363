-- SPDX-License-Identifier: MIT
-- Read-only queries for `chimectl audit` and `chimectl why`
-- (ledger-audit.c): every attempt of a job's slots in a range, the runs
-- that were live during it (an overlap skip names the run in its way),
-- and the pauses that overlap it. Times travel as bigint usec.
--
-- Each "-- name: NAME" line starts a statement that the build embeds as
-- the C string chime_sql_NAME; it runs to the next such line. Comment lines
-- are left out of the embedded text.

-- name: audit_runs
-- Job $1's rows scheduled in [$2, $3] usec, and the runs that started
-- before $3 and were still live at $2; oldest slot first, attempts in
-- order. Columns as ledger-audit.c reads them.
SELECT id, (extract(epoch FROM slot_local) * 1000000)::bigint, slot_occurrence,
 (extract(epoch FROM scheduled_for) * 1000000)::bigint, attempt, node, status, manual,
 (extract(epoch FROM claimed_at) * 1000000)::bigint,
 (extract(epoch FROM started_at) * 1000000)::bigint,
 (extract(epoch FROM finished_at) * 1000000)::bigint, error
 FROM chime.runs WHERE job = $1
 AND ((scheduled_for BETWEEN ('epoch'::timestamptz + ($2::bigint) * interval '1 microsecond')
   AND ('epoch'::timestamptz + ($3::bigint) * interval '1 microsecond'))
  OR (status <> 'skipped'
   AND claimed_at <= ('epoch'::timestamptz + ($3::bigint) * interval '1 microsecond')
   AND coalesce(finished_at, 'infinity') >= ('epoch'::timestamptz + ($2::bigint) * interval '1 microsecond')))
 ORDER BY scheduled_for, slot_occurrence, attempt, id
 LIMIT $4::int;

-- name: audit_pauses
-- Job $1's pauses that overlap [$2, $3] usec, oldest first; resumed_at
-- NULL while still paused.
SELECT (extract(epoch FROM paused_at) * 1000000)::bigint,
 (extract(epoch FROM resumed_at) * 1000000)::bigint, paused_by, note, node
 FROM chime.pause_log WHERE job = $1
 AND paused_at <= ('epoch'::timestamptz + ($3::bigint) * interval '1 microsecond')
 AND coalesce(resumed_at, 'infinity') >= ('epoch'::timestamptz + ($2::bigint) * interval '1 microsecond')
 ORDER BY paused_at;

-- name: audit_first_row
-- When the ledger first heard of job $1 (its oldest row kept), or NULL.
SELECT (extract(epoch FROM min(scheduled_for)) * 1000000)::bigint
 FROM chime.runs WHERE job = $1;
