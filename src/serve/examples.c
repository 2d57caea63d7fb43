/* SPDX-License-Identifier: Apache-2.0 */
/* TF Serving's Input (example_list / example_list_with_context) into
 * serialized tf.Examples for the engine: Classify, Regress, MultiInference
 * and their warmup records. */
#include <errno.h>

#include "serve-internal.h"
#include "input.pb-c.h"
#include "example.pb-c.h"

void serve_ex_batch_clear(struct serve_ex_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->ex[i].data);
	free(b->ex);
	free(b->ctx.data);
	memset(b, 0, sizeof(*b));
}

static int pack_example(const Tensorflow__Example *e, struct serve_bytes *ret)
{
	static const Tensorflow__Example empty = TENSORFLOW__EXAMPLE__INIT;
	if (!e)
		e = &empty;
	size_t n = tensorflow__example__get_packed_size(e);
	ret->data = malloc(n ? n : 1);
	if (!ret->data)
		return -ENOMEM;
	ret->len = tensorflow__example__pack(e, ret->data);
	return 0;
}

/* TF Serving's InputToSerializedExampleTensor: example_list or
 * example_list_with_context (the context's features go to every Example). */
int serve_ex_batch_from_input(const Tensorflow__Serving__Input *in, struct serve_ex_batch *b,
			       struct serve_status *st)
{
	Tensorflow__Example **exs = NULL;
	size_t n = 0;
	const Tensorflow__Example *ctx = NULL;
	memset(b, 0, sizeof(*b));
	if (in && in->kind_case == TENSORFLOW__SERVING__INPUT__KIND_EXAMPLE_LIST &&
	    in->example_list) {
		exs = in->example_list->examples;
		n = in->example_list->n_examples;
	} else if (in && in->kind_case == TENSORFLOW__SERVING__INPUT__KIND_EXAMPLE_LIST_WITH_CONTEXT &&
		   in->example_list_with_context) {
		exs = in->example_list_with_context->examples;
		n = in->example_list_with_context->n_examples;
		ctx = in->example_list_with_context->context;
		b->has_ctx = true;
	}
	if (n == 0)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT, "Input is empty."), -EINVAL;
	b->ex = calloc(n, sizeof(*b->ex));
	if (!b->ex)
		goto oom;
	for (size_t i = 0; i < n; i++, b->n++)
		if (pack_example(exs[i], &b->ex[i]) < 0)
			goto oom;
	if (b->has_ctx && pack_example(ctx, &b->ctx) < 0)
		goto oom;
	return 0;
oom:
	serve_ex_batch_clear(b);
	return serve_status_set(st, SERVE_RESOURCE_EXHAUSTED, "out of memory"), -ENOMEM;
}
