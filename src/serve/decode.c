/* SPDX-License-Identifier: Apache-2.0 */
/* Request decoding as the server does it, in one entry point for fuzzing. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "serve-internal.h"
#include "model_server_config.pb-c.h"
#include "predict.pb-c.h"
#include "prediction_log.pb-c.h"

static const struct serve_input_spec fuzz_specs[] = {
	{ "x", SERVE_DT_FLOAT }, { "s", SERVE_DT_STRING }, { "i", SERVE_DT_INT64 },
	{ "b", SERVE_DT_BOOL }, { "h", SERVE_DT_HALF }, { "u", SERVE_DT_UINT8 },
};

/* One base-128 varint at p[*i] (at most 10 bytes); false when truncated. */
static bool pb_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *ret)
{
	uint64_t v = 0;
	for (unsigned sh = 0;; sh += 7) {
		if (*i >= len || sh > 63)
			return false;
		v |= (uint64_t)(p[*i] & 0x7f) << sh;
		if (!(p[(*i)++] & 0x80))
			break;
	}
	*ret = v;
	return true;
}

/* Protobuf wire scan from *pos: the next length-delimited field 1 (its
 * payload in *out; *out = NULL at the end of msg), skipping other fields.
 * false: not scannable protobuf. */
static bool pb_next_field1(const uint8_t *p, size_t len, size_t *pos, const uint8_t **out,
			   size_t *out_len)
{
	size_t i = *pos;
	*out = NULL;
	while (i < len) {
		uint64_t key, v;
		if (!pb_varint(p, len, &i, &key))
			return false;
		unsigned wt = key & 7;
		if (wt == 0) {
			if (!pb_varint(p, len, &i, &v))
				return false;
		} else if (wt == 2) {
			if (!pb_varint(p, len, &i, &v) || v > len - i)
				return false;
			i += (size_t)v;
			if ((key >> 3) == 1) {
				*out = p + i - (size_t)v;
				*out_len = (size_t)v;
				*pos = i;
				return true;
			}
		} else if (wt == 1 || wt == 5) {
			size_t w = wt == 1 ? 8 : 4;
			if (w > len - i)
				return false;
			i += w;
		} else {
			return false;
		}
	}
	*pos = i;
	return true;
}

/* The last length-delimited field 1 of msg (strings: the last one wins). */
static bool pb_last_field1(const uint8_t *p, size_t len, const uint8_t **out, size_t *out_len)
{
	bool found = false;
	size_t i = 0;
	while (i < len) {
		const uint8_t *f;
		size_t fl;
		if (!pb_next_field1(p, len, &i, &f, &fl))
			return false;
		if (!f)
			break;
		*out = f;
		*out_len = fl;
		found = true;
	}
	return found;
}

int serve_peek_model_name(const uint8_t *msg, size_t len, char *name, size_t cap)
{
	if (!msg || !name || !cap)
		return -EINVAL;
	/* Every ModelSpec occurrence merges into one: the name is the last one
	 * set in any of them. */
	const uint8_t *nm = NULL;
	size_t nl = 0, i = 0;
	while (i < len) {
		const uint8_t *spec, *n;
		size_t sl, l;
		if (!pb_next_field1(msg, len, &i, &spec, &sl))
			return -ENOENT;
		if (!spec)
			break;
		if (pb_last_field1(spec, sl, &n, &l)) {
			nm = n;
			nl = l;
		}
	}
	if (!nm)
		return -ENOENT;
	if (nl >= cap || memchr(nm, 0, nl))
		return -EINVAL;
	memcpy(name, nm, nl);
	name[nl] = 0;
	return 0;
}

int serve_decode_request(int kind, const uint8_t *data, size_t len)
{
	struct serve_status st = { 0 };
	struct serve_limits lim;
	serve_limits_default(&lim);
	/* Keep single inputs small so the fuzzer explores, not allocates. */
	lim.max_tensor_bytes = 1u << 20;
	lim.max_total_bytes = 4u << 20;
	lim.max_elements = 1u << 18;
	int rc = 0;
	switch (kind) {
	case 0: {
		Tensorflow__Serving__PredictRequest *rq =
			tensorflow__serving__predict_request__unpack(NULL, len, data);
		if (!rq)
			return -EINVAL;
		for (size_t i = 0; i < rq->n_inputs && rc == 0; i++) {
			struct serve_tensor t;
			if (!rq->inputs[i]->value)
				continue;
			rc = serve_tensor_from_proto(rq->inputs[i]->value, rq->inputs[i]->key, &lim, &t, &st);
			if (rc == 0) {
				struct serve_tensor_list l = { .t = &t, .n = 1 };
				char *out = NULL;
				size_t ol;
				if (t.ndims > 0 &&
				    serve_rest_render_predict(&l, SERVE_REST_COLUMNAR, &out, &ol, &st) == 0)
					free(out);
				Tensorflow__TensorProto *tp = NULL;
				if (serve_tensor_to_proto(&t, &tp) == 0)
					tensorflow__tensor_proto__free_unpacked(tp, NULL);
				serve_tensor_clear(&t);
			}
		}
		tensorflow__serving__predict_request__free_unpacked(rq, NULL);
		return rc;
	}
	case 1: {
		struct serve_rest_request r;
		rc = serve_rest_parse_predict((const char *)data, len, fuzz_specs,
					      CC_ARRAY_SIZE(fuzz_specs), &lim, &r, &st);
		if (rc == 0) {
			char *out = NULL;
			size_t ol;
			if (serve_rest_render_predict(&r.inputs, r.format, &out, &ol, &st) == 0)
				free(out);
			serve_rest_request_clear(&r);
		}
		/* Untyped as well. */
		if (serve_rest_parse_predict((const char *)data, len, NULL, 0, &lim, &r, &st) == 0)
			serve_rest_request_clear(&r);
		return rc;
	}
	case 2: {
		char err[256];
		ProtobufCMessage *m = NULL;
		rc = serve_textproto_parse(&tensorflow__serving__model_server_config__descriptor,
					   (const char *)data, len, &m, err, sizeof(err));
		if (rc == 0) {
			struct serve_model_config *cfgs = NULL;
			size_t n = 0;
			if (serve_config_models((void *)m, &cfgs, &n, &st) == 0)
				serve_config_models_free(cfgs, n);
			protobuf_c_message_free_unpacked(m, NULL);
		}
		return rc;
	}
	case 3: {
		Tensorflow__Serving__PredictionLog *pl =
			tensorflow__serving__prediction_log__unpack(NULL, len, data);
		if (!pl)
			return -EINVAL;
		tensorflow__serving__prediction_log__free_unpacked(pl, NULL);
		return 0;
	}
	default:
		return -EINVAL;
	}
}
