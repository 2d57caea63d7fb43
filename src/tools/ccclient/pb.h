/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccclient's protobuf wire code for the few TensorFlow Serving messages it
 * sends and reads: PredictRequest / PredictResponse, GetModelMetadataRequest /
 * GetModelMetadataResponse (SignatureDefMap).  Field numbers follow the
 * published tensorflow_serving/apis and tensorflow/core/framework .proto files.
 *
 * Why not protoc-c generated code: the benchmark builds one request per client
 * and resends the same bytes, so the encoder writes the tensor straight into
 * tensor_content (one copy, no intermediate message tree); and the decoders
 * only need a handful of fields from hostile bytes, which a bounded cursor
 * reads without allocating a message tree per response.  The encoder is
 * cross-checked against the Python protobuf runtime in the tests.
 *
 * All decoders treat their input as hostile: every length is checked against
 * the remaining bytes, nesting is bounded, and counts are capped.
 */
#ifndef CCCLIENT_PB_H
#define CCCLIENT_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccserve/util.h"

/* tensorflow.DataType values used here. */
enum {
	CL_DT_INVALID = 0,
	CL_DT_FLOAT = 1,
	CL_DT_DOUBLE = 2,
	CL_DT_INT32 = 3,
	CL_DT_UINT8 = 4,
	CL_DT_INT64 = 9,
	CL_DT_HALF = 19,
};

#define CL_PB_MAX_DIMS 8
#define CL_PB_MAX_NAME 256

/* Everything a request needs besides the tensor bytes. */
struct cl_model_spec {
	const char *name;           /* required */
	const char *signature_name; /* NULL or "" = omitted */
	int64_t version;            /* < 0 = omitted (latest) */
};

/* Append a serialized PredictRequest to out: model_spec, one input tensor
 * `input_name` of dtype DT_FLOAT with the given shape, its values as
 * little-endian float32 in tensor_content.  data holds prod(dims) floats.
 * Errors: -EINVAL (bad arguments), CC_E_OVERFLOW, CC_E_TOOBIG / -ENOMEM from
 * the buffer. */
int cl_pb_encode_predict(struct cc_buf *out, const struct cl_model_spec *spec,
			 const char *input_name, const int64_t *dims, size_t ndims,
			 const float *data);

/* Append a serialized GetModelMetadataRequest asking for "signature_def". */
int cl_pb_encode_metadata_req(struct cc_buf *out, const struct cl_model_spec *spec);

/* One output tensor of a PredictResponse, converted to float. */
struct cl_tensor {
	char name[CL_PB_MAX_NAME];
	int dtype;
	size_t ndims;
	int64_t dims[CL_PB_MAX_DIMS];
	size_t count;  /* number of values in vals */
	float *vals;   /* malloc()ed, owned by the tensor */
};

#define CL_PB_MAX_OUTPUTS 16
#define CL_PB_MAX_VALUES (64u << 20) /* values per tensor */

struct cl_predict_resp {
	size_t n;
	struct cl_tensor t[CL_PB_MAX_OUTPUTS];
};

/* Parse a PredictResponse.  Float, double, int32/uint8 and int64 tensors are
 * converted to float; tensor_content and the typed repeated fields are both
 * accepted.  Outputs beyond CL_PB_MAX_OUTPUTS fail.  On success the caller
 * frees with cl_predict_resp_free(); on error nothing needs freeing.
 * Errors: CC_E_TRUNCATED, CC_E_SYNTAX (bad wire type, bad tag, shape and value
 * count disagree), CC_E_TOOBIG, -ENOMEM. */
int cl_pb_decode_predict_resp(const uint8_t *data, size_t len, struct cl_predict_resp *ret);
void cl_predict_resp_free(struct cl_predict_resp *r);

/* From a GetModelMetadataResponse: the signature `signature` (NULL or "" =
 * "serving_default"); its input alias when it has exactly one input (else
 * the alias named "input" if present), with dtype and shape (-1 = unknown
 * size).  Errors as above, plus -ENOENT (no such signature / no
 * signature_def metadata) and -E2BIG (several inputs, none chosen). */
struct cl_sig_input {
	char alias[CL_PB_MAX_NAME];
	int dtype;
	size_t ndims;       /* 0 with unknown_rank */
	int64_t dims[CL_PB_MAX_DIMS];
	size_t n_inputs;    /* inputs the signature has */
	size_t n_outputs;
};
int cl_pb_decode_metadata(const uint8_t *data, size_t len, const char *signature,
			  struct cl_sig_input *ret);

/* Low-level wire helpers, exposed for the tests. */
int cl_pb_put_varint(struct cc_buf *b, uint64_t v);
int cl_pb_get_varint(struct cc_reader *r, uint64_t *ret);

#endif
