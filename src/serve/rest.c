/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TF Serving's REST JSON: predict request bodies in row ("instances") and
 * columnar ("inputs") formats into tensors, and outputs back into
 * {"predictions": ...} / {"outputs": ...}; classify / regress bodies
 * ({"context", "examples"}) into serialized tf.Examples and results back
 * into {"results": ...}.  JSON numbers are typed by the
 * signature's dtype, {"b64": "..."} carries binary strings.  Parsing goes
 * through json-c with a depth cap; every size is bounded.
 */
#include <errno.h>
#include <float.h>
#include <math.h>

#include <json-c/json.h>

#include "serve-internal.h"

#define REST_MAX_DEPTH 64

void serve_rest_request_clear(struct serve_rest_request *r)
{
	if (!r)
		return;
	free(r->signature_name);
	serve_tensor_list_clear(&r->inputs);
	memset(r, 0, sizeof(*r));
}

static const char *jtype(json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null: return "Null";
	case json_type_boolean: return "Boolean";
	case json_type_double:
	case json_type_int: return "Number";
	case json_type_object: return "Object";
	case json_type_array: return "Array";
	case json_type_string: return "String";
	}
	return "Unknown";
}

/* A short rendering of v for error messages. */
static const char *jshort(json_object *v, char *buf, size_t n)
{
	const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
	snprintf(buf, n, "%.80s%s", s ? s : "?", s && strlen(s) > 80 ? "..." : "");
	return buf;
}

static bool is_b64_obj(json_object *v)
{
	json_object *b;
	return json_object_is_type(v, json_type_object) && json_object_object_length(v) == 1 &&
	       json_object_object_get_ex(v, "b64", &b);
}

struct builder {
	struct serve_tensor *t;
	size_t n, i;           /* elements expected / filled */
	const struct serve_limits *lim;
	struct serve_status *st;
	size_t *total;         /* bytes across the request */
};

static int put_scalar(struct builder *b, json_object *v)
{
	char sb[128];
	struct serve_tensor *t = b->t;
	if (b->i >= b->n)
		return serve_status_set(b->st, SERVE_INVALID_ARGUMENT, "too many values"), -EINVAL;
	enum json_type jt = json_object_get_type(v);
	size_t i = b->i++;
	if (t->dtype == SERVE_DT_STRING) {
		const char *s;
		size_t len;
		uint8_t *data = NULL;
		if (jt == json_type_string) {
			s = json_object_get_string(v);
			len = (size_t)json_object_get_string_len(v);
			data = malloc(len ? len : 1);
			if (!data)
				return -ENOMEM;
			memcpy(data, s, len);
		} else if (is_b64_obj(v)) {
			json_object *bv;
			json_object_object_get_ex(v, "b64", &bv);
			if (!json_object_is_type(bv, json_type_string))
				goto b64err;
			s = json_object_get_string(bv);
			int rc = cc_base64_decode_alloc(s, (size_t)json_object_get_string_len(bv),
							CC_B64_STD, &data, &len);
			if (rc == -ENOMEM)
				return rc;
			if (rc < 0) {
				/* TF Serving also accepts the URL-safe alphabet. */
				rc = cc_base64_decode_alloc(s, (size_t)json_object_get_string_len(bv),
							    CC_B64_URL, &data, &len);
				if (rc == -ENOMEM)
					return rc;
				if (rc < 0)
					return serve_status_set(b->st, SERVE_INVALID_ARGUMENT,
								"Unable to base64 decode"), -EINVAL;
			}
		} else {
			goto typeerr;
		}
		if (!cc_add_ok(*b->total, len, b->total) || *b->total > b->lim->max_total_bytes) {
			free(data);
			return serve_status_set(b->st, SERVE_INVALID_ARGUMENT,
						"request larger than %zu bytes", b->lim->max_total_bytes),
			       -EINVAL;
		}
		t->strs[i].data = data;
		t->strs[i].len = len;
		return 0;
	}
	uint8_t *d = t->data;
	switch (t->dtype) {
	case SERVE_DT_FLOAT:
	case SERVE_DT_DOUBLE:
	case SERVE_DT_HALF:
	case SERVE_DT_BFLOAT16: {
		if (jt != json_type_double && jt != json_type_int)
			goto typeerr;
		double x = json_object_get_double(v);
		if (t->dtype == SERVE_DT_DOUBLE) {
			memcpy(d + i * 8, &x, 8);
		} else {
			float f = (float)x;
			if (t->dtype == SERVE_DT_FLOAT) {
				memcpy(d + i * 4, &f, 4);
			} else {
				uint32_t u;
				memcpy(&u, &f, 4);
				uint16_t h;
				if (t->dtype == SERVE_DT_BFLOAT16) {
					/* round to nearest even */
					h = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
					if (isnan(f))
						h = 0x7fc0;
				} else {
					h = serve_float_to_half(f);
				}
				memcpy(d + i * 2, &h, 2);
			}
		}
		return 0;
	}
	case SERVE_DT_BOOL:
		if (jt != json_type_boolean)
			goto typeerr;
		d[i] = json_object_get_boolean(v) ? 1 : 0;
		return 0;
	default:
		break;
	}
	if (jt != json_type_int)
		goto typeerr;
	errno = 0;
	int64_t x = json_object_get_int64(v);
	uint64_t ux = json_object_get_uint64(v);
	bool neg_big = x < 0;
	switch (t->dtype) {
	case SERVE_DT_INT32:
		if (x < INT32_MIN || x > INT32_MAX)
			goto rangeerr;
		{ int32_t y = (int32_t)x; memcpy(d + i * 4, &y, 4); }
		return 0;
	case SERVE_DT_INT16:
		if (x < INT16_MIN || x > INT16_MAX)
			goto rangeerr;
		{ int16_t y = (int16_t)x; memcpy(d + i * 2, &y, 2); }
		return 0;
	case SERVE_DT_INT8:
		if (x < INT8_MIN || x > INT8_MAX)
			goto rangeerr;
		d[i] = (uint8_t)(int8_t)x;
		return 0;
	case SERVE_DT_UINT8:
		if (x < 0 || x > UINT8_MAX)
			goto rangeerr;
		d[i] = (uint8_t)x;
		return 0;
	case SERVE_DT_UINT16:
		if (x < 0 || x > UINT16_MAX)
			goto rangeerr;
		{ uint16_t y = (uint16_t)x; memcpy(d + i * 2, &y, 2); }
		return 0;
	case SERVE_DT_INT64:
		if (x == INT64_MAX && ux > (uint64_t)INT64_MAX)
			goto rangeerr;
		memcpy(d + i * 8, &x, 8);
		return 0;
	case SERVE_DT_UINT32:
		if (neg_big || x > (int64_t)UINT32_MAX)
			goto rangeerr;
		{ uint32_t y = (uint32_t)x; memcpy(d + i * 4, &y, 4); }
		return 0;
	case SERVE_DT_UINT64:
		if (neg_big)
			goto rangeerr;
		memcpy(d + i * 8, &ux, 8);
		return 0;
	default:
		break;
	}
typeerr:
	return serve_status_set(b->st, SERVE_INVALID_ARGUMENT,
				"JSON Value: %s Type: %s is not of expected type: %s",
				jshort(v, sb, sizeof(sb)), jtype(v), serve_dtype_name(t->dtype)),
	       -EINVAL;
rangeerr:
	return serve_status_set(b->st, SERVE_INVALID_ARGUMENT,
				"JSON Value: %s is out of range for type %s",
				jshort(v, sb, sizeof(sb)), serve_dtype_name(t->dtype)),
	       -EINVAL;
b64err:
	return serve_status_set(b->st, SERVE_INVALID_ARGUMENT,
				"JSON Value: %s not formatted correctly for base64 data",
				jshort(v, sb, sizeof(sb))),
	       -EINVAL;
}

