/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the REST :classify / :regress body: JSON into serialized
 * tf.Examples.  Every Example the parser produces must read back as a
 * tf.Example (the wire format is written by hand); results rendering runs
 * on the parsed count.  Bad input must give an error, never a crash, hang
 * or leak.
 */
#include <stdint.h>
#include <stdlib.h>

#include "ccserve/serve.h"
#include "example.pb-c.h"
#include "../fuzz_fail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_example(const struct serve_bytes *b)
{
	Tensorflow__Example *e = tensorflow__example__unpack(NULL, b->len, b->data);
	if (!e)
		fuzz_fail();
	tensorflow__example__free_unpacked(e, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct serve_limits lim;
	struct serve_status st = { 0 };
	struct serve_rest_examples r;
	cc_log_set_level(CC_LOG_ERROR);
	serve_limits_default(&lim);
	lim.max_total_bytes = 4u << 20;
	if (serve_rest_parse_examples((const char *)data, size, &lim, &r, &st) < 0)
		return 0;
	float v[4] = { 1.0f, -2.5f, 0.0f, 3e38f };
	for (size_t i = 0; i < r.n; i++)
		check_example(&r.examples[i]);
	if (r.has_context)
		check_example(&r.context);
	char *out = NULL;
	size_t ol;
	if (serve_rest_render_results(v, r.n < 4 ? r.n : 4, 1, false, &out, &ol) == 0)
		free(out);
	if (serve_rest_render_results(v, 1, r.n < 4 ? r.n : 4, true, &out, &ol) == 0)
		free(out);
	serve_rest_examples_clear(&r);
	return 0;
}
