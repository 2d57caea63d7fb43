/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runs of signatures over serialized tf.Example: the work of TensorFlow's
 * ParseExample for dense features, done before the graph (the importer cut
 * the graph at the parser's dense outputs, see example_input() in
 * tf_import.c).
 *
 * Each Example is untrusted: it is size-capped, parsed by protobuf-c, and
 * every feature is checked for kind (float_list / int64_list) and count
 * against the model's dense shape before a value is copied.  A feature is
 * taken from the Example, else from the context Example, else from the
 * model's default; a required feature found nowhere is an error.  As in
 * protobuf map semantics, the last entry of a key wins; a Feature with no
 * kind set counts as absent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "example.pb-c.h"

/* The Feature under key in ex, or NULL. */
static const Tensorflow__Feature *find_feature(const Tensorflow__Example *ex, const char *key)
{
	if (!ex || !ex->features)
		return NULL;
	const Tensorflow__Feature *f = NULL;
	for (size_t i = 0; i < ex->features->n_feature; i++) {
		const Tensorflow__Features__FeatureEntry *en = ex->features->feature[i];
		if (en && en->key && !strcmp(en->key, key))
			f = en->value;
	}
	if (f && f->kind_case == TENSORFLOW__FEATURE__KIND__NOT_SET)
		return NULL;
	return f;
}

static const char *kind_name(const Tensorflow__Feature *f)
{
	switch (f->kind_case) {
	case TENSORFLOW__FEATURE__KIND_BYTES_LIST: return "bytes_list";
	case TENSORFLOW__FEATURE__KIND_FLOAT_LIST: return "float_list";
	case TENSORFLOW__FEATURE__KIND_INT64_LIST: return "int64_list";
	default: return "none";
	}
}

static const char *tf_type(enum infer_dtype dt)
{
	return dt == INFER_DT_FLOAT ? "float" : dt == INFER_DT_INT64 ? "int64" : "string";
}

static const char *kind_type(const Tensorflow__Feature *f)
{
	switch (f->kind_case) {
	case TENSORFLOW__FEATURE__KIND_BYTES_LIST: return "string";
	case TENSORFLOW__FEATURE__KIND_FLOAT_LIST: return "float";
	default: return "int64";
	}
}

static void shape_str(const struct ir_sig_tensor *st, char *buf, size_t n)
{
	size_t off = 0;
	buf[0] = 0;
	int w = snprintf(buf, n, "[");
	off = w > 0 ? (size_t)w : 0;
	for (int d = 1; d < st->shape.rank && off < n; d++) {
		w = snprintf(buf + off, n - off, "%s%lld", d > 1 ? "," : "",
			     (long long)st->shape.d[d]);
		if (w < 0)
			return;
		off += (size_t)w;
	}
	if (off < n)
		snprintf(buf + off, n - off, "]");
}

/* Copies feature k of example i (already parsed: ex, ctx may be NULL) into
 * dst (elems values). */
static int fill_feature(const struct ir_example_spec *x, int k, size_t i,
			const Tensorflow__Example *ex, const Tensorflow__Example *ctx,
			void *dst, struct ir_err *e)
{
	const struct ir_sig_tensor *st = &x->in[k];
	size_t n = (size_t)x->elems[k];
	const Tensorflow__Feature *f = find_feature(ex, st->key);
	if (!f)
		f = find_feature(ctx, st->key);
	if (!f) {
		if (!x->def[k])
			return ir_fail(e, INFER_E_BAD_INPUT,
				       "Name: <unknown>, Feature: %s (data type: %s) is required "
				       "but could not be found (example %zu).", st->key,
				       tf_type(st->dtype), i);
		memcpy(dst, x->def[k]->data, n * infer_dtype_size(st->dtype));
		return 0;
	}
	size_t have;
	const void *src;
	if (st->dtype == INFER_DT_FLOAT &&
	    f->kind_case == TENSORFLOW__FEATURE__KIND_FLOAT_LIST && f->float_list) {
		have = f->float_list->n_value;
		src = f->float_list->value;
	} else if (st->dtype == INFER_DT_INT64 &&
		   f->kind_case == TENSORFLOW__FEATURE__KIND_INT64_LIST && f->int64_list) {
		have = f->int64_list->n_value;
		src = f->int64_list->value;
	} else {
		return ir_fail(e, INFER_E_BAD_INPUT,
			       "Name: <unknown>, Key: %s, Index: %zu.  Data types don't match. "
			       "Data type: %s but expected type: %s (the Example has a %s)",
			       st->key, i, kind_type(f), tf_type(st->dtype), kind_name(f));
	}
	if (have != n) {
		char sh[128];
		shape_str(st, sh, sizeof(sh));
		return ir_fail(e, INFER_E_BAD_INPUT,
			       "Name: <unknown>, Key: %s, Index: %zu.  Number of %s values != "
			       "expected.  Values size: %zu but output shape: %s", st->key, i,
			       tf_type(st->dtype), have, sh);
	}
	if (n)
		memcpy(dst, src, n * infer_dtype_size(st->dtype));
	return 0;
}

