/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccinfer: inspect, run and benchmark models with the ccserve inference
 * engine.
 *   ccinfer info MODEL
 *   ccinfer run MODEL --input NAME=FILE.npy ... [--output-dir D] [--signature S]
 *   ccinfer bench MODEL --batch N --threads T [--iterations K] [--warmup W]
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ccserve/infer.h>
#include <ccserve/util.h>

#include "ccserve-config.h"

#define MAX_INPUTS 64
#define MAX_EXAMPLES 1024

static void usage_main(FILE *f)
{
	fprintf(f,
		"usage: ccinfer COMMAND [options]\n"
		"\n"
		"Commands:\n"
		"  info MODEL         signatures, inputs/outputs and op histogram\n"
		"  run MODEL          run a signature on .npy inputs, write .npy outputs\n"
		"  bench MODEL        latency and throughput on random inputs\n"
		"\n"
		"MODEL is a SavedModel directory, a directory holding model.onnx or\n"
		"frozen_graph.pb, or a .onnx / .pb file.  'ccinfer COMMAND --help'\n"
		"describes each command.  Version %s.\n",
		CCSERVE_VERSION);
}

static int load(const char *path, int threads, const char *precision,
		struct infer_model **m)
{
	struct infer_model_opts o = { 0 };
	o.threads = threads;
	if (precision && !strcmp(precision, "bf16"))
		o.precision = INFER_PRECISION_BF16;
	else if (precision && strcmp(precision, "fp32")) {
		fprintf(stderr, "ccinfer: --precision must be fp32 or bf16\n");
		return 2;
	}
	char err[4096];
	int r = infer_model_load_path(path, &o, err, sizeof(err), m);
	if (r) {
		fprintf(stderr, "ccinfer: cannot load '%s': %s\n", path,
			err[0] ? err : infer_strerror(r));
		return 1;
	}
	return 0;
}

static void print_tensor(const struct infer_tensor_info *t)
{
	printf("    %-24s %-10s [", t->name, infer_dtype_name(t->dtype));
	if (t->rank < 0)
		printf("?");
	for (int i = 0; i < t->rank; i++)
		printf("%s%lld", i ? "," : "", (long long)t->dims[i]);
	printf("]  (%s)\n", t->tensor_name);
}