/* Shape of a nested JSON list: follow the first element down. */
static int json_shape(json_object *v, int64_t *dims, int *ndims, struct serve_status *st)
{
	int n = 0;
	while (json_object_is_type(v, json_type_array)) {
		if (n >= SERVE_MAX_DIMS)
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"JSON list nested deeper than %d", SERVE_MAX_DIMS),
			       -EINVAL;
		size_t len = json_object_array_length(v);
		dims[n++] = (int64_t)len;
		if (len == 0)
			break;
		v = json_object_array_get_idx(v, 0);
	}
	*ndims = n;
	return 0;
}

static int fill(struct builder *b, json_object *v, int level, int off)
{
	struct serve_tensor *t = b->t;
	int rank = t->ndims;
	if (json_object_is_type(v, json_type_array)) {
		if (level >= rank)
			return serve_status_set(b->st, SERVE_INVALID_ARGUMENT,
						"Encountered list at unexpected level: %d expected < %d",
						level - off, rank - off),
			       -EINVAL;
		size_t len = json_object_array_length(v);
		if ((int64_t)len != t->dims[level])
			return serve_status_set(b->st, SERVE_INVALID_ARGUMENT,
						"Encountered list at unexpected size: %zu at level: %d "
						"expected size: %" PRId64,
						len, level - off, t->dims[level]),
			       -EINVAL;
		for (size_t i = 0; i < len; i++) {
			int rc = fill(b, json_object_array_get_idx(v, i), level + 1, off);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (level != rank) {
		char sb[128];
		return serve_status_set(b->st, SERVE_INVALID_ARGUMENT,
					"JSON Value: %s found at incorrect level: %d in the JSON DOM. "
					"Expected at level: %d",
					jshort(v, sb, sizeof(sb)), level + 1 - off, rank - off),
		       -EINVAL;
	}
	return put_scalar(b, v);
}

static int alloc_tensor(struct serve_tensor *t, const struct serve_limits *lim, size_t *total,
			size_t *ret_n, struct serve_status *st)
{
	size_t n;
	if (serve_tensor_elements(t, &n) < 0 || n > lim->max_elements)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT, "tensor has too many elements"),
		       -EINVAL;
	if (t->dtype == SERVE_DT_STRING) {
		if (n) {
			t->strs = calloc(n, sizeof(*t->strs));
			if (!t->strs)
				return -ENOMEM;
		}
		t->nstrs = n;
	} else {
		size_t bytes;
		if (!cc_mul_ok(n, serve_dtype_size(t->dtype), &bytes) ||
		    bytes > lim->max_tensor_bytes || !cc_add_ok(*total, bytes, total) ||
		    *total > lim->max_total_bytes)
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"tensor larger than %zu bytes", lim->max_tensor_bytes),
			       -EINVAL;
		t->data = calloc(1, bytes ? bytes : 1);
		if (!t->data)
			return -ENOMEM;
		t->nbytes = bytes;
	}
	*ret_n = n;
	return 0;
}

static enum serve_dtype spec_dtype(const struct serve_input_spec *specs, size_t nspecs,
				   const char *name, json_object *sample)
{
	for (size_t i = 0; i < nspecs; i++)
		if (!name || !specs[i].name || !strcmp(specs[i].name, name))
			if (name || nspecs == 1)
				return specs[i].dtype;
	/* No signature information: guess from the first scalar. */
	while (json_object_is_type(sample, json_type_array) && json_object_array_length(sample))
		sample = json_object_array_get_idx(sample, 0);
	if (json_object_is_type(sample, json_type_string) || is_b64_obj(sample))
		return SERVE_DT_STRING;
	if (json_object_is_type(sample, json_type_boolean))
		return SERVE_DT_BOOL;
	return SERVE_DT_FLOAT;
}

