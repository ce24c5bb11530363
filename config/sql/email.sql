-- SPDX-License-Identifier: MIT
-- The email domain (seed 002's sync_emails): the IMAP mailboxes the
-- `email_sync` plugin reads and the messages it stores. With tenants
-- (django-tenants style: one schema per tenant, the same tables in each)
-- load this file once per tenant schema:
--   PGOPTIONS=-csearch_path=acme psql -v ON_ERROR_STOP=1 -f email.sql
-- and list the tenants in a table of the public schema (billing.sql's
-- `tenants`: schema_name, is_active).
--
-- email_connections
--   tls_mode      none (imap://, clear text), starttls (imap://, STARTTLS
--                 required) or imaps (TLS from the first byte)
--   password      the IMAP password in clear, or NULL when password_ref is
--                 set: the path of a file (read by chimed's user at each
--                 run, first line, e.g. under $CREDENTIALS_DIRECTORY) that
--                 holds it; never logged or reported either way
--   uidvalidity   the mailbox's UIDVALIDITY when last_uid was read; NULL
--                 before the first sync. A change voids the stored UIDs:
--                 the plugin resyncs from UID 1 and notes it in last_error
--   last_uid      the highest UID stored (or skipped); advanced in the same
--                 transaction as the messages
--   mailbox       the folder as users see it, UTF-8 ('INBOX', 'Входящие');
--                 sent to the server in modified UTF-7 (RFC 3501 5.1.3)
--   last_error    the last sync's error, or its note (UIDVALIDITY change, a
--                 message over max_size, a message the table refused, with
--                 its UID); NULL after a clean sync ('' when the column is
--                 NOT NULL)
--
-- emails: one row per message, unique on (connection_id, uidvalidity, uid),
-- which makes every re-run and every resync free of duplicates. raw is the
-- message as the server sent it; raw NULL means the message was over the
-- job's max_size and was not fetched (size is then the server's
-- RFC822.SIZE). The header columns are best-effort UTF-8: RFC 2047
-- encoded-words decoded, raw 8-bit headers read as Latin-1, NULL when
-- absent ('' for a NOT NULL column). A message whose message_id is already
-- stored for its connection is not stored again (a resync after a
-- UIDVALIDITY change); one without a Message-ID is matched on its UID
-- only. The index on message_id serves that lookup.
-- Idempotent: safe to load again on a database that already has the tables.

CREATE TABLE IF NOT EXISTS email_connections (
	id            bigserial PRIMARY KEY,
	label         text NOT NULL DEFAULT '',
	imap_host     text NOT NULL,
	imap_port     integer NOT NULL DEFAULT 993 CHECK (imap_port BETWEEN 1 AND 65535),
	tls_mode      text NOT NULL DEFAULT 'imaps'
		      CHECK (tls_mode IN ('none', 'starttls', 'imaps')),
	username      text NOT NULL,
	password      text,
	password_ref  text,
	mailbox       text NOT NULL DEFAULT 'INBOX',
	is_active     boolean NOT NULL DEFAULT true,
	uidvalidity   bigint,
	last_uid      bigint NOT NULL DEFAULT 0,
	last_sync_at  timestamptz,
	last_error    text,
	last_error_at timestamptz,
	CONSTRAINT email_connections_secret_check
		CHECK (password IS NOT NULL OR password_ref IS NOT NULL)
);

CREATE TABLE IF NOT EXISTS emails (
	id            bigserial PRIMARY KEY,
	connection_id bigint NOT NULL REFERENCES email_connections (id) ON DELETE CASCADE,
	uidvalidity   bigint NOT NULL,
	uid           bigint NOT NULL,
	message_id    text,
	from_addr     text,
	to_addr       text,
	subject       text,
	sent_date     timestamptz,
	raw           bytea,
	size          bigint NOT NULL,
	received_at   timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT emails_connection_uid_key UNIQUE (connection_id, uidvalidity, uid)
);

CREATE INDEX IF NOT EXISTS emails_message_id_idx ON emails (message_id);
