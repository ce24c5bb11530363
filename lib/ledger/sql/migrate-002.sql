-- SPDX-License-Identifier: MIT
-- Schema version 2: who paused a job and why (`chimectl pause JOB --note`),
-- on the pause itself and in a history that outlives the resume, so
-- `chimectl audit` can say "paused by alice: deploy freeze" for a slot
-- skipped last week. Keyed by (job, paused_at): no sequence to grant.
ALTER TABLE chime.paused ADD COLUMN paused_by text, ADD COLUMN note text;
CREATE TABLE chime.pause_log (
 job text NOT NULL,
 paused_at timestamptz NOT NULL,
 resumed_at timestamptz,
 paused_by text,
 note text,
 node text NOT NULL,
 PRIMARY KEY (job, paused_at));
INSERT INTO chime.pause_log (job, paused_at, node)
 SELECT job, paused_at, node FROM chime.paused;
-- The roles that may pause (granted on chime.paused by an administrator)
-- may keep the history too, or pause would stop working after the upgrade.
DO $$
DECLARE g record;
BEGIN
 FOR g IN SELECT grantee, privilege_type FROM information_schema.role_table_grants
  WHERE table_schema = 'chime' AND table_name = 'paused' AND grantee <> current_user
  AND privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE') LOOP
  EXECUTE format('GRANT %s ON chime.pause_log TO %s', g.privilege_type,
   CASE WHEN g.grantee = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(g.grantee) END);
 END LOOP;
END
$$;
