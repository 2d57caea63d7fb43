/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus metrics with TF Serving's names (its "/tensorflow/serving/x"
 * metrics exported as ":tensorflow:serving:x") plus in-flight requests and
 * process metrics.  Series are created on first use and capped so hostile
 * model names cannot grow the registry without bound.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>
#include <dirent.h>

#include "serve-internal.h"

#define MAX_SERIES 4096
#define LAT_BUCKETS 33   /* TF: Exponential(10, 1.8, 33) microseconds */
#define BATCH_BUCKETS 16 /* powers of two 1..32768 */

enum series_kind { S_COUNT, S_LATENCY, S_LOAD, S_BATCH, S_QUEUE, S_WARMUP };

struct series {
	enum series_kind kind;
	char *model;
	char *label2;      /* status or API */
	char *label3;      /* entrypoint */
	uint64_t count;
	double sum;
	uint64_t buckets[LAT_BUCKETS + 1];
};

struct serve_metrics {
	pthread_mutex_t lock;
	struct series *s;
	size_t n, cap;
	atomic_long in_flight;
	int64_t start_s;
	bool dropped_logged;
};

static double lat_bounds[LAT_BUCKETS];
static pthread_once_t bounds_once = PTHREAD_ONCE_INIT;

static void bounds_init(void)
{
	for (int i = 0; i < LAT_BUCKETS; i++)
		lat_bounds[i] = 10.0 * pow(1.8, i);
}

static double lat_bound(int i)
{
	return lat_bounds[i];
}

int serve_metrics_new(struct serve_metrics **ret)
{
	struct serve_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	pthread_once(&bounds_once, bounds_init);
	m->start_s = cc_wall_s();
	*ret = m;
	return 0;
}

void serve_metrics_free(struct serve_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->s[i].model);
		free(m->s[i].label2);
		free(m->s[i].label3);
	}
	free(m->s);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static bool eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Called with the lock held.  NULL when the cap is reached or OOM. */
static struct series *get(struct serve_metrics *m, enum series_kind k, const char *model,
			  const char *l2, const char *l3)
{
	for (size_t i = 0; i < m->n; i++) {
		struct series *s = &m->s[i];
		if (s->kind == k && eq(s->model, model) && eq(s->label2, l2) && eq(s->label3, l3))
			return s;
	}
	if (m->n >= MAX_SERIES) {
		if (!m->dropped_logged)
			cc_log(CC_LOG_WARN, SERVE_LOG, "metrics: more than %d series, dropping new ones",
			       MAX_SERIES);
		m->dropped_logged = true;
		return NULL;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 32;
		struct series *ns = realloc(m->s, cap * sizeof(*ns));
		if (!ns)
			return NULL;
		m->s = ns;
		m->cap = cap;
	}
	struct series *s = &m->s[m->n];
	memset(s, 0, sizeof(*s));
	s->kind = k;
	s->model = model ? strdup(model) : NULL;
	s->label2 = l2 ? strdup(l2) : NULL;
	s->label3 = l3 ? strdup(l3) : NULL;
	if ((model && !s->model) || (l2 && !s->label2) || (l3 && !s->label3)) {
		free(s->model);
		free(s->label2);
		free(s->label3);
		return NULL;
	}
	m->n++;
	return s;
}

static void observe_lat(struct series *s, double us)
{
	s->count++;
	s->sum += us;
	/* Binary search over the ascending bounds. */
	int lo = 0, hi = LAT_BUCKETS;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (us > lat_bounds[mid])
			lo = mid + 1;
		else
			hi = mid;
	}
	s->buckets[lo]++;
}

void serve_metrics_request(struct serve_metrics *m, const char *model, const char *api,
			   const char *entrypoint, enum serve_code code, uint64_t latency_ns)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	struct series *c = get(m, S_COUNT, model, serve_code_name(code), NULL);
	if (c)
		c->count++;
	struct series *l = get(m, S_LATENCY, model, api, entrypoint);
	if (l)
		observe_lat(l, (double)latency_ns / 1000.0);
	pthread_mutex_unlock(&m->lock);
}

void serve_metrics_load(struct serve_metrics *m, const char *model, uint64_t ns)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	struct series *s = get(m, S_LOAD, model, NULL, NULL);
	if (s) {
		s->count++;
		s->sum += (double)ns / 1000.0;
	}
	pthread_mutex_unlock(&m->lock);
}

