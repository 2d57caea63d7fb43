/* SPDX-License-Identifier: Apache-2.0 */
/* ccclient's summary: the reference's summary line, then the details, as
 * text or JSON. */
#ifndef CCCLIENT_REPORT_H
#define CCCLIENT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ccserve/util.h"
#include "results.h"

struct cl_top_item {
	size_t cls;
	float score;
	const char *label; /* NULL without --labels */
};

struct cl_report {
	const char *url;        /* "host:port" */
	const char *model;
	const char *transport;  /* "grpc" or "rest" */
	bool tls;
	unsigned batch, cnum;
	unsigned long long loop;
	unsigned warmup;
	double e2e_s;           /* measured phase, wall clock */
	bool interrupted;
	const struct cl_results *meas, *warm;
	const double *setup_ms; /* one per connection that came up */
	size_t n_setup, setup_failed;
	const char *top_output; /* NULL: no top-K section */
	const struct cl_top_item *top;
	size_t ntop;
	size_t top_classes;     /* classes in the output row */
};

/* The reference's per-query line. */
void cl_print_query(FILE *f, bool tls, unsigned task, unsigned batch,
		    unsigned long long loop_idx, double latency_ms);

int cl_report_text(FILE *f, const struct cl_report *r);
/* One JSON object, newline-terminated. */
int cl_report_json(struct cc_buf *out, const struct cl_report *r);
/* Append s as a JSON string literal (quoted, escaped). */
int cl_json_str(struct cc_buf *out, const char *s);

#endif
