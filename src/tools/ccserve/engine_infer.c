/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccserve's engine: the inference engine (infer).  Signatures are converted
 * once per load; runs borrow the request tensors and adopt the output
 * buffers the engine allocates (no copies on either side).  Models inside
 * an encrypted volume are read through the store's read callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccserve/infer.h"
#include "engine.h"

struct eng {
	int threads;
	const struct serve_store *store;
};

struct emodel {
	struct infer_model *m;
	struct serve_signature *sigs;
	size_t nsigs;
	struct serve_tensor_info *infos;
};

struct store_fs {
	const struct serve_store *store;
	const char *dir;
};

static int store_read(void *ud, const char *path, size_t max, void **ret, size_t *ret_len)
{
	struct store_fs *s = ud;
	char full[4400];
	int n = snprintf(full, sizeof(full), "%s/%s", s->dir, path);
	if (n < 0 || (size_t)n >= sizeof(full))
		return -ENAMETOOLONG;
	uint8_t *data = NULL;
	int rc = s->store->read(s->store->ud, full, max, &data, ret_len);
	if (rc < 0)
		return rc;
	*ret = data;
	return 0;
}

static void conv_info(struct serve_tensor_info *o, const struct infer_tensor_info *i)
{
	o->name = i->name;
	o->tensor_name = i->tensor_name;
	o->dtype = (enum serve_dtype)i->dtype;
	o->rank = i->rank;
	for (int d = 0; d < i->rank && d < INFER_MAX_RANK && d < SERVE_MAX_DIMS; d++)
		o->dims[d] = i->dims[d];
}

static int e_load(void *ud, const char *path, void **ret, char *err, size_t errlen)
{
	struct eng *e = ud;
	struct infer_model_opts o = { .threads = e->threads };
	struct infer_model *m = NULL;
	int rc;
	if (e->store) {
		struct store_fs sfs = { e->store, path };
		struct infer_fs fs = { .userdata = &sfs, .read = store_read };
		rc = infer_model_load(&fs, &o, err, errlen, &m);
	} else {
		rc = infer_model_load_path(path, &o, err, errlen, &m);
	}
	if (rc < 0)
		return rc;
	struct emodel *em = calloc(1, sizeof(*em));
	size_t n = infer_model_signature_count(m), ninfo = 0;
	for (size_t i = 0; i < n; i++) {
		const struct infer_signature_info *s = infer_model_signature(m, i);
		ninfo += s->n_inputs + s->n_outputs;
	}
	if (em) {
		em->sigs = calloc(n ? n : 1, sizeof(*em->sigs));
		em->infos = calloc(ninfo ? ninfo : 1, sizeof(*em->infos));
	}
	if (!em || !em->sigs || !em->infos) {
		if (em) {
			free(em->sigs);
			free(em->infos);
		}
		free(em);
		infer_model_free(m);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct infer_signature_info *s = infer_model_signature(m, i);
		struct serve_signature *sg = &em->sigs[i];
		sg->name = s->name;
		sg->method_name = s->method_name ? s->method_name : "";
		sg->available = s->available;
		sg->error = s->error;
		sg->takes_examples = s->features != NULL;
		sg->n_inputs = s->n_inputs;
		sg->inputs = &em->infos[k];
		for (size_t j = 0; j < s->n_inputs; j++)
			conv_info(&em->infos[k++], &s->inputs[j]);
		sg->n_outputs = s->n_outputs;
		sg->outputs = &em->infos[k];
		for (size_t j = 0; j < s->n_outputs; j++)
			conv_info(&em->infos[k++], &s->outputs[j]);
	}
	em->nsigs = n;
	em->m = m;
	*ret = em;
	return 0;
}

static void e_unload(void *ud, void *model)
{
	(void)ud;
	struct emodel *em = model;
	infer_model_free(em->m);
	free(em->sigs);
	free(em->infos);
	free(em);
}

static size_t e_count(void *ud, void *model)
{
	(void)ud;
	return ((struct emodel *)model)->nsigs;
}

static const struct serve_signature *e_sig(void *ud, void *model, size_t i)
{
	(void)ud;
	struct emodel *em = model;
	return i < em->nsigs ? &em->sigs[i] : NULL;
}

static enum serve_code map_err(int rc)
{
	switch (rc) {
	case INFER_E_BAD_INPUT:
	case INFER_E_NOT_FOUND:
	case INFER_E_LIMIT:
		return SERVE_INVALID_ARGUMENT;
	case INFER_E_UNAVAILABLE:
	case INFER_E_UNSUPPORTED:
		return SERVE_UNIMPLEMENTED;
	case -ENOMEM:
		return SERVE_RESOURCE_EXHAUSTED;
	default:
		return SERVE_INTERNAL;
	}
}

static int adopt_outputs(struct infer_tensor *to, const char *const *outs, size_t n_outs,
			 struct serve_tensor_list *ret, struct serve_status *st);
static int e_run_examples(void *ud, void *model, const char *sig,
			  const struct serve_bytes *examples, size_t n,
			  const struct serve_bytes *context, const char *const *outs,
			  size_t n_outs, struct serve_tensor_list *ret, struct serve_status *st);