static int cmd_info(int argc, char **argv)
{
	static const struct option lo[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h') {
			printf("usage: ccinfer info MODEL\n"
			       "Prints the model format, each signature (method, inputs and outputs\n"
			       "with dtypes and shapes, -1 = any; the dense features a signature\n"
			       "over serialized tf.Example reads) and the op histogram.\n");
			return 0;
		}
		return 2;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: ccinfer info MODEL\n");
		return 2;
	}
	struct infer_model *m;
	int r = load(argv[optind], 0, NULL, &m);
	if (r)
		return r;
	static const char *const fmts[] = { "auto", "SavedModel", "GraphDef", "ONNX" };
	printf("format: %s\n", fmts[infer_model_format(m)]);
	for (size_t i = 0; i < infer_model_signature_count(m); i++) {
		const struct infer_signature_info *s = infer_model_signature(m, i);
		printf("signature '%s' (%s)%s%s\n", s->name, s->method_name,
		       s->available ? "" : " UNAVAILABLE: ", s->available ? "" : s->error);
		printf("  inputs:\n");
		for (size_t k = 0; k < s->n_inputs; k++)
			print_tensor(&s->inputs[k]);
		printf("  outputs:\n");
		for (size_t k = 0; k < s->n_outputs; k++)
			print_tensor(&s->outputs[k]);
		if (s->features) {
			printf("  tf.Example features (per example):\n");
			for (size_t k = 0; k < s->n_features; k++) {
				const struct infer_feature_info *f = &s->features[k];
				printf("    %-24s %-10s [", f->name, infer_dtype_name(f->dtype));
				for (int d = 0; d < f->rank; d++)
					printf("%s%lld", d ? "," : "", (long long)f->dims[d]);
				printf("]  %s\n", f->required ? "required" : "default");
			}
		}
	}
	printf("ops:\n");
	const char *op;
	size_t cnt;
	for (size_t i = 0; infer_model_op_stat(m, i, &op, &cnt); i++)
		printf("  %-32s %zu\n", op, cnt);
	infer_model_free(m);
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "output-dir", required_argument, NULL, 'o' },
		{ "signature", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "precision", required_argument, NULL, 'p' },
		{ "example", required_argument, NULL, 'e' },
		{ "context", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *in_spec[MAX_INPUTS];
	const char *ex_spec[MAX_EXAMPLES];
	int n_in = 0, n_ex = 0, threads = 0;
	const char *outdir = NULL, *sig = NULL, *prec = NULL, *ctx_file = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "i:o:s:t:p:e:c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (n_ex >= MAX_EXAMPLES) {
				fprintf(stderr, "ccinfer: too many --example\n");
				return 2;
			}
			ex_spec[n_ex++] = optarg;
			break;
		case 'c': ctx_file = optarg; break;
		case 'i':
			if (n_in >= MAX_INPUTS) {
				fprintf(stderr, "ccinfer: too many --input\n");
				return 2;
			}
			in_spec[n_in++] = optarg;
			break;
		case 'o': outdir = optarg; break;
		case 's': sig = optarg; break;
		case 'p': prec = optarg; break;
		case 't': {
			uint64_t v;
			if (cc_parse_u64(optarg, &v) || v > 1024) {
				fprintf(stderr, "ccinfer: bad --threads '%s'\n", optarg);
				return 2;
			}
			threads = (int)v;
			break;
		}
		case 'h':
			printf("usage: ccinfer run MODEL --input NAME=FILE.npy ... [--output-dir DIR]\n"
			       "                 [--signature NAME] [--threads N] [--precision fp32|bf16]\n"
			       "       ccinfer run MODEL --signature NAME --example FILE ... [--context FILE]\n"
			       "Runs the signature (default serving_default) once.  Each --input binds\n"
			       "a signature input to a .npy file; a signature over serialized\n"
			       "tf.Example takes one --example per Example (a file holding the\n"
			       "serialized proto) and an optional --context Example.  Outputs are\n"
			       "written to DIR/<output>.npy, or summarised on stdout without\n"
			       "--output-dir.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: ccinfer run MODEL --input NAME=FILE.npy ...\n");
		return 2;
	}
	struct infer_model *m;
	int r = load(argv[optind], threads, prec, &m);
	if (r)
		return r;
	const struct infer_signature_info *si = infer_model_find_signature(m, sig);
	if (!si) {
		fprintf(stderr, "ccinfer: no signature '%s'\n", sig ? sig : "serving_default");
		infer_model_free(m);
		return 1;
	}
	struct infer_tensor ins[MAX_INPUTS];
	uint8_t *bufs[MAX_INPUTS] = { 0 };
	char *names[MAX_INPUTS] = { 0 };
	struct infer_bytes exs[MAX_EXAMPLES];
	uint8_t *ex_bufs[MAX_EXAMPLES] = { 0 };
	uint8_t *ctx_buf = NULL;
	struct infer_bytes ctx = { NULL, 0 };
	int rc = 1;
	struct infer_tensor *outs = NULL;
	if ((n_ex || ctx_file) && (n_in || !si->features)) {
		fprintf(stderr, "ccinfer: --example needs a signature over tf.Example and no --input\n");
		goto out;
	}
	for (int i = 0; i < n_ex; i++) {
		size_t len;
		r = cc_file_read(ex_spec[i], INFER_MAX_EXAMPLE_BYTES, false, &ex_bufs[i], &len);
		if (r) {
			fprintf(stderr, "ccinfer: cannot read '%s': %s\n", ex_spec[i], cc_strerror(r));
			goto out;
		}
		exs[i] = (struct infer_bytes){ ex_bufs[i], len };
	}
	if (ctx_file) {
		size_t len;
		r = cc_file_read(ctx_file, INFER_MAX_EXAMPLE_BYTES, false, &ctx_buf, &len);
		if (r) {
			fprintf(stderr, "ccinfer: cannot read '%s': %s\n", ctx_file, cc_strerror(r));
			goto out;
		}
		ctx = (struct infer_bytes){ ctx_buf, len };
	}
	for (int i = 0; i < n_in; i++) {
		const char *eq = strchr(in_spec[i], '=');
		if (!eq || eq == in_spec[i]) {
			fprintf(stderr, "ccinfer: --input must be NAME=FILE.npy, got '%s'\n",
				in_spec[i]);
			goto out;
		}
		names[i] = strndup(in_spec[i], (size_t)(eq - in_spec[i]));
		size_t len;
		r = cc_file_read(eq + 1, (size_t)4 << 30, false, &bufs[i], &len);
		if (r) {
			fprintf(stderr, "ccinfer: cannot read '%s': %s\n", eq + 1, cc_strerror(r));
			goto out;
		}
		r = infer_npy_parse(bufs[i], len, &ins[i]);
		if (r) {
			fprintf(stderr, "ccinfer: '%s' is not a usable .npy file: %s\n", eq + 1,
				infer_strerror(r));
			goto out;
		}
		ins[i].name = names[i];
	}
	outs = calloc(si->n_outputs + 1, sizeof(*outs));
	if (!outs)
		goto out;
	char err[4096];
	uint64_t t0 = cc_mono_ns();
	if (si->features)
		r = infer_model_run_examples(m, sig, exs, (size_t)n_ex, ctx_file ? &ctx : NULL, outs,
					     si->n_outputs, err, sizeof(err));
	else
		r = infer_model_run(m, sig, ins, (size_t)n_in, outs, si->n_outputs, err,
				    sizeof(err));
	uint64_t t1 = cc_mono_ns();
	if (r) {
		fprintf(stderr, "ccinfer: run failed: %s\n", err[0] ? err : infer_strerror(r));
		goto out;
	}
	fprintf(stderr, "ccinfer: ran '%s' in %.3f ms (includes plan compilation)\n",
		si->name, (double)(t1 - t0) / 1e6);
	for (size_t k = 0; k < si->n_outputs; k++) {
		if (outdir) {
			void *buf;
			size_t len;
			char path[4096];
			r = infer_npy_write(&outs[k], &buf, &len);
			if (r) {
				fprintf(stderr, "ccinfer: cannot encode output '%s': %s\n",
					outs[k].name, infer_strerror(r));
				goto out;
			}
			mkdir(outdir, 0755);
			snprintf(path, sizeof(path), "%s/%s.npy", outdir, outs[k].name);
			for (char *p = path + strlen(outdir) + 1; *p; p++)
				if (*p == '/' || *p == ':')
					*p = '_';
			r = cc_file_write_atomic(path, buf, len, 0644);
			free(buf);
			if (r) {
				fprintf(stderr, "ccinfer: cannot write '%s': %s\n", path,
					cc_strerror(r));
				goto out;
			}
			printf("%s\n", path);
		} else {
			printf("%s %s [", outs[k].name, infer_dtype_name(outs[k].dtype));
			int64_t n = 1;
			for (int d = 0; d < outs[k].rank; d++) {
				printf("%s%lld", d ? "," : "", (long long)outs[k].dims[d]);
				n *= outs[k].dims[d];
			}
			printf("]");
			if (outs[k].dtype == INFER_DT_FLOAT)
				for (int64_t j = 0; j < n && j < 8; j++)
					printf(" %g", (double)((float *)outs[k].data)[j]);
			if (outs[k].dtype == INFER_DT_INT64)
				for (int64_t j = 0; j < n && j < 8; j++)
					printf(" %lld", (long long)((int64_t *)outs[k].data)[j]);
			printf("%s\n", n > 8 ? " ..." : "");
		}
	}
	rc = 0;
