/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ccserve/serve.h"

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int runs, max_rows_seen, done_count, errors;
static int64_t run_rows[64];
static bool block_runs;

/* y = 0.5 x + 2, row by row; records batch sizes. */
static int fake_run(void *ud, void *servable, const char *sig, const struct serve_tensor *in,
		    size_t n_in, const char *const *outs, size_t n_outs,
		    struct serve_tensor_list *ret, struct serve_status *st)
{
	(void)ud;
	(void)servable;
	(void)sig;
	(void)outs;
	(void)n_outs;
	pthread_mutex_lock(&lk);
	while (block_runs)
		pthread_cond_wait(&cv, &lk);
	if (runs < 64)
		run_rows[runs] = in[0].dims[0];
	runs++;
	if (in[0].dims[0] > max_rows_seen)
		max_rows_seen = (int)in[0].dims[0];
	pthread_mutex_unlock(&lk);
	assert_int_equal(n_in, 1);
	ret->t = calloc(1, sizeof(struct serve_tensor));
	ret->n = 1;
	struct serve_tensor *y = &ret->t[0];
	assert_int_equal(serve_tensor_copy(y, &in[0]), 0);
	free(y->name);
	y->name = strdup("y");
	float *f = y->data;
	for (size_t i = 0; i < y->nbytes / 4; i++)
		f[i] = f[i] * 0.5f + 2.0f;
	(void)st;
	return 0;
}

struct req {
	struct serve_tensor x;
	float expect0;
	int64_t rows;
	bool ok;
};

static void on_done(void *ud, struct serve_tensor_list *outs, const struct serve_status *st)
{
	struct req *r = ud;
	pthread_mutex_lock(&lk);
	if (outs) {
		r->ok = outs->n == 1 && outs->t[0].dims[0] == r->rows &&
			((float *)outs->t[0].data)[0] == r->expect0 &&
			!strcmp(outs->t[0].name, "y");
		serve_tensor_list_clear(outs);
	} else {
		(void)st;
		errors++;
	}
	done_count++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&lk);
}

static void make_req(struct req *r, int64_t rows, float v)
{
	memset(r, 0, sizeof(*r));
	r->x.dtype = SERVE_DT_FLOAT;
	r->x.ndims = 2;
	r->x.dims[0] = rows;
	r->x.dims[1] = 1;
	r->x.nbytes = (size_t)rows * 4;
	r->x.data = malloc(r->x.nbytes);
	for (int64_t i = 0; i < rows; i++)
		((float *)r->x.data)[i] = v + (float)i;
	r->x.name = strdup("x");
	r->rows = rows;
	r->expect0 = v * 0.5f + 2.0f;
}

static void wait_done(int n)
{
	pthread_mutex_lock(&lk);
	while (done_count < n)
		pthread_cond_wait(&cv, &lk);
	pthread_mutex_unlock(&lk);
}

