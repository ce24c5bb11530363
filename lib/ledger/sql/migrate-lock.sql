-- SPDX-License-Identifier: MIT
-- Before any migration, in the migrating transaction: take the migration
-- lock (an arbitrary constant key, so several nodes starting at once apply
-- each migration once) and make sure the version table exists. Run on
-- every upgrade, so it only ever creates what is missing.
SELECT pg_advisory_xact_lock(7236071505283498345);
CREATE SCHEMA IF NOT EXISTS chime;
CREATE TABLE IF NOT EXISTS chime.schema_version (
 version int PRIMARY KEY,
 applied_at timestamptz NOT NULL DEFAULT now());
