/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: request decoding.  The first byte picks the decoder
 * (0 gRPC PredictRequest + TensorProto conversion, 1 REST predict JSON,
 * 2 --model_config_file text proto, 3 warmup PredictionLog); the rest is
 * the input.
 */
#include <stddef.h>
#include <stdint.h>

#include "ccserve/serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	cc_log_set_level(CC_LOG_ERROR);
	serve_decode_request(data[0] % 4, data + 1, size - 1);
	return 0;
}