static int add_tensor(struct serve_tensor_list *l, const struct serve_limits *lim,
		      struct serve_status *st, struct serve_tensor **ret)
{
	if (l->n >= lim->max_tensors)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT, "more than %zu inputs",
					lim->max_tensors),
		       -EINVAL;
	struct serve_tensor *nt = realloc(l->t, (l->n + 1) * sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	l->t = nt;
	memset(&nt[l->n], 0, sizeof(*nt));
	*ret = &nt[l->n++];
	return 0;
}

/* Columnar value -> tensor. */
static int columnar_tensor(json_object *v, const char *name, enum serve_dtype dt,
			   const struct serve_limits *lim, size_t *total, struct serve_tensor *t,
			   struct serve_status *st)
{
	t->dtype = dt;
	if (name && !(t->name = strdup(name)))
		return -ENOMEM;
	int rc = json_shape(v, t->dims, &t->ndims, st);
	if (rc < 0)
		return rc;
	size_t n;
	rc = alloc_tensor(t, lim, total, &n, st);
	if (rc < 0)
		return rc;
	struct builder b = { .t = t, .n = n, .lim = lim, .st = st, .total = total };
	rc = fill(&b, v, 0, 0);
	if (rc < 0)
		return rc;
	if (b.i != n)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"Expecting tensor size: %zu but got: %zu", n, b.i),
		       -EINVAL;
	return 0;
}

/* Row format: instances[] of values (one unnamed input) or objects. */
static int row_tensor(json_object *inst, const char *name, enum serve_dtype dt,
		      const struct serve_limits *lim, size_t *total, struct serve_tensor *t,
		      struct serve_status *st)
{
	size_t count = json_object_array_length(inst);
	t->dtype = dt;
	if (name && !(t->name = strdup(name)))
		return -ENOMEM;
	json_object *first = json_object_array_get_idx(inst, 0);
	if (name) {
		json_object *x;
		if (!json_object_object_get_ex(first, name, &x))
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"JSON object: does not have named input: %s", name),
			       -EINVAL;
		first = x;
	}
	int64_t dims[SERVE_MAX_DIMS];
	int nd;
	int rc = json_shape(first, dims, &nd, st);
	if (rc < 0)
		return rc;
	if (nd + 1 > SERVE_MAX_DIMS)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT, "too many dimensions"), -EINVAL;
	t->ndims = nd + 1;
	t->dims[0] = (int64_t)count;
	for (int i = 0; i < nd; i++)
		t->dims[i + 1] = dims[i];
	size_t n;
	rc = alloc_tensor(t, lim, total, &n, st);
	if (rc < 0)
		return rc;
	struct builder b = { .t = t, .n = n, .lim = lim, .st = st, .total = total };
	for (size_t i = 0; i < count; i++) {
		json_object *e = json_object_array_get_idx(inst, i);
		if (name) {
			json_object *x;
			if (!json_object_is_type(e, json_type_object) || is_b64_obj(e))
				return serve_status_set(st, SERVE_INVALID_ARGUMENT,
							"Expecting object but got list at item %zu of input list",
							i),
				       -EINVAL;
			if (!json_object_object_get_ex(e, name, &x))
				return serve_status_set(st, SERVE_INVALID_ARGUMENT,
							"Failed to process element: %zu of 'instances' list. "
							"JSON object: does not have named input: %s",
							i, name),
				       -EINVAL;
			e = x;
		} else if (json_object_is_type(e, json_type_object) && !is_b64_obj(e)) {
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"Expecting value/list but got object at item %zu of input list",
						i),
			       -EINVAL;
		}
		rc = fill(&b, e, 1, 1);
		if (rc < 0) {
			char tmp[SERVE_STATUS_MSG_MAX];
			snprintf(tmp, sizeof(tmp), "%s", st->msg);
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"Failed to process element: %zu of 'instances' list. Error: %s",
						i, tmp),
			       -EINVAL;
		}
	}
	if (b.i != n)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"Expecting tensor size: %zu but got: %zu", n, b.i),
		       -EINVAL;
	return 0;
}

struct fixed_specs {
	const struct serve_input_spec *specs;
	size_t n;
};

static int fixed_resolve(void *ud, const char *signame, const struct serve_input_spec **specs,
			 size_t *n, struct serve_status *st)
{
	(void)signame;
	(void)st;
	const struct fixed_specs *f = ud;
	*specs = f->specs;
	*n = f->n;
	return 0;
}

int serve_rest_parse_predict(const char *body, size_t len, const struct serve_input_spec *specs,
			     size_t nspecs, const struct serve_limits *lim,
			     struct serve_rest_request *ret, struct serve_status *st)
{
	struct fixed_specs f = { specs, nspecs };
	return serve_rest_parse_predict_cb(body, len, fixed_resolve, &f, lim, ret, st);
}

/* Parses a whole request body (strict JSON, depth-capped, nothing after
 * the root value) into *ret. */
static int parse_doc(const char *body, size_t len, const struct serve_limits *lim,
		     json_object **ret, struct serve_status *st)
{
	if (len == 0)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"JSON Parse error: The document is empty"), -EINVAL;
	if (len > lim->max_total_bytes || len > INT32_MAX)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT, "request body too large"),
		       -EINVAL;
	json_tokener *tok = json_tokener_new_ex(REST_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *doc = json_tokener_parse_ex(tok, body, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t off = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!doc || jerr != json_tokener_success) {
		json_object_put(doc);
		if (jerr == json_tokener_continue)
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"JSON Parse error: The document is incomplete"),
			       -EINVAL;
		return serve_status_set(st, SERVE_INVALID_ARGUMENT, "JSON Parse error: %s at offset: %zu",
					json_tokener_error_desc(jerr), off),
		       -EINVAL;
	}
	for (size_t i = off; i < len; i++)
		if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' && body[i] != '\t') {
			json_object_put(doc);
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"JSON Parse error: The document root must not be "
						"followed by other values at offset: %zu", i),
			       -EINVAL;
		}
	*ret = doc;
	return 0;
}

