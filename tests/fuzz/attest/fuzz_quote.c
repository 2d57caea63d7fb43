/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Quote parsing (binary, hex, base64) and full verification against fixed
 * real collateral and against a fixed time inside its window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ccserve/attest.h>
#include <ccserve/util.h>

#include "ccserve-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet_sink(void *ud, enum cc_log_level l, const char *c, const char *m)
{
	(void)ud;
	(void)l;
	(void)c;
	(void)m;
}

static struct attest_collateral *coll;
static struct attest_verifier *ver;
static int64_t at;

static void init(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	cc_log_set_sink(quiet_sink, NULL);
	const char *root = getenv("CCSERVE_SHARED_TESTDATA");
	char path[4096];
	snprintf(path, sizeof(path), "%s/tdx/collateral/dqvl-2025-06/collateral.json",
		 root ? root : CCSERVE_SHARED_TESTDATA);
	if (attest_collateral_load(path, &coll) < 0)
		coll = NULL;
	if (attest_verifier_new(&ver, NULL) < 0)
		ver = NULL;
	cc_time_parse("2025-07-01T00:00:00Z", &at);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	struct attest_quote *q = NULL;
	if (attest_quote_parse_any(data, size, &q) == 0) {
		uint8_t fm[6], pce[2];
		attest_quote_pck_info(q, fm, pce);
		if (coll && ver) {
			struct attest_result res;
			struct attest_policy *p = NULL;
			if (attest_verify(ver, q, coll, at, &res) == 0 &&
			    attest_policy_new_default(&p) == 0) {
				struct attest_policy_verdict v;
				attest_policy_eval(p, &res, &v);
			}
			attest_policy_free(p);
		}
		attest_quote_free(q);
	}
	return 0;
}