out:
	if (outs)
		for (size_t k = 0; k < si->n_outputs; k++)
			free(outs[k].data);
	free(outs);
	for (int i = 0; i < n_in; i++) {
		free(bufs[i]);
		free(names[i]);
	}
	for (int i = 0; i < n_ex; i++)
		free(ex_bufs[i]);
	free(ctx_buf);
	infer_model_free(m);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmd_bench(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, 't' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "signature", required_argument, NULL, 's' },
		{ "precision", required_argument, NULL, 'p' },
		{ "profile", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint64_t batch = 1, threads = 0, iters = 20, warm = 3;
	const char *sig = NULL, *prec = NULL;
	bool profile = false;
	int c;
	while ((c = getopt_long(argc, argv, "b:t:n:w:s:p:Ph", lo, NULL)) != -1) {
		uint64_t *dst = NULL;
		switch (c) {
		case 'P': profile = true; continue;
		case 'b': dst = &batch; break;
		case 't': dst = &threads; break;
		case 'n': dst = &iters; break;
		case 'w': dst = &warm; break;
		case 's': sig = optarg; continue;
		case 'p': prec = optarg; continue;
		case 'h':
			printf("usage: ccinfer bench MODEL [--batch N] [--threads T] [--iterations K]\n"
			       "                   [--warmup W] [--signature S] [--precision fp32|bf16]\n"
			       "                   [--profile]\n"
			       "Runs the signature on random inputs (unknown leading dims = N) and\n"
			       "prints median and p99 latency and images (rows) per second.\n"
			       "--profile also times every step of the plan on its own and prints\n"
			       "the sum over the convolutions (the model's near-limit bound).\n");
			return 0;
		default:
			return 2;
		}
		if (cc_parse_u64(optarg, dst) || *dst > 100000) {
			fprintf(stderr, "ccinfer: bad number '%s'\n", optarg);
			return 2;
		}
	}
	if (optind + 1 != argc || batch < 1 || iters < 1) {
		fprintf(stderr, "usage: ccinfer bench MODEL --batch N --threads T\n");
		return 2;
	}
	struct infer_model *m;
	int r = load(argv[optind], (int)threads, prec, &m);
	if (r)
		return r;
	const struct infer_signature_info *si = infer_model_find_signature(m, sig);
	int rc = 1;
	struct infer_tensor ins[MAX_INPUTS];
	struct infer_tensor *outs = NULL;
	uint64_t *lat = NULL;
	memset(ins, 0, sizeof(ins));
	if (!si || si->n_inputs > MAX_INPUTS) {
		fprintf(stderr, "ccinfer: no usable signature '%s'\n", sig ? sig : "serving_default");
		goto out;
	}
	uint64_t seed = 12345;
	for (size_t i = 0; i < si->n_inputs; i++) {
		const struct infer_tensor_info *ti = &si->inputs[i];
		ins[i].name = ti->name;
		ins[i].dtype = ti->dtype;
		ins[i].rank = ti->rank;
		int64_t n = 1;
		for (int d = 0; d < ti->rank; d++) {
			ins[i].dims[d] = ti->dims[d] < 0 ? (d == 0 ? (int64_t)batch : 1) : ti->dims[d];
			n *= ins[i].dims[d];
		}
		ins[i].size = (size_t)n * infer_dtype_size(ti->dtype);
		ins[i].data = calloc(1, ins[i].size ? ins[i].size : 1);
		if (!ins[i].data)
			goto out;
		if (ti->dtype == INFER_DT_FLOAT)
			for (int64_t j = 0; j < n; j++) {
				seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
				((float *)ins[i].data)[j] = (float)((seed >> 40) & 0xffff) / 65536.0f;
			}
	}
	outs = calloc(si->n_outputs + 1, sizeof(*outs));
	lat = calloc(iters, sizeof(*lat));
	if (!outs || !lat)
		goto out;
	char err[4096];
	uint64_t tc = cc_mono_ns();
	for (uint64_t i = 0; i < warm + iters; i++) {
		uint64_t t0 = cc_mono_ns();
		r = infer_model_run(m, sig, ins, si->n_inputs, outs, si->n_outputs, err,
				    sizeof(err));
		uint64_t t1 = cc_mono_ns();
		if (r) {
			fprintf(stderr, "ccinfer: run failed: %s\n", err[0] ? err : infer_strerror(r));
			goto out;
		}
		if (i == 0)
			fprintf(stderr, "first run (plan compilation): %.1f ms\n",
				(double)(t1 - tc) / 1e6);
		if (i >= warm)
			lat[i - warm] = t1 - t0;
		/* keep the output buffers: no malloc in the loop after the first */
	}
	qsort(lat, iters, sizeof(*lat), cmp_u64);
	double med = (double)lat[iters / 2] / 1e6;
	double p99 = (double)lat[(iters * 99) / 100 < iters ? (iters * 99) / 100 : iters - 1] / 1e6;
	double sum = 0;
	for (uint64_t i = 0; i < iters; i++)
		sum += (double)lat[i];
	double ips = (double)batch * (double)iters / (sum / 1e9);
	printf("batch=%llu threads=%d median_ms=%.3f p99_ms=%.3f images_per_s=%.2f\n",
	       (unsigned long long)batch, infer_model_threads(m), med, p99, ips);
	if (profile) {
		double conv, steps;
		int nconv;
		r = infer_model_profile(m, sig, (int64_t)batch, (int)(iters < 5 ? iters : 5), &conv,
					&steps, &nconv, err, sizeof(err));
		if (r) {
			fprintf(stderr, "ccinfer: profile failed: %s\n", err[0] ? err : infer_strerror(r));
			goto out;
		}
		printf("conv_bound_ms=%.3f steps_sum_ms=%.3f convolutions=%d\n", conv, steps, nconv);
	}
	rc = 0;
out:
	if (outs && si)
		for (size_t k = 0; k < si->n_outputs; k++)
			free(outs[k].data);
	free(outs);
	free(lat);
	for (size_t i = 0; i < MAX_INPUTS; i++)
		free(ins[i].data);
	infer_model_free(m);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage_main(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage_main(stdout);
		return 0;
	}
	cc_log_set_level(CC_LOG_WARN);
	const char *lv = getenv("CCINFER_LOG");
	enum cc_log_level level;
	if (lv && !cc_log_level_parse(lv, &level))
		cc_log_set_level(level);
	argv++;
	argc--;
	optind = 1;
	if (!strcmp(cmd, "info"))
		return cmd_info(argc, argv);
	if (!strcmp(cmd, "run"))
		return cmd_run(argc, argv);
	if (!strcmp(cmd, "bench"))
		return cmd_bench(argc, argv);
	fprintf(stderr, "ccinfer: unknown command '%s'\n", cmd);
	usage_main(stderr);
	return 2;
}