int serve_rest_parse_predict_cb(const char *body, size_t len, serve_spec_resolve_fn resolve,
				void *ud, const struct serve_limits *lim,
				struct serve_rest_request *ret, struct serve_status *st)
{
	const struct serve_input_spec *specs = NULL;
	size_t nspecs = 0;
	struct serve_limits dl;
	if (!lim) {
		serve_limits_default(&dl);
		lim = &dl;
	}
	struct serve_rest_request r = { 0 };
	size_t total = 0;
	int rc;
	json_object *doc;
	if ((rc = parse_doc(body, len, lim, &doc, st)) < 0)
		return rc;
	char sb[128];
	if (!json_object_is_type(doc, json_type_object)) {
		rc = serve_status_set(st, SERVE_INVALID_ARGUMENT, "JSON Value: %s Is not object",
				      jshort(doc, sb, sizeof(sb)));
		goto bad;
	}
	json_object *sig, *inst = NULL, *inputs = NULL;
	if (json_object_object_get_ex(doc, "signature_name", &sig)) {
		if (!json_object_is_type(sig, json_type_string)) {
			rc = serve_status_set(st, SERVE_INVALID_ARGUMENT,
					      "JSON Value: %s not formatted correctly. 'signature_name' "
					      "key must be a string value.",
					      jshort(doc, sb, sizeof(sb)));
			goto bad;
		}
		r.signature_name = strdup(json_object_get_string(sig));
		if (!r.signature_name)
			goto oom;
	}
	rc = resolve(ud, r.signature_name, &specs, &nspecs, st);
	if (rc < 0)
		goto bad;
	bool has_inst = json_object_object_get_ex(doc, "instances", &inst);
	bool has_inputs = json_object_object_get_ex(doc, "inputs", &inputs);
	if (has_inst && has_inputs) {
		rc = serve_status_set(st, SERVE_INVALID_ARGUMENT,
				      "JSON Value: %s Not formatted correctly expecting only one of "
				      "'inputs' or 'instances' keys to exist ",
				      jshort(doc, sb, sizeof(sb)));
		goto bad;
	}
	if (!has_inst && !has_inputs) {
		rc = serve_status_set(st, SERVE_INVALID_ARGUMENT, "Missing 'inputs' or 'instances' key");
		goto bad;
	}
	struct serve_tensor *t;
	if (has_inst) {
		r.format = SERVE_REST_ROW;
		if (!json_object_is_type(inst, json_type_array)) {
			rc = serve_status_set(st, SERVE_INVALID_ARGUMENT,
					      "JSON Value: %s Expecting 'instances' to be an list/array",
					      jshort(doc, sb, sizeof(sb)));
			goto bad;
		}
		if (json_object_array_length(inst) == 0) {
			rc = serve_status_set(st, SERVE_INVALID_ARGUMENT,
					      "JSON Value: %s No values in 'instances' array",
					      jshort(doc, sb, sizeof(sb)));
			goto bad;
		}
		json_object *first = json_object_array_get_idx(inst, 0);
		if (json_object_is_type(first, json_type_object) && !is_b64_obj(first)) {
			r.named = true;
			json_object_object_foreach(first, key, val) {
				(void)val;
				rc = add_tensor(&r.inputs, lim, st, &t);
				if (rc < 0)
					goto bad;
				rc = row_tensor(inst, key, spec_dtype(specs, nspecs, key, val), lim,
						&total, t, st);
				if (rc < 0)
					goto bad;
			}
			/* Every instance must name exactly the same inputs. */
			size_t nk = (size_t)json_object_object_length(first);
			for (size_t i = 1; i < json_object_array_length(inst); i++) {
				json_object *e = json_object_array_get_idx(inst, i);
				if ((size_t)json_object_object_length(e) != nk) {
					rc = serve_status_set(st, SERVE_INVALID_ARGUMENT,
							      "Failed to process element: %zu of 'instances' "
							      "list. JSON object keys must be equal to those "
							      "of element 0", i);
					goto bad;
				}
			}
		} else {
			if (nspecs > 1) {
				rc = serve_status_set(st, SERVE_INVALID_ARGUMENT,
						      "instances is a plain list, but expecting list of "
						      "objects as multiple input tensors required as per "
						      "tensorinfo_map");
				goto bad;
			}
			rc = add_tensor(&r.inputs, lim, st, &t);
			if (rc < 0)
				goto bad;
			rc = row_tensor(inst, NULL, spec_dtype(specs, nspecs, NULL, first), lim, &total,
					t, st);
			if (rc < 0)
				goto bad;
		}
	} else {
		r.format = SERVE_REST_COLUMNAR;
		if (json_object_is_type(inputs, json_type_object) && !is_b64_obj(inputs)) {
			r.named = true;
			json_object_object_foreach(inputs, key, val) {
				rc = add_tensor(&r.inputs, lim, st, &t);
				if (rc < 0)
					goto bad;
				rc = columnar_tensor(val, key, spec_dtype(specs, nspecs, key, val), lim,
						     &total, t, st);
				if (rc < 0)
					goto bad;
			}
		} else {
			if (nspecs > 1) {
				rc = serve_status_set(st, SERVE_INVALID_ARGUMENT,
						      "inputs is a plain value/list, but expecting an "
						      "object as multiple input tensors required as per "
						      "tensorinfo_map");
				goto bad;
			}
			rc = add_tensor(&r.inputs, lim, st, &t);
			if (rc < 0)
				goto bad;
			rc = columnar_tensor(inputs, NULL, spec_dtype(specs, nspecs, NULL, inputs), lim,
					     &total, t, st);
			if (rc < 0)
				goto bad;
		}
	}
	json_object_put(doc);
	*ret = r;
	return 0;
oom:
	rc = -ENOMEM;
bad:
	json_object_put(doc);
	serve_rest_request_clear(&r);
	if (rc == -ENOMEM) {
		serve_status_set(st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		return -ENOMEM;
	}
	return -EINVAL;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

static int put_json_string(struct cc_buf *b, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	int rc = cc_buf_putc(b, '"');
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t c = s[i];
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			rc = cc_buf_append(b, e, 2);
		} else if (c < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			rc = cc_buf_append(b, e, 6);
		} else {
			rc = cc_buf_putc(b, (char)c);
		}
	}
	if (rc == 0)
		rc = cc_buf_putc(b, '"');
	return rc;
}

