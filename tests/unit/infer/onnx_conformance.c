/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runs the ONNX backend test data shipped by Debian's libonnx-testdata
 * (/usr/share/libonnx-testdata/data/{node,pytorch-converted,
 * pytorch-operator,simple}/<case>/model.onnx + test_data_set_N/
 * {input,output}_K.pb) through the engine.
 *
 * A case whose model does not load with INFER_E_UNSUPPORTED counts as
 * unsupported; every other case must load, run and match the expected
 * outputs (|a - b| <= atol + rtol * |b|, rtol 1e-3, atol 1e-5, as the ONNX
 * backend tests; integers exactly).  Prints the counts and fails when any
 * supported case fails.  Usage: onnx_conformance [DATA_DIR] [-v] [CASE...]
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ccserve/infer.h>
#include <ccserve/util.h>

#include "internal.h"
#include "onnx.pb-c.h"

int onnx_tensor_from_proto(const Onnx__TensorProto *p, struct ir_tensor **ret,
			   struct ir_err *e);

static bool verbose;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_tensor(const char *path, struct ir_tensor **ret, char **name)
{
	uint8_t *buf;
	size_t len;
	int r = cc_file_read(path, 1u << 30, false, &buf, &len);
	if (r)
		return r;
	Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
	free(buf);
	if (!tp)
		return INFER_E_FORMAT;
	char eb[256];
	struct ir_err e = { eb, sizeof(eb) };
	r = onnx_tensor_from_proto(tp, ret, &e);
	if (!r && name)
		*name = strdup(tp->name ? tp->name : "");
	onnx__tensor_proto__free_unpacked(tp, NULL);
	return r;
}

static bool close_enough(const struct ir_tensor *exp, const struct infer_tensor *got,
			 char *why, size_t wl)
{
	if ((int)exp->dtype != (int)got->dtype) {
		snprintf(why, wl, "dtype %s, expected %s", infer_dtype_name(got->dtype),
			 infer_dtype_name(exp->dtype));
		return false;
	}
	int64_t ne = ir_shape_elems(&exp->shape), ng = 1;
	for (int i = 0; i < got->rank; i++)
		ng *= got->dims[i];
	bool shape_ok = exp->shape.rank == got->rank;
	for (int i = 0; shape_ok && i < got->rank; i++)
		shape_ok = exp->shape.d[i] == got->dims[i];
	if (!shape_ok) {
		char a[128];
		ir_shape_str(&exp->shape, a, sizeof(a));
		snprintf(why, wl, "shape rank %d (%lld elements), expected %s", got->rank,
			 (long long)ng, a);
		return false;
	}
	for (int64_t i = 0; i < ne; i++) {
		if (exp->dtype == INFER_DT_FLOAT || exp->dtype == INFER_DT_DOUBLE) {
			double a = ir_tensor_getf(exp, i);
			double b = exp->dtype == INFER_DT_FLOAT ? ((const float *)got->data)[i] :
				   ((const double *)got->data)[i];
			if (isnan(a) && isnan(b))
				continue;
			if (isinf(a) && a == b)
				continue;
			if (!(fabs(a - b) <= 1e-5 + 1e-3 * fabs(a))) {
				snprintf(why, wl, "element %lld: %g, expected %g", (long long)i, b, a);
				return false;
			}
		} else {
			size_t es = infer_dtype_size(exp->dtype);
			if (memcmp((const char *)exp->data + (size_t)i * es,
				   (const char *)got->data + (size_t)i * es, es)) {
				snprintf(why, wl, "element %lld differs", (long long)i);
				return false;
			}
		}
	}
	return true;
}

enum outcome { PASS, FAIL, UNSUPPORTED };

