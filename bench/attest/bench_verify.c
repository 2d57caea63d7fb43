/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Quote verifications per second on one core with collateral loaded and its
 * quote-independent checks done once (cached), next to the raw ECDSA P-256
 * verify rate of `openssl speed -seconds 3 ecdsap256` measured in the same
 * run.  Target: >= 25% of the raw rate.
 * `openssl speed` divides by the process's user CPU time, not wall time, so
 * this benchmark also counts CPU time (user + system, CLOCK_PROCESS_CPUTIME_ID)
 * for the ratio; the wall-clock rate is printed too (shared machines).
 *   bench_attest_verify [--smoke]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ccserve/attest.h>
#include <ccserve/util.h>

#include "ccserve-config.h"

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double openssl_speed_verify(void)
{
	FILE *p = popen("openssl speed -seconds 3 ecdsap256 2>/dev/null", "r");
	if (!p)
		return 0;
	char line[512];
	double v = 0;
	while (fgets(line, sizeof(line), p)) {
		if (!strstr(line, "nistp256"))
			continue;
		/* "256 bits ecdsa (nistp256)   0.0000s   0.0000s  sign/s  verify/s" */
		char *last = NULL, *tok = line, *save = NULL;
		for (char *t = strtok_r(tok, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save))
			last = t;
		if (last)
			v = strtod(last, NULL);
	}
	pclose(p);
	return v;
}

int main(int argc, char **argv)
{
	bool smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
	const char *root = getenv("CCSERVE_SHARED_TESTDATA");
	if (!root)
		root = CCSERVE_SHARED_TESTDATA;
	char qp[4096], cp[4096];
	snprintf(qp, sizeof(qp), "%s/tdx/quotes/v4-uptodate.dat", root);
	snprintf(cp, sizeof(cp), "%s/tdx/collateral/dqvl-2025-06/collateral.json", root);
	uint8_t *qb;
	size_t qn;
	if (cc_file_read(qp, 1 << 20, false, &qb, &qn) < 0) {
		fprintf(stderr, "bench: cannot read %s\n", qp);
		return 1;
	}
	struct attest_quote *q;
	struct attest_collateral *c;
	struct attest_verifier *v;
	int64_t at;
	cc_time_parse("2025-07-01T00:00:00Z", &at);
	if (attest_quote_parse(qb, qn, &q) < 0 || attest_collateral_load(cp, &c) < 0 ||
	    attest_verifier_new(&v, NULL) < 0) {
		fprintf(stderr, "bench: setup failed\n");
		return 1;
	}
	free(qb);
	struct attest_result res;
	uint64_t t0 = cc_mono_ns();
	if (attest_verify(v, q, c, at, &res) != 0) {
		fprintf(stderr, "bench: verification failed\n");
		return 1;
	}
	double first_ms = (double)(cc_mono_ns() - t0) / 1e6;

	/* per-quote cost: parse + verify, as a broker does for each request */
	double secs = smoke ? 0.05 : 3.0;
	uint64_t n = 0;
	double c0 = cpu_s();
	t0 = cc_mono_ns();
	uint64_t end = t0 + (uint64_t)(secs * 1e9);
	while (cc_mono_ns() < end) {
		for (int i = 0; i < 16; i++) {
			struct attest_quote *qq;
			if (attest_quote_parse(q->raw, q->raw_len, &qq) < 0 ||
			    attest_verify(v, qq, c, at, &res) != 0) {
				fprintf(stderr, "bench: verification failed\n");
				return 1;
			}
			attest_quote_free(qq);
			n++;
		}
	}
	double el = (double)(cc_mono_ns() - t0) / 1e9;
	double cpu = cpu_s() - c0;
	double rate = (double)n / cpu;
	printf("attest verify (parse + full DCAP verify, cached collateral): %.0f quotes per CPU-second "
	       "(%.1f us CPU each; %.0f/s wall-clock)\n", rate, 1e6 / rate, (double)n / el);
	printf("first verification incl. collateral checks: %.2f ms\n", first_ms);
	/* a platform seen for the first time: new verifier, so its PCK chain
	 * is parsed and checked (the collateral stays cached) */
	uint64_t m = 0;
	c0 = cpu_s();
	end = cc_mono_ns() + (uint64_t)(secs / 3 * 1e9);
	while (cc_mono_ns() < end) {
		struct attest_verifier *fresh;
		if (attest_verifier_new(&fresh, NULL) < 0 || attest_verify(fresh, q, c, at, &res) != 0) {
			fprintf(stderr, "bench: verification failed\n");
			return 1;
		}
		attest_verifier_free(fresh);
		m++;
	}
	double cold = (double)m / (cpu_s() - c0);
	printf("new verifier + first quote (root, PCK chain parsed and checked): %.0f quotes per CPU-second\n", cold);
	if (!smoke) {
		double base = openssl_speed_verify();
		if (base > 0) {
			printf("openssl speed -seconds 3 ecdsap256: %.0f verify/s\n", base);
			printf("ratio: %.1f%% of the raw ECDSA P-256 verify rate (target >= 25%%; %.2f verify-equivalents per quote)\n",
			       100.0 * rate / base, base / rate);
			printf("new verifier + first quote: %.1f%% (%.1f verify-equivalents)\n", 100.0 * cold / base,
			       base / cold);
		} else {
			printf("openssl speed unavailable: no baseline\n");
		}
	}
	attest_verifier_free(v);
	attest_collateral_free(c);
	attest_quote_free(q);
	return 0;
}