static int put_double(struct cc_buf *b, double x, bool is_float)
{
	if (isnan(x))
		return cc_buf_puts(b, "NaN");
	if (isinf(x))
		return cc_buf_puts(b, x < 0 ? "-Infinity" : "Infinity");
	char tmp[40];
	int n = snprintf(tmp, sizeof(tmp), is_float ? "%.9g" : "%.17g", x);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EINVAL;
	/* Shortest form that reads back exactly, as TF Serving prints. */
	for (int p = 1; p < (is_float ? 9 : 17); p++) {
		char t2[40];
		snprintf(t2, sizeof(t2), "%.*g", p, x);
		if (is_float ? (float)strtod(t2, NULL) == (float)x : strtod(t2, NULL) == x) {
			memcpy(tmp, t2, sizeof(tmp));
			break;
		}
	}
	int rc = cc_buf_puts(b, tmp);
	if (rc == 0 && !strpbrk(tmp, ".eEn"))
		rc = cc_buf_puts(b, ".0");
	return rc;
}

static int put_elem(struct cc_buf *b, const struct serve_tensor *t, size_t i, bool force_b64)
{
	const uint8_t *d = t->data;
	switch (t->dtype) {
	case SERVE_DT_FLOAT: { float f; memcpy(&f, d + i * 4, 4); return put_double(b, f, true); }
	case SERVE_DT_DOUBLE: { double f; memcpy(&f, d + i * 8, 8); return put_double(b, f, false); }
	case SERVE_DT_HALF: { uint16_t h; memcpy(&h, d + i * 2, 2); return put_double(b, serve_half_to_float(h), true); }
	case SERVE_DT_BFLOAT16: {
		uint16_t h; memcpy(&h, d + i * 2, 2);
		uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4);
		return put_double(b, f, true);
	}
	case SERVE_DT_INT32: { int32_t x; memcpy(&x, d + i * 4, 4); return cc_buf_printf(b, "%" PRId32, x); }
	case SERVE_DT_INT16: { int16_t x; memcpy(&x, d + i * 2, 2); return cc_buf_printf(b, "%d", x); }
	case SERVE_DT_INT8: return cc_buf_printf(b, "%d", (int8_t)d[i]);
	case SERVE_DT_UINT8: return cc_buf_printf(b, "%u", d[i]);
	case SERVE_DT_UINT16: { uint16_t x; memcpy(&x, d + i * 2, 2); return cc_buf_printf(b, "%u", x); }
	case SERVE_DT_INT64: { int64_t x; memcpy(&x, d + i * 8, 8); return cc_buf_printf(b, "%" PRId64, x); }
	case SERVE_DT_UINT32: { uint32_t x; memcpy(&x, d + i * 4, 4); return cc_buf_printf(b, "%" PRIu32, x); }
	case SERVE_DT_UINT64: { uint64_t x; memcpy(&x, d + i * 8, 8); return cc_buf_printf(b, "%" PRIu64, x); }
	case SERVE_DT_BOOL: return cc_buf_puts(b, d[i] ? "true" : "false");
	case SERVE_DT_STRING: {
		const struct serve_bytes *s = &t->strs[i];
		if (!force_b64 && serve_utf8_valid(s->data, s->len))
			return put_json_string(b, s->data, s->len);
		char *enc = NULL;
		int rc = cc_base64_encode_alloc(s->data, s->len, CC_B64_STD, &enc);
		if (rc < 0)
			return rc;
		rc = cc_buf_puts(b, "{\"b64\": \"");
		if (rc == 0)
			rc = cc_buf_puts(b, enc);
		if (rc == 0)
			rc = cc_buf_puts(b, "\"}");
		free(enc);
		return rc;
	}
	case SERVE_DT_INVALID:
		break;
	}
	return -EINVAL;
}

/* Elements [start, start+count) shaped by dims[level..]. */
static int put_nested(struct cc_buf *b, const struct serve_tensor *t, int level, size_t *idx,
		      bool force_b64)
{
	if (level == t->ndims)
		return put_elem(b, t, (*idx)++, force_b64);
	int rc = cc_buf_putc(b, '[');
	for (int64_t i = 0; i < t->dims[level] && rc == 0; i++) {
		if (i)
			rc = cc_buf_puts(b, ", ");
		if (rc == 0)
			rc = put_nested(b, t, level + 1, idx, force_b64);
	}
	if (rc == 0)
		rc = cc_buf_putc(b, ']');
	return rc;
}

/* JSON lists put_nested() writes for t: prod(dims[0..l)) at each level l.
 * An empty tensor can still have huge leading dimensions ([2^40, 0] is
 * 2^40 empty lists): refuse more than ndims lists per element (the most a
 * non-empty tensor needs) plus 2^20. */
