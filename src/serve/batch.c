/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request batching with TF Serving's parameters.
 *
 * Requests for the same servable, signature and output set go to one queue.
 * A queue holds batches: the open one collects tasks until it reaches
 * max_batch_size or batch_timeout_micros have passed since its first task
 * with a batch thread free to run it; then it is closed and a batch thread
 * merges the tasks' inputs along dimension 0 (padding up to the next
 * allowed_batch_sizes entry by repeating the first row), runs them once and
 * splits the outputs back.
 *
 * "With a batch thread free": TF Serving counts the timeout from the first
 * task only, so a partial batch that expired while every thread was busy
 * runs the moment a thread frees up.  Under closed-loop load (clients that
 * send their next request when the answer arrives) that splits the clients
 * for good: while batch A runs, the clients answered by the previous batch
 * form batch B, which expires before A ends and then runs without A's
 * clients, whose requests come back a round trip later and form the next
 * partial batch, and so on, every batch half full.  Here the timeout of a
 * batch starts at its first task or when a batch thread became idle,
 * whichever is later, so B keeps collecting for up to batch_timeout_micros
 * after A ends and A's clients join it.  The cost is bounded: a task waits
 * at most batch_timeout_micros longer than with TF's rule, and only when
 * every batch thread was busy when it arrived (then it was waiting for a
 * thread anyway).  With a thread idle the rule is TF's.
 * A queue with max_enqueued_batches batches refuses more work at once with
 * UNAVAILABLE, so memory stays bounded.  Tasks whose inner shapes differ
 * from the open batch's start a new batch.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "serve-internal.h"

#define MAX_QUEUES 256

struct task {
	struct serve_batch_task t;
	int64_t rows;
	uint64_t enq_ns;
	struct task *next;
};

struct batch {
	struct task *head, *tail;
	size_t ntasks;
	int64_t rows;
	uint64_t first_ns;
	bool closed;
	struct batch *next;
};

struct queue {
	void *servable;
	char *key;
	struct batch *head, *tail;   /* oldest first; tail may be open */
	size_t nbatches;
};

struct serve_batcher {
	struct serve_batch_params p;
	serve_batch_run_fn run;
	void *run_ud;
	struct serve_metrics *metrics;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct queue q[MAX_QUEUES];
	size_t nq;
	pthread_t *threads;
	size_t nthreads;
	size_t nidle;        /* batch threads not running a batch */
	uint64_t idle_since; /* when nidle last went from 0 to >= 1 */
	bool stop;
};

void serve_batch_params_default(struct serve_batch_params *p)
{
	memset(p, 0, sizeof(*p));
	/* TF Serving's defaults for --enable_batching without a file. */
	p->max_batch_size = 32;
	p->batch_timeout_micros = 1000;
	p->max_enqueued_batches = 100;
	p->num_batch_threads = 2;
}

static bool same_inner_shape(const struct serve_batch_task *a, const struct serve_batch_task *b)
{
	if (a->n_inputs != b->n_inputs)
		return false;
	for (size_t i = 0; i < a->n_inputs; i++) {
		const struct serve_tensor *x = &a->inputs[i], *y = &b->inputs[i];
		if (x->dtype != y->dtype || x->ndims != y->ndims || x->ndims < 1)
			return false;
		if ((x->name || y->name) && (!x->name || !y->name || strcmp(x->name, y->name)))
			return false;
		for (int d = 1; d < x->ndims; d++)
			if (x->dims[d] != y->dims[d])
				return false;
	}
	return true;
}

static int64_t padded_size(const struct serve_batch_params *p, int64_t rows)
{
	for (size_t i = 0; i < p->n_allowed; i++)
		if (p->allowed_batch_sizes[i] >= rows)
			return p->allowed_batch_sizes[i];
	return rows;
}

