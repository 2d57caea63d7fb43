/* SPDX-License-Identifier: Apache-2.0 */
#include "internal.h"
int attest_collateral_fetch(const char *base_url, const struct attest_quote *q, const char *out_dir, const char *cache_dir, int64_t now) { return ATTEST_E_UNSUPPORTED; }
