#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# pg-billing-timeline.sh with every text column of the billing tables a varchar,
# as Django's CharField makes them: idempotency keys, order and notice
# statuses and gateway messages bound to varchar columns.
set -euo pipefail
export BILLING_VARCHAR=1
exec bash "$CHIME_SOURCE_DIR/tests/integration/pg-billing-timeline.sh"