static int e_run(void *ud, void *model, const char *sig, const struct serve_tensor *in,
		 size_t n_in, const char *const *outs, size_t n_outs,
		 struct serve_tensor_list *ret, struct serve_status *st)
{
	(void)ud;
	struct emodel *em = model;
	/* Predict on a tf.Example signature: a vector of serialized Examples,
	 * as TensorFlow feeds the string placeholder to ParseExample */
	const struct infer_signature_info *si = infer_model_find_signature(em->m, sig);
	if (si && si->features && n_in == 1 && in[0].dtype == SERVE_DT_STRING) {
		if (in[0].ndims != 1 || in[0].nstrs != (size_t)in[0].dims[0])
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"input \"%s\": serialized tf.Example must be a vector "
						"(rank 1), got rank %d", in[0].name ? in[0].name : "",
						in[0].ndims), -EINVAL;
		return e_run_examples(ud, model, sig, in[0].strs, in[0].nstrs, NULL, outs, n_outs,
				      ret, st);
	}
	struct infer_tensor *ti = calloc(n_in ? n_in : 1, sizeof(*ti));
	struct infer_tensor *to = calloc(n_outs ? n_outs : 1, sizeof(*to));
	int rc = 0;
	if (!ti || !to) {
		rc = -ENOMEM;
		serve_status_set(st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_in; i++) {
		if (in[i].dtype == SERVE_DT_STRING || in[i].ndims > INFER_MAX_RANK) {
			rc = -EINVAL;
			serve_status_set(st, SERVE_INVALID_ARGUMENT,
					 in[i].dtype == SERVE_DT_STRING
						 ? "input \"%s\": DT_STRING inputs are not computed by the engine"
						 : "input \"%s\": more dimensions than the engine supports",
					 in[i].name ? in[i].name : "");
			goto out;
		}
		ti[i].name = in[i].name;
		ti[i].dtype = (enum infer_dtype)in[i].dtype;
		ti[i].rank = in[i].ndims;
		for (int d = 0; d < in[i].ndims; d++)
			ti[i].dims[d] = in[i].dims[d];
		ti[i].data = in[i].data;
		ti[i].size = in[i].nbytes;
	}
	for (size_t i = 0; i < n_outs; i++)
		to[i].name = outs[i];
	char err[512] = "";
	rc = infer_model_run(em->m, sig, ti, n_in, to, n_outs, err, sizeof(err));
	if (rc < 0) {
		serve_status_set(st, map_err(rc), "%s", err[0] ? err : infer_strerror(rc));
		goto out;
	}
	rc = adopt_outputs(to, outs, n_outs, ret, st);
out:
	free(ti);
	free(to);
	return rc;
}

static int e_run_examples(void *ud, void *model, const char *sig,
			  const struct serve_bytes *examples, size_t n,
			  const struct serve_bytes *context, const char *const *outs,
			  size_t n_outs, struct serve_tensor_list *ret, struct serve_status *st)
{
	(void)ud;
	struct emodel *em = model;
	struct infer_bytes *ib = calloc(n ? n : 1, sizeof(*ib));
	struct infer_tensor *to = calloc(n_outs ? n_outs : 1, sizeof(*to));
	int rc;
	if (!ib || !to) {
		free(ib);
		free(to);
		serve_status_set(st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		ib[i] = (struct infer_bytes){ examples[i].data, examples[i].len };
	struct infer_bytes ctx = { context ? context->data : NULL, context ? context->len : 0 };
	for (size_t i = 0; i < n_outs; i++)
		to[i].name = outs[i];
	char err[512] = "";
	rc = infer_model_run_examples(em->m, sig, ib, n, context ? &ctx : NULL, to, n_outs, err,
				      sizeof(err));
	if (rc < 0)
		serve_status_set(st, map_err(rc), "%s", err[0] ? err : infer_strerror(rc));
	else
		rc = adopt_outputs(to, outs, n_outs, ret, st);
	free(ib);
	free(to);
	return rc;
}

/* Engine outputs -> serve tensors (buffers adopted, not copied); frees
 * whatever is left in to[]. */
static int adopt_outputs(struct infer_tensor *to, const char *const *outs, size_t n_outs,
			 struct serve_tensor_list *ret, struct serve_status *st)
{
	int rc = 0;
	struct serve_tensor *so = calloc(n_outs ? n_outs : 1, sizeof(*so));
	if (!so) {
		rc = -ENOMEM;
		serve_status_set(st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_outs; i++) {
		so[i].dtype = (enum serve_dtype)to[i].dtype;
		so[i].ndims = to[i].rank;
		for (int d = 0; d < to[i].rank && d < SERVE_MAX_DIMS; d++)
			so[i].dims[d] = to[i].dims[d];
		so[i].data = to[i].data;
		to[i].data = NULL;
		size_t nel = 0;
		if (serve_tensor_elements(&so[i], &nel) == 0)
			so[i].nbytes = nel * serve_dtype_size(so[i].dtype);
		so[i].name = strdup(outs[i]);
		if (!so[i].name)
			rc = -ENOMEM;
	}
	if (rc < 0) {
		for (size_t i = 0; i < n_outs; i++)
			serve_tensor_clear(&so[i]);
		serve_status_set(st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	ret->t = so;
	ret->n = n_outs;
	so = NULL;
out:
	for (size_t i = 0; i < n_outs; i++) {
		free(to[i].data);
		to[i].data = NULL;
	}
	free(so);
	return rc;
}

int ccserve_engine_init(struct serve_engine *ret, int threads, char *err, size_t errlen)
{
	struct eng *e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->threads = threads;
	*ret = (struct serve_engine){ .ud = e, .load = e_load, .unload = e_unload,
				      .signature_count = e_count, .signature = e_sig, .run = e_run,
				      .run_examples = e_run_examples };
	return 0;
}

void ccserve_engine_set_store(struct serve_engine *eng, const struct serve_store *store)
{
	((struct eng *)eng->ud)->store = store;
}

void ccserve_engine_fini(struct serve_engine *e)
{
	free(e->ud);
	e->ud = NULL;
}
