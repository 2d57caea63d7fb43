/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CCSERVE_TOOL_KBS_FETCH_H
#define CCSERVE_TOOL_KBS_FETCH_H

#include "ccserve/serve.h"

/* Run the key broker flow for f->kbs_resource; *ret in secure memory. */
int ccserve_kbs_fetch(const struct serve_flags *f, uint8_t **ret, size_t *ret_len);

#endif