/* Concatenate the batch's inputs along dimension 0 into out. */
static int merge_inputs(struct batch *b, int64_t total_rows, struct serve_tensor **ret,
			struct serve_status *st)
{
	const struct serve_batch_task *first = &b->head->t;
	size_t ni = first->n_inputs;
	struct serve_tensor *out = calloc(ni ? ni : 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < ni; i++) {
		const struct serve_tensor *f = &first->inputs[i];
		struct serve_tensor *o = &out[i];
		o->dtype = f->dtype;
		o->ndims = f->ndims;
		memcpy(o->dims, f->dims, sizeof(o->dims));
		o->dims[0] = total_rows;
		if (f->name && !(o->name = strdup(f->name)))
			goto oom;
		size_t row_elems = 1;
		for (int d = 1; d < f->ndims; d++)
			row_elems *= (size_t)f->dims[d];  /* bounded: each task's tensor was */
		if (f->dtype == SERVE_DT_STRING) {
			size_t n;
			if (!cc_mul_ok(row_elems, (size_t)total_rows, &n))
				goto toobig;
			o->strs = calloc(n ? n : 1, sizeof(*o->strs));
			if (!o->strs)
				goto oom;
			o->nstrs = n;
			size_t k = 0;
			for (struct task *t = b->head; t; t = t->next)
				for (size_t e = 0; e < t->t.inputs[i].nstrs; e++, k++) {
					const struct serve_bytes *s = &t->t.inputs[i].strs[e];
					o->strs[k].data = malloc(s->len ? s->len : 1);
					if (!o->strs[k].data)
						goto oom;
					memcpy(o->strs[k].data, s->data, s->len);
					o->strs[k].len = s->len;
				}
			for (; k < n; k++) {   /* padding: repeat the first row */
				const struct serve_bytes *s = &first->inputs[i].strs[k % row_elems];
				o->strs[k].data = malloc(s->len ? s->len : 1);
				if (!o->strs[k].data)
					goto oom;
				memcpy(o->strs[k].data, s->data, s->len);
				o->strs[k].len = s->len;
			}
			continue;
		}
		size_t row_bytes, bytes;
		if (!cc_mul_ok(row_elems, serve_dtype_size(f->dtype), &row_bytes) ||
		    !cc_mul_ok(row_bytes, (size_t)total_rows, &bytes))
			goto toobig;
		o->data = malloc(bytes ? bytes : 1);
		if (!o->data)
			goto oom;
		o->nbytes = bytes;
		size_t off = 0;
		for (struct task *t = b->head; t; t = t->next) {
			memcpy((uint8_t *)o->data + off, t->t.inputs[i].data, t->t.inputs[i].nbytes);
			off += t->t.inputs[i].nbytes;
		}
		while (off + row_bytes <= bytes) {
			memcpy((uint8_t *)o->data + off, f->data, row_bytes);
			off += row_bytes;
		}
	}
	*ret = out;
	return 0;
toobig:
	for (size_t i = 0; i < ni; i++)
		serve_tensor_clear(&out[i]);
	free(out);
	serve_status_set(st, SERVE_RESOURCE_EXHAUSTED, "merged batch too large");
	return -EOVERFLOW;
oom:
	for (size_t i = 0; i < ni; i++)
		serve_tensor_clear(&out[i]);
	free(out);
	return -ENOMEM;
}

/* Rows [row0, row0+rows) of t into dst. */
static int slice_rows(const struct serve_tensor *t, int64_t row0, int64_t rows,
		      struct serve_tensor *dst)
{
	struct serve_tensor s = { .dtype = t->dtype, .ndims = t->ndims };
	memcpy(s.dims, t->dims, sizeof(s.dims));
	s.dims[0] = rows;
	if (t->name && !(s.name = strdup(t->name)))
		return -ENOMEM;
	size_t row_elems = 1;
	for (int d = 1; d < t->ndims; d++)
		row_elems *= (size_t)t->dims[d];
	size_t n = row_elems * (size_t)rows, first = row_elems * (size_t)row0;
	if (t->dtype == SERVE_DT_STRING) {
		s.strs = calloc(n ? n : 1, sizeof(*s.strs));
		if (!s.strs)
			goto oom;
		s.nstrs = n;
		for (size_t i = 0; i < n; i++) {
			const struct serve_bytes *x = &t->strs[first + i];
			s.strs[i].data = malloc(x->len ? x->len : 1);
			if (!s.strs[i].data)
				goto oom;
			memcpy(s.strs[i].data, x->data, x->len);
			s.strs[i].len = x->len;
		}
	} else {
		size_t es = serve_dtype_size(t->dtype);
		s.nbytes = n * es;
		s.data = malloc(s.nbytes ? s.nbytes : 1);
		if (!s.data)
			goto oom;
		memcpy(s.data, (const uint8_t *)t->data + first * es, s.nbytes);
	}
	*dst = s;
	return 0;
oom:
	serve_tensor_clear(&s);
	return -ENOMEM;
}

