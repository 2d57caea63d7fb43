/* SPDX-License-Identifier: Apache-2.0 */
#include "rest.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

static int put_float(struct cc_buf *b, float v)
{
	if (!isfinite(v))
		return cc_buf_puts(b, "0"); /* JSON has no NaN; never produced here */
	if (v == (float)(int32_t)v && fabsf(v) < 1e7f)
		return cc_buf_printf(b, "%d", (int)v);
	return cc_buf_printf(b, "%.9g", (double)v);
}

/* Nested array of dims[0..ndims) over data; *idx advances. */
static int put_nested(struct cc_buf *b, const int64_t *dims, size_t ndims, const float *data,
		      size_t *idx)
{
	if (ndims == 0)
		return put_float(b, data[(*idx)++]);
	int e = cc_buf_putc(b, '[');
	for (int64_t i = 0; e >= 0 && i < dims[0]; i++) {
		if (i)
			e = cc_buf_putc(b, ',');
		if (e >= 0)
			e = put_nested(b, dims + 1, ndims - 1, data, idx);
	}
	if (e >= 0)
		e = cc_buf_putc(b, ']');
	return e;
}

int cl_rest_predict_body(struct cc_buf *out, const char *signature, const char *input_name,
			 const int64_t *dims, size_t ndims, const float *data)
{
	if (!out || !signature || ndims == 0 || ndims > CL_PB_MAX_DIMS || !dims || !data)
		return -EINVAL;
	for (size_t i = 0; i < ndims; i++)
		if (dims[i] <= 0)
			return -EINVAL;
	size_t idx = 0;
	int e = cc_buf_puts(out, "{\"signature_name\":\"");
	for (const char *p = signature; e >= 0 && *p; p++) {
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			return -EINVAL; /* names are plain identifiers */
		e = cc_buf_putc(out, *p);
	}
	if (e >= 0 && input_name) {
		for (const char *p = input_name; *p; p++)
			if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
				return -EINVAL;
		e = cc_buf_printf(out, "\",\"inputs\":{\"%s\":", input_name);
		if (e >= 0)
			e = put_nested(out, dims, ndims, data, &idx);
		if (e >= 0)
			e = cc_buf_puts(out, "}}");
	} else if (e >= 0) {
		e = cc_buf_puts(out, "\",\"instances\":");
		if (e >= 0)
			e = put_nested(out, dims, ndims, data, &idx);
		if (e >= 0)
			e = cc_buf_putc(out, '}');
	}
	return e < 0 ? e : 0;
}