static bool render_size_ok(const struct serve_tensor *t, size_t elements)
{
	uint64_t lists = 0, prod = 1;
	for (int l = 0; l < t->ndims; l++) {
		lists += prod;
		if (t->dims[l] < 0 || (t->dims[l] && prod > UINT64_MAX / 2 / (uint64_t)t->dims[l]))
			return false;
		prod *= (uint64_t)t->dims[l];
		if (lists > (uint64_t)t->ndims * elements + (1u << 20))
			return false;
	}
	return true;
}

static bool wants_b64(const struct serve_tensor *t)
{
	size_t n = t->name ? strlen(t->name) : 0;
	return n >= 6 && !strcmp(t->name + n - 6, "_bytes");
}

/* Row i of t (dims[1..]). */
static int put_row(struct cc_buf *b, const struct serve_tensor *t, size_t row)
{
	size_t per = 1;
	for (int i = 1; i < t->ndims; i++)
		per *= (size_t)t->dims[i];
	size_t idx = row * per;
	return put_nested(b, t, 1, &idx, wants_b64(t));
}

int serve_rest_render_predict(const struct serve_tensor_list *outputs, enum serve_rest_format fmt,
			      char **ret, size_t *ret_len, struct serve_status *st)
{
	struct cc_buf b;
	cc_buf_init(&b, 0, false);
	int rc = 0;
	for (size_t i = 0; i < outputs->n; i++) {
		size_t n;
		if (serve_tensor_elements(&outputs->t[i], &n) < 0)
			return serve_status_set(st, SERVE_INTERNAL, "bad output shape"), -EINVAL;
		if (!render_size_ok(&outputs->t[i], n))
			return serve_status_set(st, SERVE_RESOURCE_EXHAUSTED,
						"output %.200s: shape too large to render as JSON",
						outputs->t[i].name ? outputs->t[i].name : ""),
			       -E2BIG;
	}
	if (fmt == SERVE_REST_ROW) {
		int64_t batch = -1;
		for (size_t i = 0; i < outputs->n; i++) {
			const struct serve_tensor *t = &outputs->t[i];
			if (t->ndims == 0)
				return serve_status_set(st, SERVE_INVALID_ARGUMENT,
							"Tensor name: %s has no shape information ",
							t->name ? t->name : ""),
				       -EINVAL;
			if (batch >= 0 && t->dims[0] != batch)
				return serve_status_set(st, SERVE_INVALID_ARGUMENT,
							"Tensor name: %s has inconsistent batch size: %" PRId64
							" expecting: %" PRId64,
							t->name ? t->name : "", t->dims[0], batch),
				       -EINVAL;
			batch = t->dims[0];
		}
		rc = cc_buf_puts(&b, "{\n    \"predictions\": [");
		for (int64_t r = 0; r < batch && rc == 0; r++) {
			if (r)
				rc = cc_buf_puts(&b, ", ");
			if (outputs->n == 1) {
				if (rc == 0)
					rc = put_row(&b, &outputs->t[0], (size_t)r);
				continue;
			}
			rc = cc_buf_putc(&b, '{');
			for (size_t i = 0; i < outputs->n && rc == 0; i++) {
				if (i)
					rc = cc_buf_puts(&b, ", ");
				if (rc == 0)
					rc = put_json_string(&b, (const uint8_t *)outputs->t[i].name,
							     strlen(outputs->t[i].name));
				if (rc == 0)
					rc = cc_buf_puts(&b, ": ");
				if (rc == 0)
					rc = put_row(&b, &outputs->t[i], (size_t)r);
			}
			if (rc == 0)
				rc = cc_buf_putc(&b, '}');
		}
		if (rc == 0)
			rc = cc_buf_puts(&b, "\n    ]\n}");
	} else {
		rc = cc_buf_puts(&b, "{\n    \"outputs\": ");
		if (outputs->n == 1) {
			size_t idx = 0;
			if (rc == 0)
				rc = put_nested(&b, &outputs->t[0], 0, &idx, wants_b64(&outputs->t[0]));
		} else {
			if (rc == 0)
				rc = cc_buf_putc(&b, '{');
			for (size_t i = 0; i < outputs->n && rc == 0; i++) {
				size_t idx = 0;
				rc = cc_buf_puts(&b, i ? ",\n        " : "\n        ");
				if (rc == 0)
					rc = put_json_string(&b, (const uint8_t *)outputs->t[i].name,
							     strlen(outputs->t[i].name));
				if (rc == 0)
					rc = cc_buf_puts(&b, ": ");
				if (rc == 0)
					rc = put_nested(&b, &outputs->t[i], 0, &idx,
							wants_b64(&outputs->t[i]));
			}
			if (rc == 0)
				rc = cc_buf_puts(&b, "\n    }");
		}
		if (rc == 0)
			rc = cc_buf_puts(&b, "\n}");
	}
	if (rc < 0) {
		cc_buf_free(&b);
		serve_status_set(st, SERVE_RESOURCE_EXHAUSTED, "response too large");
		return rc;
	}
	*ret = (char *)cc_buf_steal(&b, ret_len);
	return *ret ? 0 : -ENOMEM;
}