static void test_merge_and_split(void **state)
{
	(void)state;
	struct serve_batch_params p;
	serve_batch_params_default(&p);
	p.max_batch_size = 8;
	p.batch_timeout_micros = 200000;
	p.max_enqueued_batches = 2;
	p.num_batch_threads = 1;
	p.allowed_batch_sizes[0] = 4;
	p.allowed_batch_sizes[1] = 8;
	p.n_allowed = 2;
	struct serve_metrics *met;
	assert_int_equal(serve_metrics_new(&met), 0);
	struct serve_batcher *bt;
	assert_int_equal(serve_batcher_new(&bt, &p, fake_run, NULL, met), 0);

	/* Hold the batch thread so tasks pile up deterministically. */
	block_runs = true;
	enum { N = 6 };
	struct req r[N];
	const char *outs[] = { "y" };
	struct serve_status st;
	for (int i = 0; i < N; i++) {
		make_req(&r[i], 1 + i % 3, (float)(10 * i));
		struct serve_batch_task t = { .model_name = "m", .signature = "s",
					      .inputs = &r[i].x, .n_inputs = 1,
					      .outputs = outs, .n_outputs = 1,
					      .done = on_done, .ud = &r[i] };
		int rc = serve_batcher_submit(bt, (void *)1, "s|y", &t, &st);
		assert_int_equal(rc, 0);
	}
	/* rows 1,2,3,1,2,3 = 12 -> batches of <= 8: [1,2,3,1] [2,3]. A third
	 * batch would exceed max_enqueued_batches while the thread is held
	 * only if the first had already been taken; a too-large task is
	 * refused outright. */
	struct req big;
	make_req(&big, 9, 0);
	struct serve_batch_task tb = { .model_name = "m", .signature = "s", .inputs = &big.x,
				       .n_inputs = 1, .outputs = outs, .n_outputs = 1,
				       .done = on_done, .ud = &big };
	assert_int_equal(serve_batcher_submit(bt, (void *)1, "s|y", &tb, &st), -EINVAL);
	assert_int_equal(st.code, SERVE_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "larger than maximum"));
	serve_tensor_clear(&big.x);

	pthread_mutex_lock(&lk);
	block_runs = false;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&lk);
	wait_done(N);
	for (int i = 0; i < N; i++) {
		assert_true(r[i].ok);
		serve_tensor_clear(&r[i].x);
	}
	assert_int_equal(errors, 0);
	assert_true(runs <= 3);
	assert_true(max_rows_seen == 8 || max_rows_seen == 4);

	char *text = NULL;
	size_t len;
	serve_metrics_request(met, "m", "predict", "GRPC", SERVE_OK, 1234000);
	assert_int_equal(serve_metrics_render(met, &text, &len), 0);
	assert_non_null(strstr(text, ":tensorflow:serving:batching_session:processed_batch_size_bucket{model_name=\"m\",le=\"8\"}"));
	assert_non_null(strstr(text, ":tensorflow:serving:request_count{model_name=\"m\",status=\"OK\"} 1"));
	assert_non_null(strstr(text, ":tensorflow:serving:request_latency_count{model_name=\"m\",API=\"predict\",entrypoint=\"GRPC\"} 1"));
	assert_non_null(strstr(text, "process_resident_memory_bytes"));
	free(text);
	serve_batcher_free(bt);
	serve_metrics_free(met);
}

static void test_queue_full(void **state)
{
	(void)state;
	struct serve_batch_params p;
	serve_batch_params_default(&p);
	p.max_batch_size = 1;
	p.max_enqueued_batches = 2;
	p.num_batch_threads = 1;
	struct serve_batcher *bt;
	assert_int_equal(serve_batcher_new(&bt, &p, fake_run, NULL, NULL), 0);
	pthread_mutex_lock(&lk);
	block_runs = true;
	done_count = 0;
	errors = 0;
	pthread_mutex_unlock(&lk);
	const char *outs[] = { "y" };
	enum { N = 8 };
	struct req r[N];
	int accepted = 0, refused = 0;
	for (int i = 0; i < N; i++) {
		make_req(&r[i], 1, 1);
		struct serve_batch_task t = { .model_name = "m", .signature = "s",
					      .inputs = &r[i].x, .n_inputs = 1,
					      .outputs = outs, .n_outputs = 1,
					      .done = on_done, .ud = &r[i] };
		struct serve_status st = { 0 };
		if (serve_batcher_submit(bt, (void *)1, "k", &t, &st) == 0) {
			accepted++;
		} else {
			assert_int_equal(st.code, SERVE_UNAVAILABLE);
			refused++;
		}
	}
	/* At most 2 queued + 1 taken by the held thread. */
	assert_true(accepted <= 3);
	assert_true(refused >= N - 3);
	pthread_mutex_lock(&lk);
	block_runs = false;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&lk);
	wait_done(accepted);
	serve_batcher_free(bt);
	for (int i = 0; i < N; i++)
		serve_tensor_clear(&r[i].x);

	/* Bad parameters. */
	p.allowed_batch_sizes[0] = 4;
	p.n_allowed = 1;
	p.max_batch_size = 8;
	assert_int_equal(serve_batcher_new(&bt, &p, fake_run, NULL, NULL), -EINVAL);
}