void serve_metrics_warmup(struct serve_metrics *m, const char *model, uint64_t ns)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	struct series *s = get(m, S_WARMUP, model, NULL, NULL);
	if (s)
		observe_lat(s, (double)ns / 1000.0);
	pthread_mutex_unlock(&m->lock);
}

void serve_metrics_batch(struct serve_metrics *m, const char *model, size_t batch_size,
			 uint64_t queue_ns)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	struct series *b = get(m, S_BATCH, model, NULL, NULL);
	if (b) {
		b->count++;
		b->sum += (double)batch_size;
		int i = 0;
		while (i < BATCH_BUCKETS && batch_size > ((size_t)1 << i))
			i++;
		b->buckets[i]++;
	}
	struct series *q = get(m, S_QUEUE, model, NULL, NULL);
	if (q)
		observe_lat(q, (double)queue_ns / 1000.0);
	pthread_mutex_unlock(&m->lock);
}

void serve_metrics_in_flight(struct serve_metrics *m, int delta)
{
	if (m)
		atomic_fetch_add(&m->in_flight, delta);
}

/* Label values are escaped per the exposition format. */
static int put_label(struct cc_buf *b, const char *k, const char *v, bool first)
{
	int rc = cc_buf_printf(b, "%s%s=\"", first ? "" : ",", k);
	for (const char *p = v ? v : ""; *p && rc == 0; p++) {
		if (*p == '\\' || *p == '"')
			rc = cc_buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			rc = cc_buf_puts(b, "\\n");
		else
			rc = cc_buf_putc(b, *p);
	}
	if (rc == 0)
		rc = cc_buf_putc(b, '"');
	return rc;
}

static int put_labels(struct cc_buf *b, const struct series *s, const char *n2, const char *n3,
		      const char *le)
{
	int rc = cc_buf_putc(b, '{');
	if (rc == 0)
		rc = put_label(b, s->kind == S_LOAD ? "model_path" : "model_name", s->model, true);
	if (rc == 0 && n2)
		rc = put_label(b, n2, s->label2, false);
	if (rc == 0 && n3)
		rc = put_label(b, n3, s->label3, false);
	if (rc == 0 && le)
		rc = put_label(b, "le", le, false);
	if (rc == 0)
		rc = cc_buf_putc(b, '}');
	return rc;
}

static int put_hist(struct cc_buf *b, const char *name, const struct series *s, const char *n2,
		    const char *n3, int nb, bool pow2)
{
	uint64_t cum = 0;
	int rc = 0;
	for (int i = 0; i < nb && rc == 0; i++) {
		char le[32];
		cum += s->buckets[i];
		if (pow2)
			snprintf(le, sizeof(le), "%zu", (size_t)1 << i);
		else
			snprintf(le, sizeof(le), "%.6g", lat_bound(i));
		rc = cc_buf_printf(b, "%s_bucket", name);
		if (rc == 0)
			rc = put_labels(b, s, n2, n3, le);
		if (rc == 0)
			rc = cc_buf_printf(b, " %" PRIu64 "\n", cum);
	}
	cum += s->buckets[nb];
	if (rc == 0)
		rc = cc_buf_printf(b, "%s_bucket", name);
	if (rc == 0)
		rc = put_labels(b, s, n2, n3, "+Inf");
	if (rc == 0)
		rc = cc_buf_printf(b, " %" PRIu64 "\n%s_sum", cum, name);
	if (rc == 0)
		rc = put_labels(b, s, n2, n3, NULL);
	if (rc == 0)
		rc = cc_buf_printf(b, " %.17g\n%s_count", s->sum, name);
	if (rc == 0)
		rc = put_labels(b, s, n2, n3, NULL);
	if (rc == 0)
		rc = cc_buf_printf(b, " %" PRIu64 "\n", s->count);
	return rc;
}

