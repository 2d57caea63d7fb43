/* SPDX-License-Identifier: Apache-2.0 */
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ccserve/util.h"

double cl_percentile_sorted(const double *sorted, size_t n, double q)
{
	if (n == 0 || !sorted)
		return NAN;
	if (q <= 0)
		return sorted[0];
	if (q >= 100)
		return sorted[n - 1];
	double pos = q / 100.0 * (double)(n - 1);
	size_t lo = (size_t)floor(pos);
	if (lo >= n - 1)
		return sorted[n - 1];
	double frac = pos - (double)lo;
	return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * frac;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int cl_summarize(const double *v, size_t n, struct cl_summary *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (n == 0)
		return 0;
	size_t bytes;
	if (!cc_mul_ok(n, sizeof(double), &bytes))
		return -ENOMEM;
	double *s = malloc(bytes);
	if (!s)
		return -ENOMEM;
	memcpy(s, v, bytes);
	qsort(s, n, sizeof(double), cmp_double);

	/* Welford's running mean/variance: stable for long runs. */
	double mean = 0, m2 = 0;
	for (size_t i = 0; i < n; i++) {
		double d = s[i] - mean;
		mean += d / (double)(i + 1);
		m2 += d * (s[i] - mean);
	}
	ret->n = n;
	ret->min = s[0];
	ret->max = s[n - 1];
	ret->mean = mean;
	ret->stddev = n > 1 ? sqrt(m2 / (double)n) : 0;
	ret->p50 = cl_percentile_sorted(s, n, 50);
	ret->p90 = cl_percentile_sorted(s, n, 90);
	ret->p99 = cl_percentile_sorted(s, n, 99);
	free(s);
	return 0;
}

int cl_histogram(const double *v, size_t n, double lo, double hi, size_t nbins,
		 uint64_t *counts)
{
	if (nbins == 0 || !counts || !(hi >= lo) || (n && !v))
		return -EINVAL;
	memset(counts, 0, nbins * sizeof(*counts));
	double width = (hi - lo) / (double)nbins;
	for (size_t i = 0; i < n; i++) {
		size_t b;
		if (!(width > 0) || !(v[i] > lo))
			b = 0;
		else if (v[i] >= hi)
			b = nbins - 1;
		else {
			double k = floor((v[i] - lo) / width);
			b = k >= (double)nbins ? nbins - 1 : (size_t)k;
		}
		counts[b]++;
	}
	return 0;
}

double cl_nice_step(double range, unsigned target)
{
	if (!(range > 0) || !isfinite(range) || target == 0)
		return 1;
	double raw = range / target;
	double p = pow(10, floor(log10(raw)));
	double f = raw / p;
	double nice = f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10;
	return nice * p;
}
