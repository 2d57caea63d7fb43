/* SPDX-License-Identifier: Apache-2.0 */
/* Private declarations shared by the serve library's sources. */
#ifndef CCSERVE_SERVE_INTERNAL_H
#define CCSERVE_SERVE_INTERNAL_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ccserve/serve.h"
#include "ccserve/util.h"

#define SERVE_LOG "serve"

/* Size of one element of a protobuf-c repeated array of type t. */
static inline size_t serve_pb_elt_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	}
	return 8;
}

/* Strict bounded strdup (NULL on allocation failure). */
static inline char *serve_strndup(const char *s, size_t n)
{
	char *r = malloc(n + 1);
	if (r) {
		memcpy(r, s, n);
		r[n] = '\0';
	}
	return r;
}

/* IEEE half <-> float. */
uint16_t serve_float_to_half(float f);
float serve_half_to_float(uint16_t h);

/* Serialized Examples of a Classify / Regress / MultiInference request
 * (owned). */
struct serve_ex_batch {
	struct serve_bytes *ex;
	size_t n;
	struct serve_bytes ctx;
	bool has_ctx;
};
void serve_ex_batch_clear(struct serve_ex_batch *b);
struct Tensorflow__Serving__Input;
/* TF Serving's InputToSerializedExampleTensor: example_list or
 * example_list_with_context (the context's features go to every Example);
 * no Example is INVALID_ARGUMENT "Input is empty.".  Errors: -EINVAL,
 * -ENOMEM (st set). */
int serve_ex_batch_from_input(const struct Tensorflow__Serving__Input *in,
			      struct serve_ex_batch *b, struct serve_status *st);

/* CRC-32C (Castagnoli), as TFRecord uses. */
uint32_t serve_crc32c(const uint8_t *p, size_t n);

/* True when data is valid UTF-8. */
bool serve_utf8_valid(const uint8_t *p, size_t n);

#endif
