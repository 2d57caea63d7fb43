/* SPDX-License-Identifier: Apache-2.0 */
/* The engine behind ccserve: the inference engine (engine_infer.c); the
 * transport tests link a test double instead (tests/integration/serve). */
#ifndef CCSERVE_TOOL_ENGINE_H
#define CCSERVE_TOOL_ENGINE_H

#include "ccserve/serve.h"

/* threads: intra-op threads per run (0 = all cores).  err gets the cause. */
int ccserve_engine_init(struct serve_engine *ret, int threads, char *err, size_t errlen);
void ccserve_engine_fini(struct serve_engine *e);
/* Read models through store (borrowed; NULL: host files). */
void ccserve_engine_set_store(struct serve_engine *e, const struct serve_store *store);

#endif
