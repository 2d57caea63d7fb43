/* SPDX-License-Identifier: Apache-2.0 */
#include "internal.h"
int attest_sim_init(const char *dir, unsigned validity_days) { return ATTEST_E_UNSUPPORTED; }
