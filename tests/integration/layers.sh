#!/bin/bash
# SPDX-License-Identifier: MIT
# The build enforces the layers: each layer's compile flags see the
# headers of the layers below it and not those above; a plugin compiled as
# the built-in plugins are sees plugin.h and the kit only.
set -eu
: "${CHIME_BUILD_DIR:?}" "${CHIME_SOURCE_DIR:?}"
exec /usr/bin/python3 "$CHIME_SOURCE_DIR/tests/harness/layer_probe.py" "$CHIME_BUILD_DIR" "$CHIME_SOURCE_DIR"
