/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CCATTEST_TOOL_H
#define CCATTEST_TOOL_H
#include <stdbool.h>
#include <stdio.h>
#include <ccserve/attest.h>

void dump_quote(FILE *f, const struct attest_quote *q);
void dump_quote_json(FILE *f, const struct attest_quote *q);
void dump_result(FILE *f, const struct attest_result *r);
/* JSON object text for a result (malloc'd). */
char *result_json(const struct attest_result *r, int err, const struct attest_policy_verdict *v);
#endif
