/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for runs over serialized tf.Example: TF Serving's TF1
 * half_plus_two (whose Example signatures read the dense float features x,
 * required, and x2, with a default) is loaded once; each input is split
 * into Examples and run.  Byte 0: bit 0 = the first chunk is the context,
 * bits 1-2 pick the signature; then chunks of a 2-byte little-endian
 * length and that many bytes.  Bad Examples must give INFER_E_BAD_INPUT,
 * never a crash, hang or leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ccserve/infer.h>
#include <ccserve/util.h>

#include "ccserve-config.h"
#include "../fuzz_fail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct infer_model *model;

static void unload(void)
{
	infer_model_free(model);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *sh = getenv("CCSERVE_SHARED_TESTDATA");
	char path[4096], err[512];
	snprintf(path, sizeof(path), "%s/tfserving/saved_model_half_plus_two_cpu/00000123",
		 sh ? sh : CCSERVE_SHARED_TESTDATA);
	cc_log_set_level(CC_LOG_ERROR);
	struct infer_model_opts o = { .threads = 1, .max_batch = 64 };
	if (infer_model_load_path(path, &o, err, sizeof(err), &model)) {
		/* without the model the target would test nothing */
		fprintf(stderr, "fuzz_infer_example: cannot load %s: %s\n", path, err);
		exit(1);
	}
	atexit(unload);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sigs[4] = { "regress_x_to_y", "classify_x_to_y",
					     "regress_x_to_y2", "serving_default" };
	static const char *const outs[4] = { "outputs", "scores", "outputs", "y" };
	if (size < 1)
		return 0;
	struct infer_bytes ex[64];
	struct infer_bytes ctx = { NULL, 0 };
	size_t n = 0, off = 1;
	bool want_ctx = data[0] & 1, have_ctx = false;
	int s = (data[0] >> 1) & 3;
	while (off + 2 <= size && n < 64) {
		size_t l = (size_t)data[off] | (size_t)data[off + 1] << 8;
		off += 2;
		if (l > size - off)
			l = size - off;
		struct infer_bytes b = { data + off, l };
		off += l;
		if (want_ctx && !have_ctx) {
			ctx = b;
			have_ctx = true;
		} else {
			ex[n++] = b;
		}
	}
	struct infer_tensor o = { outs[s], 0, 0, { 0 }, NULL, 0 };
	char err[256];
	int r = infer_model_run_examples(model, sigs[s], ex, n, have_ctx ? &ctx : NULL, &o, 1,
					 err, sizeof(err));
	if (r == 0) {
		/* y = 0.5 x + 2 (or + 3): the batch must come back whole */
		if (o.dims[0] != (int64_t)n || o.size != n * sizeof(float))
			fuzz_fail();
		free(o.data);
	} else if (o.data) {
		fuzz_fail();
	}
	return 0;
}
