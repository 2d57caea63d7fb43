/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the C benchmarks in bench/infer. */
#ifndef CCSERVE_BENCH_INFER_COMMON_H
#define CCSERVE_BENCH_INFER_COMMON_H

#include <ccserve/util.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* qsort() order of doubles. */
static inline int bench_cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The value v of option flag as a number in lo..hi, or a message naming
 * program, flag and range on stderr and false. */
static inline bool bench_parse_arg(const char *prog, const char *flag, const char *v, uint64_t lo,
				   uint64_t hi, int *ret)
{
	uint64_t x;
	if (!v || cc_parse_u64(v, &x) || x < lo || x > hi) {
		fprintf(stderr, "%s: %s needs a number in %llu..%llu\n", prog, flag,
			(unsigned long long)lo, (unsigned long long)hi);
		return false;
	}
	*ret = (int)x;
	return true;
}

#endif
