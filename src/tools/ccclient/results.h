/* SPDX-License-Identifier: Apache-2.0 */
/* Per-request records and error counts of one phase of a ccclient run. */
#ifndef CCCLIENT_RESULTS_H
#define CCCLIENT_RESULTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cl_rec {
	uint64_t start_ns;   /* since the phase began */
	uint64_t latency_ns;
	uint32_t task;
	bool ok;
};

#define CL_MAX_ERR_KINDS 32
#define CL_ERR_KEY_LEN 64
/* Records kept for statistics; later requests are still counted. */
#define CL_MAX_RECORDS (16u << 20)

struct cl_results {
	pthread_mutex_t mu;
	struct cl_rec *recs;
	size_t n, cap;
	uint64_t sent, ok, failed, not_recorded;
	struct {
		char key[CL_ERR_KEY_LEN];
		uint64_t count;
	} errs[CL_MAX_ERR_KINDS];
	size_t nerr;
	uint64_t other_errs;
};

void cl_results_init(struct cl_results *r);
void cl_results_free(struct cl_results *r);
/* Record one finished request; errkey NULL for success, else a short status
 * name ("UNAVAILABLE", "HTTP 503", "connection refused").  Thread-safe.
 * Returns -ENOMEM only when the record could not be stored (the counts are
 * still updated). */
int cl_results_add(struct cl_results *r, const struct cl_rec *rec, const char *errkey);
/* Latencies (ms) of the successful records, malloc()ed; *ret_n may be 0
 * (then *ret is NULL). */
int cl_results_latencies_ms(const struct cl_results *r, double **ret, size_t *ret_n);

#endif