static int parse_json(const char *body, size_t len, json_object **ret)
{
	if (len > INT32_MAX)
		return CC_E_TOOBIG;
	json_tokener *tok = json_tokener_new_ex(CL_REST_MAX_DEPTH + 8);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *o = json_tokener_parse_ex(tok, body, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	if (o && err == json_tokener_success && tok->char_offset < (int)len) {
		/* Only whitespace may follow. */
		for (size_t i = (size_t)tok->char_offset; i < len; i++)
			if (!strchr(" \t\r\n", body[i])) {
				err = json_tokener_error_parse_unexpected;
				break;
			}
	}
	json_tokener_free(tok);
	if (!o || err != json_tokener_success) {
		json_object_put(o);
		return CC_E_SYNTAX;
	}
	*ret = o;
	return 0;
}

/* Shape of a nested array (following first elements), then flatten with a
 * check that every sub-array has the shape's length. */
static int shape_of(json_object *v, struct cl_tensor *t)
{
	t->ndims = 0;
	while (json_object_is_type(v, json_type_array)) {
		if (t->ndims >= CL_PB_MAX_DIMS)
			return CC_E_TOOBIG;
		size_t n = json_object_array_length(v);
		t->dims[t->ndims++] = (int64_t)n;
		if (n == 0)
			break;
		v = json_object_array_get_idx(v, 0);
	}
	return 0;
}

static int flatten(json_object *v, const struct cl_tensor *t, size_t depth, struct cc_buf *vals)
{
	if (depth == t->ndims) {
		if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
			return CC_E_SYNTAX;
		float x = (float)json_object_get_double(v);
		return cc_buf_append(vals, &x, sizeof(x));
	}
	if (!json_object_is_type(v, json_type_array) ||
	    json_object_array_length(v) != (size_t)t->dims[depth])
		return CC_E_SYNTAX;
	for (size_t i = 0; i < (size_t)t->dims[depth]; i++) {
		int e = flatten(json_object_array_get_idx(v, i), t, depth + 1, vals);
		if (e < 0)
			return e;
	}
	return 0;
}

static int add_tensor(struct cl_predict_resp *r, const char *name, json_object *v)
{
	if (r->n >= CL_PB_MAX_OUTPUTS)
		return CC_E_TOOBIG;
	struct cl_tensor *t = &r->t[r->n];
	memset(t, 0, sizeof(*t));
	if (strlen(name) >= sizeof(t->name))
		return CC_E_TOOBIG;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->dtype = CL_DT_FLOAT;
	int e = shape_of(v, t);
	if (e < 0)
		return e;
	struct cc_buf vals;
	cc_buf_init(&vals, (size_t)CL_PB_MAX_VALUES * sizeof(float), false);
	if ((e = flatten(v, t, 0, &vals)) < 0) {
		cc_buf_free(&vals);
		return e;
	}
	t->count = vals.len / sizeof(float);
	t->vals = (float *)cc_buf_steal(&vals, NULL);
	r->n++;
	return 0;
}

int cl_rest_parse_predict(const char *body, size_t len, struct cl_predict_resp *ret,
			  char *errbuf, size_t errsz)
{
	json_object *root = NULL, *v;
	memset(ret, 0, sizeof(*ret));
	errbuf[0] = '\0';
	int e = parse_json(body, len, &root);
	if (e < 0) {
		snprintf(errbuf, errsz, "response is not valid JSON");
		return e;
	}
	if (!json_object_is_type(root, json_type_object)) {
		e = CC_E_SYNTAX;
		goto out;
	}
	if (json_object_object_get_ex(root, "error", &v)) {
		snprintf(errbuf, errsz, "%s", json_object_get_string(v));
		e = -EPROTO;
		goto out;
	}
	bool row = json_object_object_get_ex(root, "predictions", &v);
	if (!row && !json_object_object_get_ex(root, "outputs", &v)) {
		snprintf(errbuf, errsz, "neither \"predictions\" nor \"outputs\" in the response");
		e = CC_E_SYNTAX;
		goto out;
	}
	if (!json_object_is_type(v, json_type_object)) {
		/* One unnamed output. */
		e = add_tensor(ret, row ? "predictions" : "outputs", v);
		goto out;
	}
	if (row) {
		e = CC_E_SYNTAX; /* "predictions" is always a list */
		goto out;
	}
	json_object_object_foreach(v, key, val) {
		if ((e = add_tensor(ret, key, val)) < 0)
			goto out;
	}
out:
	json_object_put(root);
	if (e < 0)
		cl_predict_resp_free(ret);
	return e;
}

static int64_t json_int64(json_object *v)
{
	/* TF Serving prints int64 sizes as strings ("-1", "224"). */
	if (json_object_is_type(v, json_type_string)) {
		int64_t x;
		if (cc_parse_i64(json_object_get_string(v), &x) < 0)
			return INT64_MIN;
		return x;
	}
	if (json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	return INT64_MIN;
}

static int dtype_from_name(const char *s)
{
	if (!strcmp(s, "DT_FLOAT")) return CL_DT_FLOAT;
	if (!strcmp(s, "DT_DOUBLE")) return CL_DT_DOUBLE;
	if (!strcmp(s, "DT_INT32")) return CL_DT_INT32;
	if (!strcmp(s, "DT_UINT8")) return CL_DT_UINT8;
	if (!strcmp(s, "DT_INT64")) return CL_DT_INT64;
	if (!strcmp(s, "DT_HALF")) return CL_DT_HALF;
	return CL_DT_INVALID;
}

int cl_rest_parse_metadata(const char *body, size_t len, const char *signature,
			   struct cl_sig_input *ret)
{
	json_object *root = NULL, *v, *sig;
	memset(ret, 0, sizeof(*ret));
	if (!signature || !*signature)
		signature = "serving_default";
	int e = parse_json(body, len, &root);
	if (e < 0)
		return e;
	/* {"model_spec":..., "metadata": {"signature_def": {"signature_def":
	 *   {NAME: {"inputs": {ALIAS: {"dtype", "tensor_shape": {"dim":
	 *   [{"size": "-1"}, ...]}, "name"}}, "outputs": {...}}}}}} */
	if (!json_object_object_get_ex(root, "metadata", &v) ||
	    !json_object_object_get_ex(v, "signature_def", &v) ||
	    !json_object_object_get_ex(v, "signature_def", &v) ||
	    !json_object_object_get_ex(v, signature, &sig) ||
	    !json_object_is_type(sig, json_type_object)) {
		e = -ENOENT;
		goto out;
	}
	json_object *outs, *ins;
	if (json_object_object_get_ex(sig, "outputs", &outs) &&
	    json_object_is_type(outs, json_type_object))
		ret->n_outputs = (size_t)json_object_object_length(outs);
	if (!json_object_object_get_ex(sig, "inputs", &ins) ||
	    !json_object_is_type(ins, json_type_object) ||
	    json_object_object_length(ins) == 0) {
		e = -ENOENT;
		goto out;
	}
	ret->n_inputs = (size_t)json_object_object_length(ins);
	json_object *chosen = NULL;
	const char *alias = NULL;
	json_object_object_foreach(ins, key, val) {
		if (ret->n_inputs == 1 || !strcmp(key, "input")) {
			chosen = val;
			alias = key;
		}
	}
	if (!chosen) {
		e = -E2BIG;
		goto out;
	}
	if (strlen(alias) >= sizeof(ret->alias)) {
		e = CC_E_TOOBIG;
		goto out;
	}
	snprintf(ret->alias, sizeof(ret->alias), "%s", alias);
	if (json_object_object_get_ex(chosen, "dtype", &v) && json_object_is_type(v, json_type_string))
		ret->dtype = dtype_from_name(json_object_get_string(v));
	json_object *shape, *dims;
	if (json_object_object_get_ex(chosen, "tensor_shape", &shape) &&
	    json_object_object_get_ex(shape, "dim", &dims) &&
	    json_object_is_type(dims, json_type_array)) {
		size_t n = json_object_array_length(dims);
		if (n > CL_PB_MAX_DIMS) {
			e = CC_E_TOOBIG;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			json_object *d = json_object_array_get_idx(dims, i), *sz;
			int64_t s = 0;
			if (json_object_object_get_ex(d, "size", &sz))
				s = json_int64(sz);
			if (s < -1) {
				e = CC_E_SYNTAX;
				goto out;
			}
			ret->dims[i] = s;
		}
		ret->ndims = n;
	}
	e = 0;
out:
	json_object_put(root);
	return e;
}