static void submit_rows(struct serve_batcher *bt, struct req *r, int64_t rows, float v)
{
	static const char *outs[] = { "y" };
	make_req(r, rows, v);
	struct serve_batch_task t = { .model_name = "m", .signature = "s", .inputs = &r->x,
				      .n_inputs = 1, .outputs = outs, .n_outputs = 1,
				      .done = on_done, .ud = r };
	struct serve_status st = { 0 };
	assert_int_equal(serve_batcher_submit(bt, (void *)1, "s|y", &t, &st), 0);
}

/*
 * Closed-loop clients: while batch A runs, a partial batch B collects and
 * outlives batch_timeout_micros.  B must not run the moment A ends (that
 * would split the clients into two half-full batches for good): its
 * timeout restarts when the batch thread becomes idle, so A's clients,
 * sending their next requests once answered, join B and it runs full.
 * (The only timing this relies on: the test thread submits A's follow-up
 * requests well within the 1 s timeout after A's answers.)
 */
static void test_partial_batch_waits_for_idle_thread(void **state)
{
	(void)state;
	struct serve_batch_params p;
	serve_batch_params_default(&p);
	p.max_batch_size = 8;
	p.batch_timeout_micros = 1000000;
	p.max_enqueued_batches = 4;
	p.num_batch_threads = 1;
	struct serve_batcher *bt;
	assert_int_equal(serve_batcher_new(&bt, &p, fake_run, NULL, NULL), 0);
	pthread_mutex_lock(&lk);
	block_runs = true;
	runs = done_count = errors = 0;
	pthread_mutex_unlock(&lk);

	struct req a[2], b[3], a2[2];
	submit_rows(bt, &a[0], 4, 1);   /* A: full, closed at once */
	submit_rows(bt, &a[1], 4, 2);
	for (int i = 0; i < 3; i++)     /* B: 3 of 8 rows, left open */
		submit_rows(bt, &b[i], 1, (float)(10 + i));
	usleep(1200 * 1000);            /* B is past its timeout; A still runs */
	pthread_mutex_lock(&lk);
	block_runs = false;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&lk);
	wait_done(2);                   /* A answered */
	usleep(20 * 1000);
	submit_rows(bt, &a2[0], 4, 3);  /* A's clients come back: 3 + 5 = 8 */
	submit_rows(bt, &a2[1], 1, 4);
	wait_done(2 + 3 + 2);
	assert_int_equal(errors, 0);
	assert_int_equal(runs, 2);
	assert_int_equal(run_rows[0], 8);
	assert_int_equal(run_rows[1], 8);
	for (int i = 0; i < 2; i++) {
		assert_true(a[i].ok && a2[i].ok);
		serve_tensor_clear(&a[i].x);
		serve_tensor_clear(&a2[i].x);
	}
	for (int i = 0; i < 3; i++) {
		assert_true(b[i].ok);
		serve_tensor_clear(&b[i].x);
	}
	serve_batcher_free(bt);
}

/* With the batch thread idle the timeout counts from the first task, as
 * in TF Serving: a lone partial batch runs after batch_timeout_micros. */
static void test_partial_batch_runs_after_timeout(void **state)
{
	(void)state;
	struct serve_batch_params p;
	serve_batch_params_default(&p);
	p.max_batch_size = 8;
	p.batch_timeout_micros = 1000;
	p.num_batch_threads = 2;
	struct serve_batcher *bt;
	assert_int_equal(serve_batcher_new(&bt, &p, fake_run, NULL, NULL), 0);
	pthread_mutex_lock(&lk);
	block_runs = false;
	runs = done_count = errors = 0;
	pthread_mutex_unlock(&lk);
	struct req r[3];
	for (int i = 0; i < 3; i++)
		submit_rows(bt, &r[i], 1, (float)i);
	wait_done(3);
	assert_int_equal(errors, 0);
	for (int i = 0; i < 3; i++) {
		assert_true(r[i].ok);
		serve_tensor_clear(&r[i].x);
	}
	serve_batcher_free(bt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_and_split),
		cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_partial_batch_waits_for_idle_thread),
		cmocka_unit_test(test_partial_batch_runs_after_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
