/* SPDX-License-Identifier: Apache-2.0 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

void cl_print_query(FILE *f, bool tls, unsigned task, unsigned batch,
		    unsigned long long loop_idx, double latency_ms)
{
	double tps = latency_ms > 0 ? batch / (latency_ms / 1000.0) : 0;
	fprintf(f, "query: %s channel, task %u, batch %u, loop_idx %llu, latency(ms) %.1f, tps: %.1f\n",
		tls ? "secure" : "insecure", task, batch, loop_idx, latency_ms, tps);
}

struct derived {
	struct cl_summary lat, warm, setup;
	double img_s, req_s;
};

static int derive(const struct cl_report *r, struct derived *d)
{
	double *v = NULL;
	size_t n = 0;
	int e;
	memset(d, 0, sizeof(*d));
	if ((e = cl_results_latencies_ms(r->meas, &v, &n)) < 0)
		return e;
	e = cl_summarize(v, n, &d->lat);
	free(v);
	if (e < 0)
		return e;
	if (r->warm) {
		if ((e = cl_results_latencies_ms(r->warm, &v, &n)) < 0)
			return e;
		e = cl_summarize(v, n, &d->warm);
		free(v);
		if (e < 0)
			return e;
	}
	if ((e = cl_summarize(r->setup_ms, r->n_setup, &d->setup)) < 0)
		return e;
	if (r->e2e_s > 0) {
		d->req_s = (double)r->meas->ok / r->e2e_s;
		d->img_s = d->req_s * r->batch;
	}
	return 0;
}

int cl_report_text(FILE *f, const struct cl_report *r)
{
	struct derived d;
	int e = derive(r, &d);
	if (e < 0)
		return e;
	const struct cl_results *m = r->meas;

	/* The reference's closing line, then ours. */
	fprintf(f, "summary: cnum %u, batch %u, e2e time(s) %.3f, average latency(ms) %.1f, tps: %.1f\n",
		r->cnum, r->batch, r->e2e_s, d.lat.mean, d.img_s);
	fprintf(f, "requests: %llu sent, %llu ok, %llu failed%s\n",
		(unsigned long long)m->sent, (unsigned long long)m->ok,
		(unsigned long long)m->failed, r->interrupted ? " (interrupted)" : "");
	if (m->failed) {
		fprintf(f, "errors:");
		for (size_t i = 0; i < m->nerr; i++)
			fprintf(f, "%s %s: %llu", i ? "," : "", m->errs[i].key,
				(unsigned long long)m->errs[i].count);
		if (m->other_errs)
			fprintf(f, ", other: %llu", (unsigned long long)m->other_errs);
		fputc('\n', f);
	}
	fprintf(f, "end-to-end: %.3f s, %.1f images/s, %.1f requests/s\n", r->e2e_s, d.img_s, d.req_s);
	if (d.lat.n)
		fprintf(f, "latency(ms): mean %.2f, p50 %.2f, p90 %.2f, p99 %.2f, max %.2f (min %.2f, stddev %.2f)\n",
			d.lat.mean, d.lat.p50, d.lat.p90, d.lat.p99, d.lat.max, d.lat.min, d.lat.stddev);
	if (m->not_recorded)
		fprintf(f, "note: statistics cover the first %zu requests only\n", m->n);
	if (r->warm && r->warm->sent)
		fprintf(f, "warm-up (excluded): %llu requests (%u per client), %llu failed, latency(ms) mean %.2f, max %.2f\n",
			(unsigned long long)r->warm->sent, r->warmup,
			(unsigned long long)r->warm->failed, d.warm.mean, d.warm.max);
	fprintf(f, "connection set-up (excluded): %zu connection(s), %zu failed, time(ms) mean %.2f, max %.2f"
		" (connect + %shandshake + first call)\n",
		r->n_setup + r->setup_failed, r->setup_failed, d.setup.mean, d.setup.max,
		r->tls ? "TLS " : "HTTP/2 ");
	if (r->top_output) {
		fprintf(f, "top %zu of %zu classes (output \"%s\", first image):\n", r->ntop,
			r->top_classes, r->top_output);
		for (size_t i = 0; i < r->ntop; i++) {
			fprintf(f, "  %zu. class %zu  score %.6g", i + 1, r->top[i].cls, r->top[i].score);
			if (r->top[i].label)
				fprintf(f, "  %s", r->top[i].label);
			fputc('\n', f);
		}
	}
	return ferror(f) ? -EIO : 0;
}

int cl_json_str(struct cc_buf *out, const char *s)
{
	int e = cc_buf_putc(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p && e >= 0; p++) {
		if (*p == '"' || *p == '\\')
			e = cc_buf_printf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			e = cc_buf_printf(out, "\\u%04x", *p);
		else
			e = cc_buf_putc(out, (char)*p);
	}
	if (e >= 0)
		e = cc_buf_putc(out, '"');
	return e;
}

/* JSON has no NaN/Infinity: print null. */
static int json_num(struct cc_buf *out, double v)
{
	if (!isfinite(v))
		return cc_buf_puts(out, "null");
	return cc_buf_printf(out, "%.6g", v);
}