static enum outcome run_case(const char *dir, char *why, size_t wl)
{
	char path[16384];
	snprintf(path, sizeof(path), "%s/model.onnx", dir);
	uint8_t *mb;
	size_t ml;
	if (cc_file_read(path, 1u << 30, false, &mb, &ml)) {
		snprintf(why, wl, "no model.onnx");
		return FAIL;
	}
	Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, ml, mb);
	free(mb);
	if (!mp || !mp->graph) {
		snprintf(why, wl, "model.onnx does not parse");
		if (mp)
			onnx__model_proto__free_unpacked(mp, NULL);
		return FAIL;
	}
	struct infer_model *m = NULL;
	char err[2048];
	int r = infer_model_load_path(dir, NULL, err, sizeof(err), &m);
	if (r) {
		onnx__model_proto__free_unpacked(mp, NULL);
		snprintf(why, wl, "%s", err);
		return r == INFER_E_UNSUPPORTED ? UNSUPPORTED : FAIL;
	}
	enum outcome oc = PASS;
	/* graph inputs in order, minus initializers */
	const char *in_names[64];
	int n_in = 0;
	for (size_t i = 0; i < mp->graph->n_input && n_in < 64; i++) {
		bool init = false;
		for (size_t k = 0; k < mp->graph->n_initializer; k++)
			if (mp->graph->initializer[k]->name &&
			    !strcmp(mp->graph->initializer[k]->name, mp->graph->input[i]->name))
				init = true;
		if (!init)
			in_names[n_in++] = mp->graph->input[i]->name;
	}
	size_t n_out = mp->graph->n_output;
	for (int set = 0; set < 16 && oc == PASS; set++) {
		struct stat st;
		snprintf(path, sizeof(path), "%.8000s/test_data_set_%d", dir, set);
		if (stat(path, &st))
			break;
		struct infer_tensor ins[64];
		struct ir_tensor *it[64] = { 0 };
		struct infer_tensor *outs = calloc(n_out + 1, sizeof(*outs));
		int k;
		for (k = 0; k < n_in; k++) {
			snprintf(path, sizeof(path), "%.8000s/test_data_set_%d/input_%d.pb", dir, set, k);
			if (read_tensor(path, &it[k], NULL)) {
				snprintf(why, wl, "cannot read %.3000s", path);
				oc = FAIL;
				break;
			}
			ins[k] = (struct infer_tensor){ in_names[k], it[k]->dtype, it[k]->shape.rank,
							{ 0 }, it[k]->data, it[k]->size };
			for (int d = 0; d < it[k]->shape.rank; d++)
				ins[k].dims[d] = it[k]->shape.d[d];
		}
		if (oc == PASS) {
			for (size_t o = 0; o < n_out; o++)
				outs[o].name = mp->graph->output[o]->name;
			r = infer_model_run(m, NULL, ins, (size_t)n_in, outs, n_out, err, sizeof(err));
			if (r) {
				snprintf(why, wl, "run: %.2000s", err);
				oc = r == INFER_E_UNSUPPORTED ? UNSUPPORTED : FAIL;
			}
		}
		for (size_t o = 0; oc == PASS && o < n_out; o++) {
			struct ir_tensor *exp;
			snprintf(path, sizeof(path), "%.8000s/test_data_set_%d/output_%zu.pb", dir, set, o);
			if (read_tensor(path, &exp, NULL)) {
				snprintf(why, wl, "cannot read %.3000s", path);
				oc = FAIL;
				break;
			}
			char w2[256];
			if (!close_enough(exp, &outs[o], w2, sizeof(w2))) {
				snprintf(why, wl, "output '%s': %s", outs[o].name, w2);
				oc = FAIL;
			}
			ir_tensor_unref(exp);
		}
		for (size_t o = 0; o < n_out; o++)
			free(outs[o].data);
		free(outs);
		for (int j = 0; j < 64; j++)
			ir_tensor_unref(it[j]);
	}
	infer_model_free(m);
	onnx__model_proto__free_unpacked(mp, NULL);
	return oc;
}

int main(int argc, char **argv)
{
	const char *root = "/usr/share/libonnx-testdata/data";
	const char *only[64];
	int n_only = 0;
	cc_log_set_level(CC_LOG_ERROR);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = true;
		else if (argv[i][0] == '/')
			root = argv[i];
		else if (n_only < 64)
			only[n_only++] = argv[i];
	}
	static const char *const groups[] = { "node", "pytorch-converted", "pytorch-operator",
					      "simple" };
	unsigned pass = 0, fail = 0, unsup = 0;
	for (size_t gi = 0; gi < CC_ARRAY_SIZE(groups); gi++) {
		char gdir[4096];
		snprintf(gdir, sizeof(gdir), "%s/%s", root, groups[gi]);
		DIR *d = opendir(gdir);
		if (!d) {
			fprintf(stderr, "onnx_conformance: %s: %s (install libonnx-testdata)\n", gdir,
				strerror(errno));
			return 77;
		}
		char **names = NULL;
		size_t n = 0;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char **nn = realloc(names, (n + 1) * sizeof(*names));
			if (!nn)
				return 1;
			names = nn;
			names[n++] = strdup(de->d_name);
		}
		closedir(d);
		qsort(names, n, sizeof(*names), cmp_str);
		for (size_t i = 0; i < n; i++) {
			bool want = !n_only;
			for (int k = 0; k < n_only; k++)
				if (!strcmp(only[k], names[i]))
					want = true;
			if (want) {
				char dir[8192], why[4096] = "";
				snprintf(dir, sizeof(dir), "%s/%s", gdir, names[i]);
				enum outcome oc = run_case(dir, why, sizeof(why));
				if (oc == PASS)
					pass++;
				else if (oc == FAIL)
					fail++;
				else
					unsup++;
				if (oc == FAIL || (verbose && oc == UNSUPPORTED))
					printf("%s %s/%s: %s\n", oc == FAIL ? "FAIL" : "UNSUPPORTED",
					       groups[gi], names[i], why);
				else if (verbose)
					printf("PASS %s/%s\n", groups[gi], names[i]);
			}
			free(names[i]);
		}
		free(names);
	}
	printf("onnx backend test data: %u passed, %u failed, %u unsupported\n", pass, fail, unsup);
	return fail ? 1 : 0;
}
