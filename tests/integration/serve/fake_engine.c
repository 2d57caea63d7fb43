/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TEST DOUBLE for the transport tests: an engine that "loads" a version
 * directory when it holds saved_model.pb (a file named BROKEN makes the
 * load fail) and serves one signature, serving_default: x (DT_FLOAT,
 * [-1, 1]) -> y = 0.5 * x + 2 (plus the version number when the directory
 * holds a file named ADD_VERSION, so tests can tell versions apart; a file
 * named SLOW makes each run take 300 ms).  It
 * exercises the server, never the inference engine; the compatibility
 * tests against half_plus_two use the real engine.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

static const struct serve_store *fake_store;

static bool exists(const char *path)
{
	if (!fake_store)
		return access(path, F_OK) == 0;
	uint8_t *d = NULL;
	size_t n;
	int rc = fake_store->read(fake_store->ud, path, 1 << 20, &d, &n);
	free(d);
	return rc == 0;
}

struct fake_model {
	float add;
	bool slow;
	struct serve_signature sig[2];
	struct serve_tensor_info in, out, ex_in, ex_out;
};

static int fake_load(void *ud, const char *path, void **ret, char *err, size_t errlen)
{
	(void)ud;
	char f[4200];
	snprintf(f, sizeof(f), "%s/saved_model.pb", path);
	if (!exists(f)) {
		snprintf(err, errlen, "no saved_model.pb in \"%s\"", path);
		return -ENOENT;
	}
	snprintf(f, sizeof(f), "%s/BROKEN", path);
	if (exists(f)) {
		snprintf(err, errlen, "model in \"%s\" is marked BROKEN", path);
		return -EINVAL;
	}
	struct fake_model *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	snprintf(f, sizeof(f), "%s/ADD_VERSION", path);
	if (exists(f)) {
		const char *slash = strrchr(path, '/');
		m->add = slash ? (float)strtol(slash + 1, NULL, 10) : 0;
	}
	snprintf(f, sizeof(f), "%s/SLOW", path);
	m->slow = exists(f);
	m->in = (struct serve_tensor_info){ "x", "x:0", SERVE_DT_FLOAT, 2, { -1, 1 } };
	m->out = (struct serve_tensor_info){ "y", "y:0", SERVE_DT_FLOAT, 2, { -1, 1 } };
	m->ex_in = (struct serve_tensor_info){ "inputs", "tf_example:0", SERVE_DT_STRING, -1, { 0 } };
	m->ex_out = (struct serve_tensor_info){ "scores", "y:0", SERVE_DT_FLOAT, 2, { -1, 1 } };
	m->sig[0] = (struct serve_signature){ "classify_x_to_y", "tensorflow/serving/classify", 1,
					      &m->ex_in, 1, &m->ex_out, false,
					      "string inputs are not computed", false };
	m->sig[1] = (struct serve_signature){ "serving_default", "tensorflow/serving/predict", 1,
					      &m->in, 1, &m->out, true, NULL, false };
	*ret = m;
	return 0;
}

static void fake_unload(void *ud, void *model)
{
	(void)ud;
	free(model);
}

static size_t fake_count(void *ud, void *model)
{
	(void)ud;
	(void)model;
	return 2;
}

static const struct serve_signature *fake_sig(void *ud, void *model, size_t i)
{
	(void)ud;
	struct fake_model *m = model;
	return i < 2 ? &m->sig[i] : NULL;
}

static int fake_run(void *ud, void *model, const char *sig, const struct serve_tensor *in,
		    size_t n_in, const char *const *outs, size_t n_outs,
		    struct serve_tensor_list *ret, struct serve_status *st)
{
	(void)ud;
	struct fake_model *m = model;
	if (strcmp(sig, "serving_default") || n_in != 1 || in[0].dtype != SERVE_DT_FLOAT)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT, "bad input"), -EINVAL;
	/* Element-wise, like the TF graph it stands in for: [-1, 1] is the
	 * declared shape, [-1] runs too. */
	if (in[0].ndims < 1 || in[0].ndims > 2 || (in[0].ndims == 2 && in[0].dims[1] != 1))
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"input x: expected shape [-1, 1]"), -EINVAL;
	if (m->slow) {
		/* 300 ms per run: lets tests fill the queue and expire deadlines. */
		struct timespec ts = { .tv_nsec = 300000000 };
		nanosleep(&ts, NULL);
	}
	ret->t = calloc(1, sizeof(*ret->t));
	if (!ret->t)
		return -ENOMEM;
	if (serve_tensor_copy(&ret->t[0], &in[0]) < 0) {
		free(ret->t);
		ret->t = NULL;
		return -ENOMEM;
	}
	ret->n = 1;
	free(ret->t[0].name);
	ret->t[0].name = strdup(n_outs ? outs[0] : "y");
	float *f = ret->t[0].data;
	for (size_t i = 0; i < ret->t[0].nbytes / 4; i++)
		f[i] = f[i] * 0.5f + 2.0f + m->add;
	return 0;
}

int ccserve_engine_init(struct serve_engine *ret, int threads, char *err, size_t errlen)
{
	(void)threads;
	(void)err;
	(void)errlen;
	*ret = (struct serve_engine){ .load = fake_load, .unload = fake_unload,
				      .signature_count = fake_count, .signature = fake_sig,
				      .run = fake_run };
	return 0;
}

void ccserve_engine_fini(struct serve_engine *e)
{
	(void)e;
}

void ccserve_engine_set_store(struct serve_engine *e, const struct serve_store *store)
{
	(void)e;
	fake_store = store;
}
