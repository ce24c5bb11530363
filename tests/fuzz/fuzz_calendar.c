/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for schedule expressions (systemd calendar events): the
 * shared body in fuzz_expr_common.h run over this target's seed corpus.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_expr_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_expr_one(data, size);
}