static void fail_batch(struct batch *b, const struct serve_status *st)
{
	struct task *t = b->head;
	while (t) {
		struct task *next = t->next;
		t->t.done(t->t.ud, NULL, st);
		free(t);
		t = next;
	}
	free(b);
}

static void run_batch(struct serve_batcher *bt, void *servable, struct batch *b)
{
	struct serve_status st = { 0 };
	const struct serve_batch_task *first = &b->head->t;
	int64_t total = padded_size(&bt->p, b->rows);
	uint64_t now = cc_mono_ns();
	serve_metrics_batch(bt->metrics, first->model_name, (size_t)total, now - b->first_ns);

	struct serve_tensor *merged = NULL;
	int rc = merge_inputs(b, total, &merged, &st);
	if (rc < 0) {
		if (!st.code)
			serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory merging a batch");
		fail_batch(b, &st);
		return;
	}
	struct serve_tensor_list outs = { 0 };
	rc = bt->run(bt->run_ud, servable, first->signature, merged, first->n_inputs,
		     first->outputs, first->n_outputs, &outs, &st);
	for (size_t i = 0; i < first->n_inputs; i++)
		serve_tensor_clear(&merged[i]);
	free(merged);
	if (rc < 0) {
		if (!st.code)
			serve_status_set(&st, SERVE_INTERNAL, "batched run failed");
		fail_batch(b, &st);
		return;
	}
	for (size_t i = 0; i < outs.n; i++)
		if (outs.t[i].ndims < 1 || outs.t[i].dims[0] != total) {
			serve_status_set(&st, SERVE_INTERNAL,
					 "output \"%s\" of a batched run does not have the batch as "
					 "dimension 0",
					 outs.t[i].name ? outs.t[i].name : "");
			serve_tensor_list_clear(&outs);
			fail_batch(b, &st);
			return;
		}
	int64_t row = 0;
	struct task *t = b->head;
	while (t) {
		struct task *next = t->next;
		struct serve_tensor_list mine = { .t = calloc(outs.n ? outs.n : 1, sizeof(struct serve_tensor)) };
		rc = mine.t ? 0 : -ENOMEM;
		for (size_t i = 0; i < outs.n && rc == 0; i++) {
			rc = slice_rows(&outs.t[i], row, t->rows, &mine.t[i]);
			if (rc == 0)
				mine.n++;
		}
		if (rc < 0) {
			serve_tensor_list_clear(&mine);
			struct serve_status e;
			serve_status_set(&e, SERVE_RESOURCE_EXHAUSTED, "out of memory splitting a batch");
			t->t.done(t->t.ud, NULL, &e);
		} else {
			t->t.done(t->t.ud, &mine, NULL);
		}
		row += t->rows;
		free(t);
		t = next;
	}
	free(b);
	serve_tensor_list_clear(&outs);
}

/* With the lock held: a batch ready to run, unlinked from its queue. */
static struct batch *take_ready(struct serve_batcher *bt, uint64_t now, void **ret_servable,
				uint64_t *next_deadline)
{
	*next_deadline = UINT64_MAX;
	struct queue *best = NULL;
	uint64_t best_t = UINT64_MAX;
	uint64_t timeout = (uint64_t)bt->p.batch_timeout_micros * 1000u;
	for (size_t i = 0; i < bt->nq; i++) {
		struct queue *q = &bt->q[i];
		struct batch *b = q->head;
		if (!b)
			continue;
		/* The caller is an idle batch thread, so idle_since is set. */
		uint64_t start = b->first_ns > bt->idle_since ? b->first_ns : bt->idle_since;
		uint64_t deadline = start + timeout;
		if (!b->closed && now >= deadline)
			b->closed = true;
		if (b->closed) {
			if (b->first_ns < best_t) {
				best_t = b->first_ns;
				best = q;
			}
		} else if (deadline < *next_deadline) {
			*next_deadline = deadline;
		}
	}
	if (!best)
		return NULL;
	struct batch *b = best->head;
	best->head = b->next;
	if (!best->head)
		best->tail = NULL;
	best->nbatches--;
	*ret_servable = best->servable;
	return b;
}

