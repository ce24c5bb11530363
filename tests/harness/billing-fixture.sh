# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Shared setup for tests/integration/pg-billing-*.sh (sourced): a fresh
# database with config/sql/billing.sql, a temp dir, the gateway stub and
# SMTP sink started on demand and stopped on exit, TAP helpers, and a
# throwaway CA. Expects CHIMECTL, CHIME_SOURCE_DIR, CHIME_PG_ENV.
: "${CHIMECTL:?}" "${CHIME_SOURCE_DIR:?}" "${CHIME_PG_ENV:?}"
# shellcheck disable=SC1090
. "$CHIME_PG_ENV"

db=t_billing_$$
tmp=$(mktemp -d)
createdb "$db"
export PGDATABASE=$db
billing_pids=()
billing_cleanup() {
	{
		for p in "${billing_pids[@]}"; do kill -9 "$p" || true; done
		wait
	} 2>/dev/null || true
	dropdb --force --if-exists "$db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
[ -n "${BILLING_KEEP:-}" ] || trap billing_cleanup EXIT

# shellcheck source=testlib.sh
. "$CHIME_SOURCE_DIR/tests/harness/testlib.sh"

psql -qX -v ON_ERROR_STOP=1 -f "$CHIME_SOURCE_DIR/config/sql/billing.sql" >/dev/null
# BILLING_VARCHAR=1: every text column becomes varchar, as Django's
# CharField makes them (the *-varchar tests run the same scripts so).
if [ -n "${BILLING_VARCHAR:-}" ]; then
	psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
DO $$
DECLARE c record;
BEGIN
	FOR c IN SELECT table_name, column_name FROM information_schema.columns
		  WHERE table_schema = 'public' AND data_type = 'text'
		    AND table_name IN ('tenants', 'subscriptions', 'payment_orders', 'notices')
	LOOP
		EXECUTE format('ALTER TABLE %I ALTER %I TYPE varchar(250)', c.table_name, c.column_name);
	END LOOP;
END $$;
SQL
fi

wait_port_file() { # FILE
	for _ in $(seq 1 100); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	echo "# no port file $1" >&2
	return 1
}

# start_gateway DIR [stub args...]: sets GW_PORT, GW_DIR
start_gateway() {
	GW_DIR=$1
	shift
	mkdir -p "$GW_DIR"
	rm -f "$GW_DIR/port"
	/usr/bin/python3 "$CHIME_SOURCE_DIR/tests/harness/gateway_stub.py" --dir "$GW_DIR" "$@" \
		2>>"$GW_DIR/stderr" &
	GW_PID=$!
	billing_pids+=("$GW_PID")
	wait_port_file "$GW_DIR/port"
	GW_PORT=$(cat "$GW_DIR/port")
}

# start_sink DIR [sink args...]: sets SMTP_PORT, SMTP_DIR
start_sink() {
	SMTP_DIR=$1
	shift
	mkdir -p "$SMTP_DIR"
	rm -f "$SMTP_DIR/port"
	/usr/bin/python3 "$CHIME_SOURCE_DIR/tests/harness/smtp_sink.py" --dir "$SMTP_DIR" "$@" \
		2>>"$SMTP_DIR/stderr" &
	SMTP_PID=$!
	billing_pids+=("$SMTP_PID")
	wait_port_file "$SMTP_DIR/port"
	SMTP_PORT=$(cat "$SMTP_DIR/port")
	# The controller is listening once the port file exists; give the
	# banner a moment.
	sleep 0.2
}

# Lines of the gateway's logs.
charges() { cat "$GW_DIR/charges.jsonl" 2>/dev/null | wc -l | tr -d ' '; }
answered() { grep -c '"event": "answered"' "$GW_DIR/requests.jsonl" 2>/dev/null || echo 0; }
mails() { find "$SMTP_DIR/mail" -name '*.eml' 2>/dev/null | wc -l | tr -d ' '; }

# make_ca DIR NAME: DIR/NAME-ca.pem, DIR/NAME-server.pem, DIR/NAME-server.key
# for 127.0.0.1 and localhost.
make_ca() {
	local d=$1 n=$2
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=chime test CA $n" \
		-keyout "$d/$n-ca.key" -out "$d/$n-ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$d/$n-server.key" -out "$d/$n-server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/$n-ext.cnf"
	openssl x509 -req -in "$d/$n-server.csr" -CA "$d/$n-ca.pem" -CAkey "$d/$n-ca.key" \
		-CAcreateserial -days 2 -extfile "$d/$n-ext.cnf" -out "$d/$n-server.pem" 2>/dev/null
}

# The idempotency keys' installation part when a job sets no key_prefix:
# the database's system identifier.
KEY_PREFIX=$(psql -qAtX -c "SELECT system_identifier FROM pg_control_system()")

# Requests the stub received / charges it made for one idempotency key
# ("sub-1-...", after the default prefix).
received_key() { grep '"event": "received"' "$GW_DIR/requests.jsonl" 2>/dev/null | grep -c "\"key\": \"$KEY_PREFIX-$1\"" || true; }
answered_key() { grep '"event": "answered"' "$GW_DIR/requests.jsonl" 2>/dev/null | grep -c "\"key\": \"$KEY_PREFIX-$1\"" || true; }
charges_key() { grep -c "\"key\": \"$KEY_PREFIX-$1\"" "$GW_DIR/charges.jsonl" 2>/dev/null || true; }
wait_for() { # SECONDS 'SHELL CONDITION': poll until it holds (evaluated each time)
	local n=$(($1 * 10))
	for _ in $(seq 1 "$n"); do
		eval "$2" && return 0
		sleep 0.1
	done
	return 1
}
