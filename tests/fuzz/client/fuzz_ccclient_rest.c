/* SPDX-License-Identifier: Apache-2.0 */
/* REST answers: predict results and model metadata (JSON). */
#include <stddef.h>
#include <stdint.h>

#include "rest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cl_predict_resp r;
	char why[200];
	if (cl_rest_parse_predict((const char *)data, size, &r, why, sizeof(why)) == 0)
		cl_predict_resp_free(&r);
	struct cl_sig_input si;
	(void)cl_rest_parse_metadata((const char *)data, size, NULL, &si);
	return 0;
}
