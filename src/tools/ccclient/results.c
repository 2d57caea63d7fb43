/* SPDX-License-Identifier: Apache-2.0 */
#include "results.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccserve/util.h"

void cl_results_init(struct cl_results *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
}

void cl_results_free(struct cl_results *r)
{
	free(r->recs);
	r->recs = NULL;
	pthread_mutex_destroy(&r->mu);
}

int cl_results_add(struct cl_results *r, const struct cl_rec *rec, const char *errkey)
{
	int e = 0;
	pthread_mutex_lock(&r->mu);
	r->sent++;
	if (!errkey) {
		r->ok++;
	} else {
		r->failed++;
		size_t i;
		for (i = 0; i < r->nerr; i++)
			if (!strcmp(r->errs[i].key, errkey))
				break;
		if (i == r->nerr && r->nerr < CL_MAX_ERR_KINDS) {
			snprintf(r->errs[i].key, sizeof(r->errs[i].key), "%s", errkey);
			r->nerr++;
		}
		if (i < r->nerr)
			r->errs[i].count++;
		else
			r->other_errs++;
	}
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 1024;
		if (ncap > CL_MAX_RECORDS)
			ncap = CL_MAX_RECORDS;
		struct cl_rec *nr = NULL;
		if (ncap > r->cap)
			nr = realloc(r->recs, ncap * sizeof(*nr));
		if (nr) {
			r->recs = nr;
			r->cap = ncap;
		}
	}
	if (r->n < r->cap)
		r->recs[r->n++] = *rec;
	else {
		r->not_recorded++;
		e = r->n < CL_MAX_RECORDS ? -ENOMEM : 0;
	}
	pthread_mutex_unlock(&r->mu);
	return e;
}

int cl_results_latencies_ms(const struct cl_results *r, double **ret, size_t *ret_n)
{
	size_t n = 0;
	*ret = NULL;
	*ret_n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += r->recs[i].ok;
	if (n == 0)
		return 0;
	double *v = malloc(n * sizeof(double));
	if (!v)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->recs[i].ok)
			v[k++] = (double)r->recs[i].latency_ns / 1e6;
	*ret = v;
	*ret_n = k;
	return 0;
}