static void *batch_thread(void *arg)
{
	struct serve_batcher *bt = arg;
	pthread_mutex_lock(&bt->lock);
	if (bt->nidle++ == 0)
		bt->idle_since = cc_mono_ns();
	while (!bt->stop) {
		uint64_t next;
		void *servable = NULL;
		struct batch *b = take_ready(bt, cc_mono_ns(), &servable, &next);
		if (b) {
			bt->nidle--;
			pthread_mutex_unlock(&bt->lock);
			run_batch(bt, servable, b);
			pthread_mutex_lock(&bt->lock);
			if (bt->nidle++ == 0)
				bt->idle_since = cc_mono_ns();
			continue;
		}
		if (next == UINT64_MAX) {
			pthread_cond_wait(&bt->cond, &bt->lock);
		} else {
			uint64_t wait = next - cc_mono_ns();
			if ((int64_t)wait <= 0)
				continue;
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t ns = (uint64_t)ts.tv_nsec + wait % 1000000000u;
			ts.tv_sec += (time_t)(wait / 1000000000u + ns / 1000000000u);
			ts.tv_nsec = (long)(ns % 1000000000u);
			pthread_cond_timedwait(&bt->cond, &bt->lock, &ts);
		}
	}
	pthread_mutex_unlock(&bt->lock);
	return NULL;
}

int serve_batcher_new(struct serve_batcher **ret, const struct serve_batch_params *p,
		      serve_batch_run_fn run, void *run_ud, struct serve_metrics *metrics)
{
	if (!p || !run || p->max_batch_size <= 0 || p->num_batch_threads <= 0 ||
	    p->num_batch_threads > 256 || p->max_enqueued_batches <= 0 ||
	    p->batch_timeout_micros < 0 || p->n_allowed > 64)
		return -EINVAL;
	for (size_t i = 0; i < p->n_allowed; i++)
		if (p->allowed_batch_sizes[i] <= 0 ||
		    (i && p->allowed_batch_sizes[i] <= p->allowed_batch_sizes[i - 1]))
			return -EINVAL;
	/* TF: the last allowed size must equal max_batch_size. */
	if (p->n_allowed && p->allowed_batch_sizes[p->n_allowed - 1] != p->max_batch_size)
		return -EINVAL;
	struct serve_batcher *bt = calloc(1, sizeof(*bt));
	if (!bt)
		return -ENOMEM;
	bt->p = *p;
	bt->run = run;
	bt->run_ud = run_ud;
	bt->metrics = metrics;
	pthread_mutex_init(&bt->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&bt->cond, &ca);
	pthread_condattr_destroy(&ca);
	bt->threads = calloc((size_t)p->num_batch_threads, sizeof(pthread_t));
	if (!bt->threads) {
		serve_batcher_free(bt);
		return -ENOMEM;
	}
	for (int64_t i = 0; i < p->num_batch_threads; i++) {
		int rc = pthread_create(&bt->threads[i], NULL, batch_thread, bt);
		if (rc) {
			serve_batcher_free(bt);
			return -rc;
		}
		bt->nthreads++;
	}
	*ret = bt;
	return 0;
}

