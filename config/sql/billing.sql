-- SPDX-License-Identifier: MIT
-- The billing domain (seed 002): tenants, their subscriptions, the payment
-- orders the `billing` plugin's `charge` action writes, and the notices its
-- `status` action sends. Money is numeric, never floating point.
--
-- Two unique keys carry the plugin's guarantees whatever runs twice (a
-- re-run of a slot, a second node, a run killed half-way):
--   payment_orders.idempotency_key  one order per subscription and billing
--                                   period (the expiry being renewed); the
--                                   same key is sent to the gateway as the
--                                   Idempotency-Key header on every retry
--   notices (subscription_id, kind, expires_at)
--                                   each notice at most once per expiry
-- Idempotent: safe to load again on a database that already has the tables.

CREATE TABLE IF NOT EXISTS tenants (
	id           bigserial PRIMARY KEY,
	schema_name  text NOT NULL UNIQUE,
	name         text NOT NULL,
	is_active    boolean NOT NULL DEFAULT true,
	admin_email  text NOT NULL,
	suspended_at timestamptz
);

CREATE TABLE IF NOT EXISTS subscriptions (
	id          bigserial PRIMARY KEY,
	tenant_id   bigint NOT NULL REFERENCES tenants (id),
	plan        text NOT NULL,
	amount      numeric(12,2) NOT NULL CHECK (amount >= 0),
	currency    text NOT NULL DEFAULT 'GEL',
	expires_at  timestamptz NOT NULL,
	status      text NOT NULL DEFAULT 'active'
		    CHECK (status IN ('active', 'suspended', 'cancelled')),
	card_saved  boolean NOT NULL DEFAULT false,
	card_token  text
);

CREATE INDEX IF NOT EXISTS subscriptions_status_expires_at_idx
	ON subscriptions (status, expires_at);

CREATE TABLE IF NOT EXISTS payment_orders (
	id               bigserial PRIMARY KEY,
	subscription_id  bigint NOT NULL REFERENCES subscriptions (id),
	period           timestamptz NOT NULL,  -- the expiry this order renews
	amount           numeric(12,2) NOT NULL CHECK (amount >= 0),
	currency         text NOT NULL,
	status           text NOT NULL DEFAULT 'pending'
			 CHECK (status IN ('pending', 'succeeded', 'failed', 'unknown')),
	idempotency_key  text NOT NULL,
	gateway_order_id text,
	gateway_message  text,
	attempts         integer NOT NULL DEFAULT 0,
	created_at       timestamptz NOT NULL DEFAULT now(),
	updated_at       timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT payment_orders_idempotency_key_key UNIQUE (idempotency_key)
);

CREATE INDEX IF NOT EXISTS payment_orders_open_idx
	ON payment_orders (status) WHERE status IN ('pending', 'unknown');

CREATE TABLE IF NOT EXISTS notices (
	id              bigserial PRIMARY KEY,
	subscription_id bigint NOT NULL REFERENCES subscriptions (id),
	kind            text NOT NULL
			CHECK (kind ~ '^(reminder_7|reminder_3|grace_[0-9]+|suspended)$'),
	expires_at      timestamptz NOT NULL,   -- the expiry the notice is about
	recipient       text,
	status          text NOT NULL DEFAULT 'pending'
			CHECK (status IN ('pending', 'sent', 'failed')),
	attempts        integer NOT NULL DEFAULT 0,
	error           text,
	created_at      timestamptz NOT NULL DEFAULT now(),
	sent_at         timestamptz,
	CONSTRAINT notices_subscription_id_kind_expires_at_key
		UNIQUE (subscription_id, kind, expires_at)
);
