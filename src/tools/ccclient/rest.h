/* SPDX-License-Identifier: Apache-2.0 */
/* TensorFlow Serving REST API bodies (JSON) for ccclient. */
#ifndef CCCLIENT_REST_H
#define CCCLIENT_REST_H

#include <stddef.h>
#include <stdint.h>

#include "ccserve/util.h"
#include "pb.h"

#define CL_REST_MAX_DEPTH 16

/* Predict body.  With input_name: the columnar form {"signature_name": s,
 * "inputs": {input_name: tensor}}; without: the row form {"signature_name":
 * s, "instances": [one per batch element]}.  dims[0] is the batch. */
int cl_rest_predict_body(struct cc_buf *out, const char *signature, const char *input_name,
			 const int64_t *dims, size_t ndims, const float *data);

/* Parse a predict answer: {"predictions": ...} (row form) or {"outputs":
 * ...} (columnar), or {"error": "..."} (-EPROTO with the message in
 * errbuf).  Every output becomes one tensor (values flattened, shape taken
 * from the nesting; a row-form answer with several named outputs is
 * regrouped per output).  Errors: CC_E_SYNTAX (not JSON, ragged arrays,
 * non-numbers), CC_E_TOOBIG, -EPROTO, -ENOMEM. */
int cl_rest_parse_predict(const char *body, size_t len, struct cl_predict_resp *ret,
			  char *errbuf, size_t errsz);

/* From a GET /v1/models/M/metadata answer: the signature's input as in
 * cl_pb_decode_metadata(). */
int cl_rest_parse_metadata(const char *body, size_t len, const char *signature,
			   struct cl_sig_input *ret);

#endif