int serve_batcher_submit(struct serve_batcher *bt, void *servable, const char *key,
			 const struct serve_batch_task *task, struct serve_status *st)
{
	int64_t rows = -1;
	for (size_t i = 0; i < task->n_inputs; i++) {
		const struct serve_tensor *x = &task->inputs[i];
		if (x->ndims < 1)
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"Batching session Run() input tensors must have at least "
						"one dimension"),
			       -EINVAL;
		if (rows >= 0 && x->dims[0] != rows)
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"Batching Run() input tensors must have equal 0th-dimension "
						"size"),
			       -EINVAL;
		rows = x->dims[0];
	}
	if (rows <= 0)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"Batching Run() input tensors must have a positive 0th-dimension"),
		       -EINVAL;
	if (rows > bt->p.max_batch_size)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"Task size %" PRId64 " is larger than maximum input batch size %" PRId64,
					rows, bt->p.max_batch_size),
		       -EINVAL;
	struct task *t = calloc(1, sizeof(*t));
	if (!t)
		return serve_status_set(st, SERVE_RESOURCE_EXHAUSTED, "out of memory"), -ENOMEM;
	t->t = *task;
	t->rows = rows;
	t->enq_ns = cc_mono_ns();

	pthread_mutex_lock(&bt->lock);
	if (bt->stop) {
		pthread_mutex_unlock(&bt->lock);
		free(t);
		return serve_status_set(st, SERVE_UNAVAILABLE, "server is shutting down"), -EAGAIN;
	}
	struct queue *q = NULL;
	for (size_t i = 0; i < bt->nq; i++)
		if (bt->q[i].servable == servable && !strcmp(bt->q[i].key, key)) {
			q = &bt->q[i];
			break;
		}
	if (!q) {
		/* Reuse an empty queue slot before growing. */
		for (size_t i = 0; i < bt->nq && !q; i++)
			if (!bt->q[i].head) {
				q = &bt->q[i];
				free(q->key);
				q->key = NULL;
			}
		if (!q && bt->nq < MAX_QUEUES)
			q = &bt->q[bt->nq++];
		if (!q || !(q->key = strdup(key))) {
			pthread_mutex_unlock(&bt->lock);
			free(t);
			return serve_status_set(st, SERVE_UNAVAILABLE, "too many batching queues"),
			       -EAGAIN;
		}
		q->servable = servable;
	}
	struct batch *b = q->tail;
	if (!b || b->closed || b->rows + rows > bt->p.max_batch_size ||
	    !same_inner_shape(&b->head->t, task)) {
		if (b)
			b->closed = true;
		if (q->nbatches >= (size_t)bt->p.max_enqueued_batches) {
			pthread_mutex_unlock(&bt->lock);
			free(t);
			return serve_status_set(st, SERVE_UNAVAILABLE,
						"The batch scheduling queue to which this task was "
						"submitted is full"),
			       -EAGAIN;
		}
		b = calloc(1, sizeof(*b));
		if (!b) {
			pthread_mutex_unlock(&bt->lock);
			free(t);
			return serve_status_set(st, SERVE_RESOURCE_EXHAUSTED, "out of memory"), -ENOMEM;
		}
		b->first_ns = t->enq_ns;
		if (q->tail)
			q->tail->next = b;
		else
			q->head = b;
		q->tail = b;
		q->nbatches++;
	}
	if (b->tail)
		b->tail->next = t;
	else
		b->head = t;
	b->tail = t;
	b->ntasks++;
	b->rows += rows;
	if (b->rows >= bt->p.max_batch_size || bt->p.batch_timeout_micros == 0)
		b->closed = true;
	pthread_cond_signal(&bt->cond);
	pthread_mutex_unlock(&bt->lock);
	return 0;
}

void serve_batcher_free(struct serve_batcher *bt)
{
	if (!bt)
		return;
	pthread_mutex_lock(&bt->lock);
	bt->stop = true;
	pthread_cond_broadcast(&bt->cond);
	pthread_mutex_unlock(&bt->lock);
	for (size_t i = 0; i < bt->nthreads; i++)
		pthread_join(bt->threads[i], NULL);
	free(bt->threads);
	struct serve_status st;
	serve_status_set(&st, SERVE_UNAVAILABLE, "server is shutting down");
	for (size_t i = 0; i < bt->nq; i++) {
		struct batch *b = bt->q[i].head;
		while (b) {
			struct batch *next = b->next;
			fail_batch(b, &st);
			b = next;
		}
		free(bt->q[i].key);
	}
	pthread_mutex_destroy(&bt->lock);
	pthread_cond_destroy(&bt->cond);
	free(bt);
}
