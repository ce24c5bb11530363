-- SPDX-License-Identifier: MIT
-- The schema version, read on every start (cheap when current: no lock,
-- no CREATE privilege needed) and written by each migration.
--
-- Each "-- name: NAME" line starts a statement that the build embeds as
-- the C string chime_sql_NAME; it runs to the next such line. Comment lines
-- are left out of the embedded text.

-- name: schema_version_exists
SELECT to_regclass('chime.schema_version') IS NOT NULL;

-- name: schema_version_current
SELECT coalesce(max(version), 0) FROM chime.schema_version;

-- name: schema_version_insert
-- $1 the version a migration brought the schema to.
INSERT INTO chime.schema_version (version) VALUES ($1);