int serve_rest_render_error(const struct serve_status *st, char **ret, size_t *ret_len)
{
	struct cc_buf b;
	cc_buf_init(&b, 0, false);
	int rc = cc_buf_puts(&b, "{ \"error\": ");
	if (rc == 0)
		rc = put_json_string(&b, (const uint8_t *)st->msg, strlen(st->msg));
	if (rc == 0)
		rc = cc_buf_puts(&b, " }");
	if (rc < 0) {
		cc_buf_free(&b);
		return rc;
	}
	*ret = (char *)cc_buf_steal(&b, ret_len);
	return *ret ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------------ */
/* Classify / Regress: {"signature_name", "context", "examples"}            */

void serve_rest_examples_clear(struct serve_rest_examples *r)
{
	if (!r)
		return;
	free(r->signature_name);
	for (size_t i = 0; i < r->n; i++)
		free(r->examples[i].data);
	free(r->examples);
	free(r->context.data);
	memset(r, 0, sizeof(*r));
}

/* Protocol buffer wire format, written directly: a tf.Example is a few
 * nested length-delimited fields. */
static int pb_varint(struct cc_buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;
	do {
		t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return cc_buf_append(b, t, n);
}

static int pb_bytes(struct cc_buf *b, unsigned field, const void *p, size_t n)
{
	int rc = pb_varint(b, (uint64_t)field << 3 | 2);
	if (rc == 0)
		rc = pb_varint(b, n);
	if (rc == 0 && n)
		rc = cc_buf_append(b, p, n);
	return rc;
}

enum fkind { FK_NONE = 0, FK_BYTES = 1, FK_FLOAT = 2, FK_INT64 = 3 };

static const char *fkind_name(enum fkind k)
{
	return k == FK_BYTES ? "bytes" : k == FK_FLOAT ? "float" : k == FK_INT64 ? "int64" : "UNKNOWN";
}

/* One JSON value of feature name into the list being built (kind fixed by
 * the first value, as TF Serving's AddValueToFeature). */
static int feature_value(json_object *v, const char *name, enum fkind *kind, struct cc_buf *list,
			 struct serve_status *st)
{
	enum fkind want;
	uint8_t *bytes = NULL;
	size_t blen = 0;
	int rc;
	switch (json_object_get_type(v)) {
	case json_type_boolean: want = FK_INT64; break;
	case json_type_int: want = FK_INT64; break;
	case json_type_double: want = FK_FLOAT; break;
	case json_type_string: want = FK_BYTES; break;
	case json_type_object:
		if (!is_b64_obj(v))
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"Feature: %s has element with unexpected JSON type: %s",
						name, jtype(v)), -EINVAL;
		want = FK_BYTES;
		break;
	default:
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"Feature: %s has element with unexpected JSON type: %s", name,
					jtype(v)), -EINVAL;
	}
	if (*kind != FK_NONE && *kind != want)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"Unexpected element type in feature: %s expecting type: %s", name,
					fkind_name(*kind)), -EINVAL;
	*kind = want;
	switch (json_object_get_type(v)) {
	case json_type_boolean:
		return pb_varint(list, json_object_get_boolean(v) ? 1 : 0);
	case json_type_int: {
		int64_t x = json_object_get_int64(v);
		if (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"Feature: %s has uint64 element. Only int64 is supported.",
						name), -EINVAL;
		return pb_varint(list, (uint64_t)x);
	}
	case json_type_double: {
		double d = json_object_get_double(v);
		if (isfinite(d) && (d > FLT_MAX || d < -FLT_MAX)) {
			char sb[128];
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"Cannot store JSON value: %s as float without loss of "
						"precision", jshort(v, sb, sizeof(sb))), -EINVAL;
		}
		float f = (float)d;
		uint8_t le[4];
		uint32_t u;
		memcpy(&u, &f, 4);
		for (int i = 0; i < 4; i++)
			le[i] = (uint8_t)(u >> (8 * i));
		return cc_buf_append(list, le, 4);
	}
	case json_type_string:
		return pb_bytes(list, 1, json_object_get_string(v),
				(size_t)json_object_get_string_len(v));
	default: {
		json_object *bv;
		json_object_object_get_ex(v, "b64", &bv);
		if (!json_object_is_type(bv, json_type_string))
			return serve_status_set(st, SERVE_INVALID_ARGUMENT, "Unable to base64 decode"),
			       -EINVAL;
		const char *s = json_object_get_string(bv);
		size_t sl = (size_t)json_object_get_string_len(bv);
		rc = cc_base64_decode_alloc(s, sl, CC_B64_STD, &bytes, &blen);
		if (rc < 0 && rc != -ENOMEM)
			rc = cc_base64_decode_alloc(s, sl, CC_B64_URL, &bytes, &blen);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0)
			return serve_status_set(st, SERVE_INVALID_ARGUMENT, "Unable to base64 decode"),
			       -EINVAL;
		rc = pb_bytes(list, 1, bytes, blen);
		free(bytes);
		return rc;
	}
	}
}

/* A JSON object of features -> serialized tf.Example (TF Serving's
 * MakeExampleFromJsonObject). */
static int example_from_json(json_object *obj, size_t max, struct serve_bytes *ret,
			     struct serve_status *st)
{
	if (!json_object_is_type(obj, json_type_object))
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"Example must be JSON object but got JSON %s", jtype(obj)),
		       -EINVAL;
	struct cc_buf features, list, feature, entry, ex;
	cc_buf_init(&features, max, false);
	cc_buf_init(&list, max, false);
	cc_buf_init(&feature, max, false);
	cc_buf_init(&entry, max, false);
	cc_buf_init(&ex, max, false);
	int rc = 0;
	json_object_object_foreach(obj, key, val) {
		enum fkind kind = FK_NONE;
		cc_buf_reset(&list);
		cc_buf_reset(&feature);
		cc_buf_reset(&entry);
		if (json_object_is_type(val, json_type_array)) {
			size_t n = json_object_array_length(val);
			for (size_t i = 0; i < n && rc == 0; i++)
				rc = feature_value(json_object_array_get_idx(val, i), key, &kind, &list,
						   st);
		} else {
			rc = feature_value(val, key, &kind, &list, st);
		}
		if (rc < 0)
			break;
		/* float and int64 lists are packed (field 1); bytes values are
		 * already field-1 records */
		if (kind == FK_BYTES)
			rc = pb_bytes(&feature, FK_BYTES, list.data, list.len);
		else if (kind != FK_NONE) {
			struct cc_buf packed;
			cc_buf_init(&packed, max, false);
			rc = pb_bytes(&packed, 1, list.data, list.len);
			if (rc == 0)
				rc = pb_bytes(&feature, kind, packed.data, packed.len);
			cc_buf_free(&packed);
		}
		if (rc == 0)
			rc = pb_bytes(&entry, 1, key, strlen(key));
		if (rc == 0)
			rc = pb_bytes(&entry, 2, feature.data, feature.len);
		if (rc == 0)
			rc = pb_bytes(&features, 1, entry.data, entry.len);
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = pb_bytes(&ex, 1, features.data, features.len);
	cc_buf_free(&features);
	cc_buf_free(&list);
	cc_buf_free(&feature);
	cc_buf_free(&entry);
	if (rc < 0) {
		cc_buf_free(&ex);
		if (rc == -EINVAL && st->code)
			return rc;
		if (rc == -ENOMEM)
			return rc;
		return serve_status_set(st, SERVE_INVALID_ARGUMENT, "request too large"), -EINVAL;
	}
	size_t len;
	uint8_t *data = cc_buf_steal(&ex, &len);
	if (!data && len)
		return -ENOMEM;
	ret->data = data;
	ret->len = len;
	return 0;
}

