/* SPDX-License-Identifier: Apache-2.0 */
/* Latency statistics for ccclient's summary, JSON report and plot. */
#ifndef CCCLIENT_STATS_H
#define CCCLIENT_STATS_H

#include <stddef.h>
#include <stdint.h>

struct cl_summary {
	size_t n;
	double min, max, mean, stddev;
	double p50, p90, p99;
};

/* Percentile q in [0, 100] of n ascending-sorted values, with linear
 * interpolation between closest ranks (numpy's default "linear" method:
 * position q/100 * (n - 1)).  n == 0 returns NAN. */
double cl_percentile_sorted(const double *sorted, size_t n, double q);

/* Sort a copy of v (n values; NULL allowed when n == 0) and fill *ret.  With
 * n == 0 every field is 0 and ret->n is 0.  Errors: -ENOMEM. */
int cl_summarize(const double *v, size_t n, struct cl_summary *ret);

/* Histogram of n values into nbins equal bins covering [lo, hi]; values
 * outside are clamped into the first/last bin.  counts must hold nbins
 * entries.  nbins 0 or hi < lo: -EINVAL. */
int cl_histogram(const double *v, size_t n, double lo, double hi, size_t nbins,
		 uint64_t *counts);

/* "Nice" axis step for a range (1, 2 or 5 times a power of ten) giving about
 * `target` ticks. */
double cl_nice_step(double range, unsigned target);

#endif
