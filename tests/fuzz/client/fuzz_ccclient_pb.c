/* SPDX-License-Identifier: Apache-2.0 */
/* ccclient's protobuf decoders: PredictResponse and GetModelMetadataResponse
 * bytes as a server (or anything on the path) may send them. */
#include <stddef.h>
#include <stdint.h>

#include "pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cl_predict_resp r;
	if (cl_pb_decode_predict_resp(data, size, &r) == 0)
		cl_predict_resp_free(&r);
	struct cl_sig_input si;
	(void)cl_pb_decode_metadata(data, size, NULL, &si);
	(void)cl_pb_decode_metadata(data, size, "other", &si);
	return 0;
}
