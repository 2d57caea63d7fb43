/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include "internal.h"
int attest_provider_new(const char *name, const struct attest_provider_opts *opts, struct attest_provider **ret) { return ATTEST_E_UNSUPPORTED; }
void attest_provider_free(struct attest_provider *p) {}
int attest_provider_get_quote(struct attest_provider *p, const uint8_t report_data[64], uint8_t **ret_quote, size_t *ret_len) { return ATTEST_E_UNSUPPORTED; }
