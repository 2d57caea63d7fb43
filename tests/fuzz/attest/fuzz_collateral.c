/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collateral parsing.  The first byte selects the parser: 0 dcap-qvl JSON
 * bundle (TCB Info / QE Identity / CRLs / chains), 1 the raw-value span
 * scanner on a PCS response body, 2 a release policy.
 */
#include <stdlib.h>
#include <string.h>

#include <ccserve/attest.h>
#include <ccserve/util.h>

#include "internal.h"
#include "../fuzz_fail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet_sink(void *ud, enum cc_log_level l, const char *c, const char *m)
{
	(void)ud;
	(void)l;
	(void)c;
	(void)m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	if (!quiet) {
		cc_log_set_sink(quiet_sink, NULL);
		quiet = true;
	}
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (data[0] % 3) {
	case 0: {
		struct attest_collateral *c = NULL;
		if (attest_collateral_load_bundle(p, n, &c) == 0) {
			uint8_t fm[6];
			int64_t a, b;
			attest_collateral_info(c, fm, &a, &b);
		}
		attest_collateral_free(c);
		break;
	}
	case 1: {
		size_t off, len;
		if (attest_json_value_span((const char *)p, n, "tcbInfo", &off, &len) == 0) {
			if (off > n || len > n - off)
				fuzz_fail(); /* span must lie inside the input */
		}
		break;
	}
	default: {
		struct attest_policy *pol = NULL;
		if (attest_policy_parse(p, n, &pol) == 0) {
			struct attest_result r;
			memset(&r, 0, sizeof(r));
			struct attest_policy_verdict v;
			attest_policy_eval(pol, &r, &v);
		}
		attest_policy_free(pol);
		break;
	}
	}
	return 0;
}
