/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the model importers: the input is served as the only
 * file of a model directory (which file is chosen at build time:
 * saved_model.pb, frozen_graph.pb or model.onnx), loaded (parse,
 * validation, function inlining, optimisation) and, when it loads, its
 * signatures are compiled for batch 1 with a small memory budget.  Bad
 * input must give an error, never a crash, hang or leak.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ccserve/infer.h>
#include <ccserve/util.h>

#ifndef FUZZ_FILE
#error FUZZ_FILE must name the model file
#endif

struct one_file {
	const uint8_t *data;
	size_t len;
};

static int rd(void *ud, const char *path, size_t max, void **ret, size_t *ret_len)
{
	const struct one_file *f = ud;
	if (strcmp(path, FUZZ_FILE))
		return -ENOENT;
	if (f->len > max)
		return CC_E_TOOBIG;
	void *c = malloc(f->len ? f->len : 1);
	if (!c)
		return -ENOMEM;
	memcpy(c, f->data, f->len);
	*ret = c;
	*ret_len = f->len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		cc_log_set_level(CC_LOG_ERROR);
		init = 1;
	}
	struct one_file f = { data, size };
	struct infer_fs fs = { &f, rd, NULL };
	struct infer_model_opts o = { 0 };
	o.threads = 1;
	o.max_batch = 4;
	o.max_plan_bytes = 64u << 20;
	struct infer_model *m = NULL;
	char err[512];
	if (infer_model_load(&fs, &o, err, sizeof(err), &m))
		return 0;
	for (size_t i = 0; i < infer_model_signature_count(m); i++) {
		const struct infer_signature_info *s = infer_model_signature(m, i);
		if (s->available)
			infer_model_prepare(m, s->name, 1, err, sizeof(err));
	}
	infer_model_free(m);
	return 0;
}