static int json_summary(struct cc_buf *o, const struct cl_summary *s)
{
	int e = cc_buf_printf(o, "{\"count\":%zu,\"mean\":", s->n);
	if (e >= 0) e = json_num(o, s->mean);
	if (e >= 0) e = cc_buf_puts(o, ",\"p50\":");
	if (e >= 0) e = json_num(o, s->p50);
	if (e >= 0) e = cc_buf_puts(o, ",\"p90\":");
	if (e >= 0) e = json_num(o, s->p90);
	if (e >= 0) e = cc_buf_puts(o, ",\"p99\":");
	if (e >= 0) e = json_num(o, s->p99);
	if (e >= 0) e = cc_buf_puts(o, ",\"max\":");
	if (e >= 0) e = json_num(o, s->max);
	if (e >= 0) e = cc_buf_puts(o, ",\"min\":");
	if (e >= 0) e = json_num(o, s->min);
	if (e >= 0) e = cc_buf_puts(o, ",\"stddev\":");
	if (e >= 0) e = json_num(o, s->stddev);
	if (e >= 0) e = cc_buf_putc(o, '}');
	return e;
}

static int json_errors(struct cc_buf *o, const struct cl_results *m)
{
	int e = cc_buf_putc(o, '{');
	for (size_t i = 0; e >= 0 && i < m->nerr; i++) {
		if (i)
			e = cc_buf_putc(o, ',');
		if (e >= 0) e = cl_json_str(o, m->errs[i].key);
		if (e >= 0) e = cc_buf_printf(o, ":%llu", (unsigned long long)m->errs[i].count);
	}
	if (e >= 0 && m->other_errs)
		e = cc_buf_printf(o, "%s\"other\":%llu", m->nerr ? "," : "",
				  (unsigned long long)m->other_errs);
	if (e >= 0)
		e = cc_buf_putc(o, '}');
	return e;
}

int cl_report_json(struct cc_buf *o, const struct cl_report *r)
{
	struct derived d;
	int e = derive(r, &d);
	if (e < 0)
		return e;
	const struct cl_results *m = r->meas;
	e = cc_buf_puts(o, "{\"url\":");
	if (e >= 0) e = cl_json_str(o, r->url);
	if (e >= 0) e = cc_buf_puts(o, ",\"model\":");
	if (e >= 0) e = cl_json_str(o, r->model);
	if (e >= 0) e = cc_buf_puts(o, ",\"transport\":");
	if (e >= 0) e = cl_json_str(o, r->transport);
	if (e >= 0)
		e = cc_buf_printf(o, ",\"tls\":%s,\"batch\":%u,\"cnum\":%u,\"loop\":%llu,\"warmup\":%u,"
				  "\"interrupted\":%s,\"requests\":{\"sent\":%llu,\"ok\":%llu,\"failed\":%llu},"
				  "\"errors\":",
				  r->tls ? "true" : "false", r->batch, r->cnum, r->loop, r->warmup,
				  r->interrupted ? "true" : "false", (unsigned long long)m->sent,
				  (unsigned long long)m->ok, (unsigned long long)m->failed);
	if (e >= 0) e = json_errors(o, m);
	if (e >= 0) e = cc_buf_puts(o, ",\"e2e_time_s\":");
	if (e >= 0) e = json_num(o, r->e2e_s);
	if (e >= 0) e = cc_buf_puts(o, ",\"images_per_s\":");
	if (e >= 0) e = json_num(o, d.img_s);
	if (e >= 0) e = cc_buf_puts(o, ",\"requests_per_s\":");
	if (e >= 0) e = json_num(o, d.req_s);
	if (e >= 0) e = cc_buf_puts(o, ",\"latency_ms\":");
	if (e >= 0) e = json_summary(o, &d.lat);
	if (e >= 0 && r->warm) {
		e = cc_buf_printf(o, ",\"warmup_requests\":{\"sent\":%llu,\"failed\":%llu,\"latency_ms\":",
				  (unsigned long long)r->warm->sent, (unsigned long long)r->warm->failed);
		if (e >= 0) e = json_summary(o, &d.warm);
		if (e >= 0) e = cc_buf_putc(o, '}');
	}
	if (e >= 0)
		e = cc_buf_printf(o, ",\"connection_setup\":{\"connections\":%zu,\"failed\":%zu,\"ms\":",
				  r->n_setup + r->setup_failed, r->setup_failed);
	if (e >= 0) e = json_summary(o, &d.setup);
	if (e >= 0) e = cc_buf_putc(o, '}');
	if (e >= 0 && r->top_output) {
		e = cc_buf_puts(o, ",\"top\":{\"output\":");
		if (e >= 0) e = cl_json_str(o, r->top_output);
		if (e >= 0) e = cc_buf_printf(o, ",\"classes\":%zu,\"items\":[", r->top_classes);
		for (size_t i = 0; e >= 0 && i < r->ntop; i++) {
			e = cc_buf_printf(o, "%s{\"class\":%zu,\"score\":", i ? "," : "", r->top[i].cls);
			if (e >= 0) e = json_num(o, r->top[i].score);
			if (e >= 0 && r->top[i].label) {
				e = cc_buf_puts(o, ",\"label\":");
				if (e >= 0) e = cl_json_str(o, r->top[i].label);
			}
			if (e >= 0) e = cc_buf_putc(o, '}');
		}
		if (e >= 0) e = cc_buf_puts(o, "]}");
	}
	if (e >= 0)
		e = cc_buf_puts(o, "}\n");
	return e < 0 ? e : 0;
}
