/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CCSERVE_ATTEST_SIM_H
#define CCSERVE_ATTEST_SIM_H
#include "internal.h"
struct sim_td;
int sim_td_new(const struct attest_provider_opts *o, struct sim_td **ret);
void sim_td_free(struct sim_td *s);
int sim_td_quote(struct sim_td *s, const uint8_t report_data[64], uint8_t **ret, size_t *ret_len);
#endif