int serve_rest_parse_examples(const char *body, size_t len, const struct serve_limits *lim,
			      struct serve_rest_examples *ret, struct serve_status *st)
{
	struct serve_limits dl;
	if (!lim) {
		serve_limits_default(&dl);
		lim = &dl;
	}
	memset(ret, 0, sizeof(*ret));
	json_object *doc;
	int rc = parse_doc(body, len, lim, &doc, st);
	if (rc < 0)
		return rc;
	struct serve_rest_examples r = { 0 };
	char sb[128];
	json_object *sig, *ctx, *exs;
	if (!json_object_is_type(doc, json_type_object)) {
		rc = serve_status_set(st, SERVE_INVALID_ARGUMENT, "JSON Value: %s Is not object",
				      jshort(doc, sb, sizeof(sb)));
		goto bad;
	}
	if (json_object_object_get_ex(doc, "signature_name", &sig)) {
		if (!json_object_is_type(sig, json_type_string)) {
			rc = serve_status_set(st, SERVE_INVALID_ARGUMENT,
					      "JSON Value: %s not formatted correctly. 'signature_name' "
					      "key must be a string value.", jshort(doc, sb, sizeof(sb)));
			goto bad;
		}
		if (!(r.signature_name = strdup(json_object_get_string(sig)))) {
			rc = -ENOMEM;
			goto bad;
		}
	}
	/* a serialized Example is at most about 1.3 times its JSON (many
	 * empty features): the body size bounds each one */
	size_t max = 2 * len + 1024;
	if (json_object_object_get_ex(doc, "context", &ctx)) {
		if ((rc = example_from_json(ctx, max, &r.context, st)) < 0)
			goto bad;
		r.has_context = true;
	}
	if (!json_object_object_get_ex(doc, "examples", &exs)) {
		rc = serve_status_set(st, SERVE_INVALID_ARGUMENT,
				      "JSON Value: %s When method is classify, key 'examples' is "
				      "expected and was not found", jshort(doc, sb, sizeof(sb)));
		goto bad;
	}
	if (!json_object_is_type(exs, json_type_array)) {
		rc = serve_status_set(st, SERVE_INVALID_ARGUMENT,
				      "JSON Value: %s Expecting 'examples' value to be an list/array",
				      jshort(doc, sb, sizeof(sb)));
		goto bad;
	}
	size_t n = json_object_array_length(exs);
	if (n == 0) {
		rc = serve_status_set(st, SERVE_INVALID_ARGUMENT,
				      "JSON Value: %s 'examples' value is an empty array",
				      jshort(doc, sb, sizeof(sb)));
		goto bad;
	}
	if (!(r.examples = calloc(n, sizeof(*r.examples)))) {
		rc = -ENOMEM;
		goto bad;
	}
	for (size_t i = 0; i < n; i++) {
		if ((rc = example_from_json(json_object_array_get_idx(exs, i), max, &r.examples[i],
					    st)) < 0)
			goto bad;
		r.n++;
	}
	json_object_put(doc);
	*ret = r;
	return 0;
bad:
	json_object_put(doc);
	serve_rest_examples_clear(&r);
	if (rc == -ENOMEM) {
		serve_status_set(st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		return -ENOMEM;
	}
	return -EINVAL;
}

int serve_rest_render_results(const float *v, size_t n, size_t per, bool classify, char **ret,
			      size_t *ret_len)
{
	struct cc_buf b;
	size_t cap = 64;
	size_t total;
	if (!cc_mul_ok(n, per, &total) || !cc_mul_ok(total, 48, &cap))
		return -EOVERFLOW;
	cc_buf_init(&b, cap + 64, false);
	int rc = cc_buf_puts(&b, "{\"results\": [");
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = cc_buf_puts(&b, i ? ", " : "");
		if (!classify) {
			if (rc == 0)
				rc = put_double(&b, v[i], true);
			continue;
		}
		if (rc == 0)
			rc = cc_buf_putc(&b, '[');
		for (size_t c = 0; c < per && rc == 0; c++) {
			rc = cc_buf_puts(&b, c ? ", [\"\", " : "[\"\", ");
			if (rc == 0)
				rc = put_double(&b, v[i * per + c], true);
			if (rc == 0)
				rc = cc_buf_putc(&b, ']');
		}
		if (rc == 0)
			rc = cc_buf_putc(&b, ']');
	}
	if (rc == 0)
		rc = cc_buf_puts(&b, "]}");
	if (rc < 0) {
		cc_buf_free(&b);
		return rc;
	}
	*ret = (char *)cc_buf_steal(&b, ret_len);
	return *ret ? 0 : -ENOMEM;
}
