-- SPDX-License-Identifier: MIT
-- The payouts domain (seed 003): users with a balance, their payment
-- methods, and the invoices the `payouts` plugin writes. Money is numeric,
-- never floating point. The unique key (user_id, payout_date) is what makes
-- "at most one invoice per user per payout date" hold whatever runs twice;
-- the plugin's INSERT ... ON CONFLICT relies on it. Idempotent: safe to
-- load again on a database that already has the tables.

CREATE TABLE IF NOT EXISTS users (
	id         bigserial PRIMARY KEY,
	email      text NOT NULL,
	is_active  boolean NOT NULL DEFAULT true,
	balance    numeric(14,2) NOT NULL DEFAULT 0,
	currency   text DEFAULT 'USD'
);

CREATE TABLE IF NOT EXISTS payment_methods (
	id         bigserial PRIMARY KEY,
	user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind       text NOT NULL DEFAULT 'binance',
	address    text,
	approved   boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS payment_methods_user_id_idx ON payment_methods (user_id);

CREATE TABLE IF NOT EXISTS invoices (
	id          bigserial PRIMARY KEY,
	user_id     bigint NOT NULL REFERENCES users (id),
	amount      numeric(14,2) NOT NULL CHECK (amount > 0),
	currency    text NOT NULL DEFAULT 'USD',
	method_id   bigint REFERENCES payment_methods (id),
	address     text,
	status      text NOT NULL DEFAULT 'pending'
		    CHECK (status IN ('pending', 'paid', 'rejected')),
	payout_date date NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	run_id      bigint,
	CONSTRAINT invoices_user_id_payout_date_key UNIQUE (user_id, payout_date)
);
