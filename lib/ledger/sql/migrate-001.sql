-- SPDX-License-Identifier: MIT
-- Schema version 1: the run ledger. migrate-NNN.sql brings the schema from
-- version NNN - 1 to NNN, in one transaction with the version row; the
-- files are append only (a released one never changes).
CREATE TABLE chime.runs (
 id bigserial PRIMARY KEY,
 job text NOT NULL,
 slot_local timestamp NOT NULL,
 slot_occurrence smallint NOT NULL DEFAULT 0,
 scheduled_for timestamptz NOT NULL,
 previous_for timestamptz,
 attempt int NOT NULL DEFAULT 1 CHECK (attempt >= 1),
 node text NOT NULL,
 status text NOT NULL CHECK (status IN ('claimed', 'running', 'succeeded', 'failed',
  'timed_out', 'cancelled', 'skipped', 'lost')),
 manual boolean NOT NULL DEFAULT false,
 lease interval NOT NULL DEFAULT interval '5 minutes',
 cancel_requested boolean NOT NULL DEFAULT false,
 claimed_at timestamptz NOT NULL DEFAULT now(),
 started_at timestamptz,
 heartbeat_at timestamptz NOT NULL DEFAULT now(),
 finished_at timestamptz,
 summary jsonb,
 error text,
 UNIQUE (job, slot_local, slot_occurrence, attempt));
CREATE INDEX runs_job_slot ON chime.runs (job, scheduled_for DESC) WHERE NOT manual;
-- Live rows are few: this one index serves the overlap checks and the
-- lost-claim scan, and heartbeats (heartbeat_at is not indexed) stay HOT
-- updates.
CREATE INDEX runs_job_live ON chime.runs (job) WHERE status IN ('claimed', 'running');
CREATE TABLE chime.paused (
 job text PRIMARY KEY,
 paused_at timestamptz NOT NULL DEFAULT now(),
 node text NOT NULL);
COMMENT ON TABLE chime.runs IS 'chime run ledger: one row per attempt of each slot';
