-- SPDX-License-Identifier: MIT
-- The reference schema for a new application: the tables the business
-- plugins work on by default. An existing schema is mapped instead by naming
-- its tables and columns in the job's options. Each domain has its own file.
-- Load with: psql -v ON_ERROR_STOP=1 -f config/sql/reference.sql
\ir codes.sql
\ir packages.sql
\ir payouts.sql
\ir billing.sql
\ir email.sql