static Tensorflow__Example *parse_one(const struct infer_bytes *b)
{
	static const uint8_t empty[1];
	return tensorflow__example__unpack(NULL, b->len, b->len ? b->data : empty);
}

int infer_model_run_examples(struct infer_model *m, const char *sig,
			     const struct infer_bytes *examples, size_t n_examples,
			     const struct infer_bytes *context,
			     struct infer_tensor *outputs, size_t n_outputs,
			     char *errbuf, size_t errlen)
{
	struct ir_err e = { errbuf, errlen };
	if (errbuf && errlen)
		errbuf[0] = 0;
	if (!m || (n_examples && !examples) || (n_outputs && !outputs))
		return ir_fail(&e, -EINVAL, "invalid arguments");
	const struct ir_signature *s;
	int si = model_find_sig(m, sig, &s);
	if (si < 0)
		return ir_fail(&e, INFER_E_NOT_FOUND, "no signature '%s'",
			       sig && sig[0] ? sig : "serving_default");
	if (s->error)
		return ir_fail(&e, INFER_E_UNAVAILABLE, "signature '%s' is unavailable: %s",
			       s->name, s->error);
	const struct ir_example_spec *x = s->ex;
	if (!x)
		return ir_fail(&e, INFER_E_BAD_INPUT,
			       "signature '%s' does not take serialized tf.Example", s->name);
	if (n_examples == 0)
		return ir_fail(&e, INFER_E_BAD_INPUT, "Input is empty.");
	if (n_examples > (size_t)model_max_batch(m))
		return ir_fail(&e, INFER_E_LIMIT, "%zu examples, above the batch limit %lld",
			       n_examples, (long long)model_max_batch(m));
	for (size_t i = 0; i < n_examples; i++) {
		if (examples[i].len > INFER_MAX_EXAMPLE_BYTES)
			return ir_fail(&e, INFER_E_LIMIT, "example %zu: %zu bytes, above the "
				       "%zu-byte limit", i, examples[i].len, INFER_MAX_EXAMPLE_BYTES);
		if (examples[i].len && !examples[i].data)
			return ir_fail(&e, -EINVAL, "invalid arguments");
	}
	if (context && context->len > INFER_MAX_EXAMPLE_BYTES)
		return ir_fail(&e, INFER_E_LIMIT, "context: %zu bytes, above the %zu-byte limit",
			       context->len, INFER_MAX_EXAMPLE_BYTES);
	if (context && context->len && !context->data)
		return ir_fail(&e, -EINVAL, "invalid arguments");

	int nf = x->n;
	struct infer_tensor in[64];
	void *bufs[64] = { 0 };
	Tensorflow__Example *ctx = NULL;
	int r = 0;
	memset(in, 0, sizeof(in));
	for (int k = 0; k < nf; k++) {
		const struct ir_sig_tensor *st = &x->in[k];
		size_t per, total;
		if (!cc_mul_ok((size_t)x->elems[k], infer_dtype_size(st->dtype), &per) ||
		    !cc_mul_ok(per, n_examples, &total) || total > ((size_t)1 << 34)) {
			r = ir_fail(&e, INFER_E_LIMIT, "feature '%s': batch too large", st->key);
			goto out;
		}
		bufs[k] = malloc(total ? total : 1);
		if (!bufs[k]) {
			r = -ENOMEM;
			goto out;
		}
		in[k].name = st->key;
		in[k].dtype = st->dtype;
		in[k].rank = st->shape.rank;
		in[k].dims[0] = (int64_t)n_examples;
		for (int d = 1; d < st->shape.rank; d++)
			in[k].dims[d] = st->shape.d[d];
		in[k].data = bufs[k];
		in[k].size = total;
	}
	if (context && context->len) {
		ctx = parse_one(context);
		if (!ctx) {
			r = ir_fail(&e, INFER_E_BAD_INPUT,
				    "Could not parse the context: not a serialized tf.Example "
				    "(%zu bytes)", context->len);
			goto out;
		}
	}
	for (size_t i = 0; i < n_examples; i++) {
		Tensorflow__Example *ex = parse_one(&examples[i]);
		if (!ex) {
			r = ir_fail(&e, INFER_E_BAD_INPUT,
				    "Could not parse example input %zu: not a serialized tf.Example "
				    "(%zu bytes)", i, examples[i].len);
			goto out;
		}
		for (int k = 0; k < nf && !r; k++) {
			size_t per = (size_t)x->elems[k] * infer_dtype_size(x->in[k].dtype);
			r = fill_feature(x, k, i, ex, ctx, (uint8_t *)bufs[k] + i * per, &e);
		}
		tensorflow__example__free_unpacked(ex, NULL);
		if (r)
			goto out;
	}
	struct ir_signature view;
	r = model_run_view(m, si, sig_plan_view(s, &view), in, (size_t)nf, outputs, n_outputs, &e);
out:
	if (ctx)
		tensorflow__example__free_unpacked(ctx, NULL);
	for (int k = 0; k < nf; k++)
		free(bufs[k]);
	return r;
}
