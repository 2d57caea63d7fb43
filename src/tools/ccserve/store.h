/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CCSERVE_TOOL_STORE_H
#define CCSERVE_TOOL_STORE_H

#include <stdio.h>

#include "ccserve/serve.h"

struct vol;

/* A store over v (NULL: host files only; "vol:" paths then fail -ENOENT). */
void ccserve_store_init(struct serve_store *s, struct vol *v);
/* Read a whole file into secure memory (host or "vol:" path). */
int ccserve_store_read_secure(struct vol *v, const char *path, size_t max, uint8_t **ret,
			      size_t *ret_len);

#endif