static void process_metrics(struct cc_buf *b, int64_t start_s)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cc_buf_printf(b,
			      "# HELP process_cpu_seconds_total Total user and system CPU time.\n"
			      "# TYPE process_cpu_seconds_total counter\n"
			      "process_cpu_seconds_total %.6f\n",
			      (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
				      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	uint8_t *statm = NULL;
	size_t len;
	/* /proc files report size 0: cc_file_read reads until EOF. */
	if (cc_file_read("/proc/self/statm", 4096, false, &statm, &len) == 0) {
		unsigned long long vsz = 0, rss = 0;
		if (sscanf((char *)statm, "%llu %llu", &vsz, &rss) == 2) {
			long pg = sysconf(_SC_PAGESIZE);
			cc_buf_printf(b,
				      "# HELP process_resident_memory_bytes Resident memory size.\n"
				      "# TYPE process_resident_memory_bytes gauge\n"
				      "process_resident_memory_bytes %llu\n"
				      "# HELP process_virtual_memory_bytes Virtual memory size.\n"
				      "# TYPE process_virtual_memory_bytes gauge\n"
				      "process_virtual_memory_bytes %llu\n",
				      rss * (unsigned long long)pg, vsz * (unsigned long long)pg);
		}
		free(statm);
	}
	size_t fds = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		while (readdir(d))
			fds++;
		closedir(d);
		cc_buf_printf(b,
			      "# HELP process_open_fds Number of open file descriptors.\n"
			      "# TYPE process_open_fds gauge\nprocess_open_fds %zu\n",
			      fds > 2 ? fds - 3 : 0);
	}
	cc_buf_printf(b,
		      "# HELP process_start_time_seconds Start time of the process since the epoch.\n"
		      "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %" PRId64 "\n",
		      start_s);
}

int serve_metrics_render(struct serve_metrics *m, char **ret, size_t *ret_len)
{
	struct cc_buf b;
	cc_buf_init(&b, 64u << 20, false);
	static const struct {
		enum series_kind k;
		const char *name, *help, *type;
	} fam[] = {
		{ S_COUNT, ":tensorflow:serving:request_count", "The total number of requests.", "counter" },
		{ S_LATENCY, ":tensorflow:serving:request_latency",
		  "Distribution of wall time (in microseconds) for Tensorflow Serving request.", "histogram" },
		{ S_LOAD, ":tensorflow:cc:saved_model:load_latency",
		  "Latency in microseconds for SavedModels that were successfully loaded.", "counter" },
		{ S_WARMUP, ":tensorflow:serving:model_warmup_latency",
		  "Distribution of wall time (in microseconds) for warming up the model.", "histogram" },
		{ S_BATCH, ":tensorflow:serving:batching_session:processed_batch_size",
		  "Tracks the batch size distribution on processing.", "histogram" },
		{ S_QUEUE, ":tensorflow:serving:batching_session:queuing_latency",
		  "Tracks the latency (in microseconds) for a batch to wait in the queue.", "histogram" },
	};
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t f = 0; f < CC_ARRAY_SIZE(fam) && rc == 0; f++) {
		bool any = false;
		for (size_t i = 0; i < m->n; i++)
			any |= m->s[i].kind == fam[f].k;
		if (!any)
			continue;
		rc = cc_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
				   fam[f].name, fam[f].type);
		for (size_t i = 0; i < m->n && rc == 0; i++) {
			const struct series *s = &m->s[i];
			if (s->kind != fam[f].k)
				continue;
			switch (s->kind) {
			case S_COUNT:
				rc = cc_buf_puts(&b, fam[f].name);
				if (rc == 0)
					rc = put_labels(&b, s, "status", NULL, NULL);
				if (rc == 0)
					rc = cc_buf_printf(&b, " %" PRIu64 "\n", s->count);
				break;
			case S_LOAD:
				rc = cc_buf_puts(&b, fam[f].name);
				if (rc == 0)
					rc = put_labels(&b, s, NULL, NULL, NULL);
				if (rc == 0)
					rc = cc_buf_printf(&b, " %.0f\n", s->sum);
				break;
			case S_LATENCY:
				rc = put_hist(&b, fam[f].name, s, "API", "entrypoint", LAT_BUCKETS, false);
				break;
			case S_WARMUP:
			case S_QUEUE:
				rc = put_hist(&b, fam[f].name, s, NULL, NULL, LAT_BUCKETS, false);
				break;
			case S_BATCH:
				rc = put_hist(&b, fam[f].name, s, NULL, NULL, BATCH_BUCKETS, true);
				break;
			}
		}
	}
	long inflight = atomic_load(&m->in_flight);
	int64_t start = m->start_s;
	pthread_mutex_unlock(&m->lock);
	if (rc == 0)
		rc = cc_buf_printf(&b,
				   "# HELP ccserve_requests_in_flight Requests being decoded, queued or run.\n"
				   "# TYPE ccserve_requests_in_flight gauge\nccserve_requests_in_flight %ld\n",
				   inflight);
	if (rc == 0)
		process_metrics(&b, start);
	if (rc < 0) {
		cc_buf_free(&b);
		return rc;
	}
	*ret = (char *)cc_buf_steal(&b, ret_len);
	return *ret ? 0 : -ENOMEM;
}
