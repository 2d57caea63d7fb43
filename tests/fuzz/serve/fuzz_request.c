/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: request decoding.  The first byte picks the decoder
 * (0 gRPC PredictRequest + TensorProto conversion, 1 REST predict JSON,
 * 2 --model_config_file text proto, 3 warmup PredictionLog); the rest is
 * the input.  For kind 0 the model-name wire scan the server uses to pick
 * its thread must agree with protobuf-c's decoding of every message that
 * decodes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccserve/serve.h"
#include "predict.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	cc_log_set_level(CC_LOG_ERROR);
	serve_decode_request(data[0] % 4, data + 1, size - 1);
	if (data[0] % 4 == 0) {
		char name[256];
		int rc = serve_peek_model_name(data + 1, size - 1, name, sizeof(name));
		Tensorflow__Serving__PredictRequest *rq =
			tensorflow__serving__predict_request__unpack(NULL, size - 1, data + 1);
		if (rq) {
			const char *want = rq->model_spec && rq->model_spec->name
						   ? rq->model_spec->name
						   : "";
			/* protobuf-c keeps strings up to their first NUL; the scan
			 * refuses those (-EINVAL), and names over 255 bytes. */
			if (rc == 0 && strcmp(want, name))
				abort();
			if (rc == -ENOENT && want[0])
				abort();
			tensorflow__serving__predict_request__free_unpacked(rq, NULL);
		}
	}
	return 0;
}
