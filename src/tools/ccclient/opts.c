/* SPDX-License-Identifier: Apache-2.0 */
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccserve/util.h"

void cl_opts_defaults(struct cl_opts *o)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->host, sizeof(o->host), "localhost");
	o->port = 8500;
	o->batch = 1;
	o->cnum = 1;
	o->streams = 1;
	o->loop = 200;
	o->warmup = 5;
	o->model = "resnet50-v15-fp32";
	o->signature = "serving_default";
	o->version = -1;
	o->timeout_s = 30;
	o->top = 5;
	o->pre.filter = CL_FILTER_BILINEAR;
	o->pre.crop = 0.875;
	for (int c = 0; c < 3; c++) {
		o->pre.mean[c] = 0;
		o->pre.std[c] = 1;
	}
	o->seed = 1;
}

void cl_opts_usage(FILE *f)
{
	fputs(
"Usage: ccclient [OPTIONS]\n"
"Send TensorFlow Serving Predict requests (gRPC or REST, over TLS) and report\n"
"per-query latency and a summary.\n"
"\n"
"Connection:\n"
"  --url HOST:PORT       server (default localhost:8500; 8501 with --rest)\n"
"  --crt PEM             CA or server certificate to trust (alias --ca);\n"
"                        without it the system trust store is used\n"
"  --servername NAME     TLS SNI and the name the certificate must match\n"
"                        (default: HOST)\n"
"  --key PEM --cert PEM  client key and certificate (mutual TLS)\n"
"  --insecure            plaintext, no TLS\n"
"  --rest                use the REST API (HTTP/1.1) instead of gRPC\n"
"  --timeout SECONDS     per-request deadline (default 30)\n"
"Load:\n"
"  --batch N             images per request (default 1)\n"
"  --cnum N              concurrent clients, one connection each (default 1)\n"
"  --streams N           gRPC calls in flight per connection (default 1)\n"
"  --loop N              requests per client; 0 = until Ctrl-C (default 200)\n"
"  --warmup N            requests per client before measuring (default 5)\n"
"Model:\n"
"  --model NAME          model name (default resnet50-v15-fp32)\n"
"  --version N           model version (default: latest)\n"
"  --signature NAME      signature (default serving_default)\n"
"  --input NAME          input alias (default: from the model's metadata)\n"
"  --output NAME         output used by --top (default: the only or first)\n"
"Input:\n"
"  --img FILE            JPEG or PNG; without it, random pixels in [0, 254]\n"
"  --size WxH            image size (default: from the metadata, else 224x224)\n"
"  --shape D,D,...       random input of this shape per example (batch\n"
"                        excluded), for non-image models (default: from\n"
"                        the metadata when it is not an RGB image)\n"
"  --resize FILTER       bilinear (antialiased, default) or lanczos3\n"
"  --crop F              centre crop fraction in (0, 1] (default 0.875)\n"
"  --mean M[,M,M]        subtracted per RGB channel (default 0)\n"
"  --std S[,S,S]         divided per RGB channel after --mean (default 1)\n"
"  --seed N              seed of the random input (default 1)\n"
"Output:\n"
"  --quiet               no per-query lines\n"
"  --json                the summary as JSON on stdout (query lines on stderr)\n"
"  --labels FILE --top K print the top K classes of the first image\n"
"  --plot FILE.svg       latency histogram and latency over time\n"
"  --dump-request FILE   write the request body (gRPC frame or JSON) and exit\n"
"  --help, --version\n"
"Single-dash forms (-url, -crt, -batch, -cnum, -loop, -img ...) are accepted.\n",
	      f);
}

static int fail(char *errbuf, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *errbuf, size_t errsz, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, errsz, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int cl_parse_hostport(const char *s, char *host, size_t hostsz, uint16_t *port,
		      uint16_t default_port)
{
	const char *h = s, *pp = NULL;
	size_t hl;
	if (!s || !*s)
		return -EINVAL;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close == s + 1)
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		if (close[1] == ':')
			pp = close + 2;
		else if (close[1] != '\0')
			return -EINVAL;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			return -EINVAL; /* bare IPv6 needs brackets */
		hl = colon ? (size_t)(colon - s) : strlen(s);
		pp = colon ? colon + 1 : NULL;
	}
	if (hl == 0 || hl >= hostsz)
		return -EINVAL;
	for (size_t i = 0; i < hl; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
		      (c == ':' && *s == '[')))
			return -EINVAL;
	}
	uint64_t p = default_port;
	if (pp && (cc_parse_u64(pp, &p) < 0 || p == 0 || p > 65535))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static int parse_float(const char *s, double *ret)
{
	char *end;
	if (!s || !*s || *s == ' ')
		return -EINVAL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return -EINVAL;
	*ret = v;
	return 0;
}

int cl_parse_triple(const char *s, float out[3])
{
	char buf[128];
	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, strlen(s) + 1);
	char *parts[3];
	size_t n = 0;
	char *p = buf;
	for (;;) {
		if (n == 3)
			return -EINVAL;
		parts[n++] = p;
		char *comma = strchr(p, ',');
		if (!comma)
			break;
		*comma = '\0';
		p = comma + 1;
	}
	if (n != 1 && n != 3)
		return -EINVAL;
	double v[3];
	for (size_t i = 0; i < n; i++)
		if (parse_float(parts[i], &v[i]) < 0 || fabs(v[i]) > 1e6)
			return -EINVAL;
	for (size_t i = 0; i < 3; i++)
		out[i] = (float)v[n == 1 ? 0 : i];
	return 0;
}

static int parse_u32_range(const char *s, uint32_t lo, uint32_t hi, uint32_t *ret)
{
	uint64_t v;
	if (cc_parse_u64(s, &v) < 0 || v < lo || v > hi)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int parse_size(const char *s, uint32_t *w, uint32_t *h)
{
	char buf[32];
	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, strlen(s) + 1);
	char *x = strchr(buf, 'x');
	if (!x)
		return -EINVAL;
	*x = '\0';
	if (parse_u32_range(buf, 1, 8192, w) < 0 || parse_u32_range(x + 1, 1, 8192, h) < 0)
		return -EINVAL;
	return 0;
}

static int parse_shape(const char *s, int64_t *dims, size_t *ret_n)
{
	char buf[128];
	size_t n = 0;
	uint64_t total = 1;
	if (!s || !*s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, strlen(s) + 1);
	char *p = buf;
	for (;;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		uint64_t v;
		if (n >= CL_MAX_SHAPE || cc_parse_u64(p, &v) < 0 || v == 0 || v > (1u << 24))
			return -EINVAL;
		total *= v;
		if (total > (64u << 20))
			return -EINVAL;
		dims[n++] = (int64_t)v;
		if (!comma)
			break;
		p = comma + 1;
	}
	*ret_n = n;
	return 0;
}

enum argkind { A_FLAG, A_STR };

struct optdef {
	const char *name;
	enum argkind kind;
};

static const struct optdef optdefs[] = {
	{ "url", A_STR }, { "crt", A_STR }, { "ca", A_STR }, { "servername", A_STR },
	{ "key", A_STR }, { "cert", A_STR }, { "insecure", A_FLAG }, { "batch", A_STR },
	{ "cnum", A_STR }, { "loop", A_STR }, { "img", A_STR }, { "model", A_STR },
	{ "signature", A_STR }, { "input", A_STR }, { "output", A_STR },
	{ "version", A_STR }, { "rest", A_FLAG }, { "warmup", A_STR },
	{ "timeout", A_STR }, { "json", A_FLAG }, { "quiet", A_FLAG },
	{ "labels", A_STR }, { "top", A_STR }, { "plot", A_STR }, { "mean", A_STR },
	{ "std", A_STR }, { "resize", A_STR }, { "crop", A_STR }, { "size", A_STR },
	{ "seed", A_STR }, { "help", A_FLAG }, { "h", A_FLAG }, { "streams", A_STR },
	{ "shape", A_STR }, { "dump-request", A_STR },
};

/* --version is both "model version N" and "print the program version": with
 * a value it is the model version, alone (last argument, or followed by
 * another option) it prints the program version. */
static bool looks_like_option(const char *s)
{
	return s && s[0] == '-' && s[1] != '\0' && !(s[1] >= '0' && s[1] <= '9');
}

static int apply(struct cl_opts *o, const char *name, const char *val, char *errbuf,
		 size_t errsz)
{
	uint64_t u;
	double d;
	if (!strcmp(name, "url")) {
		if (cl_parse_hostport(val, o->host, sizeof(o->host), &o->port, 8500) < 0)
			return fail(errbuf, errsz, "--url: expected HOST:PORT, got \"%s\"", val);
		o->url_set = true;
	} else if (!strcmp(name, "crt") || !strcmp(name, "ca")) {
		o->crt = val;
	} else if (!strcmp(name, "servername")) {
		if (!*val || strlen(val) > CL_MAX_HOST)
			return fail(errbuf, errsz, "--servername: bad name");
		o->servername = val;
	} else if (!strcmp(name, "key")) {
		o->key = val;
	} else if (!strcmp(name, "cert")) {
		o->cert = val;
	} else if (!strcmp(name, "insecure")) {
		o->insecure = true;
	} else if (!strcmp(name, "batch")) {
		if (parse_u32_range(val, 1, CL_MAX_BATCH, &o->batch) < 0)
			return fail(errbuf, errsz, "--batch: expected 1..%u, got \"%s\"",
				    CL_MAX_BATCH, val);
	} else if (!strcmp(name, "cnum")) {
		if (parse_u32_range(val, 1, CL_MAX_CNUM, &o->cnum) < 0)
			return fail(errbuf, errsz, "--cnum: expected 1..%u, got \"%s\"",
				    CL_MAX_CNUM, val);
	} else if (!strcmp(name, "loop")) {
		if (cc_parse_u64(val, &u) < 0 || u > UINT32_MAX)
			return fail(errbuf, errsz, "--loop: expected 0..%u, got \"%s\"",
				    UINT32_MAX, val);
		o->loop = u;
	} else if (!strcmp(name, "warmup")) {
		if (parse_u32_range(val, 0, CL_MAX_WARMUP, &o->warmup) < 0)
			return fail(errbuf, errsz, "--warmup: expected 0..%u, got \"%s\"",
				    CL_MAX_WARMUP, val);
	} else if (!strcmp(name, "img")) {
		o->img = val;
	} else if (!strcmp(name, "model")) {
		if (!*val || strlen(val) > 200 || strchr(val, '/'))
			return fail(errbuf, errsz, "--model: bad model name \"%s\"", val);
		o->model = val;
	} else if (!strcmp(name, "signature")) {
		if (!*val || strlen(val) > 200)
			return fail(errbuf, errsz, "--signature: bad name");
		o->signature = val;
	} else if (!strcmp(name, "input")) {
		if (!*val || strlen(val) > 200)
			return fail(errbuf, errsz, "--input: bad name");
		o->input = val;
	} else if (!strcmp(name, "output")) {
		if (!*val || strlen(val) > 200)
			return fail(errbuf, errsz, "--output: bad name");
		o->output = val;
	} else if (!strcmp(name, "version")) {
		if (cc_parse_u64(val, &u) < 0 || u > INT64_MAX)
			return fail(errbuf, errsz, "--version: expected a model version number, got \"%s\"", val);
		o->version = (int64_t)u;
	} else if (!strcmp(name, "rest")) {
		o->rest = true;
	} else if (!strcmp(name, "timeout")) {
		if (parse_float(val, &d) < 0 || !(d > 0) || d > 3600)
			return fail(errbuf, errsz, "--timeout: expected seconds in (0, 3600], got \"%s\"", val);
		o->timeout_s = d;
	} else if (!strcmp(name, "json")) {
		o->json = true;
	} else if (!strcmp(name, "quiet")) {
		o->quiet = true;
	} else if (!strcmp(name, "labels")) {
		o->labels = val;
	} else if (!strcmp(name, "top")) {
		if (parse_u32_range(val, 1, CL_MAX_TOP, &o->top) < 0)
			return fail(errbuf, errsz, "--top: expected 1..%u, got \"%s\"", CL_MAX_TOP, val);
		o->top_set = true;
	} else if (!strcmp(name, "plot")) {
		o->plot = val;
	} else if (!strcmp(name, "mean")) {
		if (cl_parse_triple(val, o->pre.mean) < 0)
			return fail(errbuf, errsz, "--mean: expected M or R,G,B numbers, got \"%s\"", val);
	} else if (!strcmp(name, "std")) {
		if (cl_parse_triple(val, o->pre.std) < 0 || o->pre.std[0] == 0 ||
		    o->pre.std[1] == 0 || o->pre.std[2] == 0)
			return fail(errbuf, errsz, "--std: expected non-zero S or R,G,B numbers, got \"%s\"", val);
	} else if (!strcmp(name, "resize")) {
		if (cl_filter_parse(val, &o->pre.filter) < 0)
			return fail(errbuf, errsz, "--resize: expected bilinear or lanczos3, got \"%s\"", val);
	} else if (!strcmp(name, "crop")) {
		if (parse_float(val, &d) < 0 || !(d > 0 && d <= 1))
			return fail(errbuf, errsz, "--crop: expected a fraction in (0, 1], got \"%s\"", val);
		o->pre.crop = d;
	} else if (!strcmp(name, "size")) {
		if (parse_size(val, &o->pre.out_w, &o->pre.out_h) < 0)
			return fail(errbuf, errsz, "--size: expected WxH (1..8192), got \"%s\"", val);
		o->size_set = true;
	} else if (!strcmp(name, "seed")) {
		if (cc_parse_u64(val, &u) < 0)
			return fail(errbuf, errsz, "--seed: expected a number, got \"%s\"", val);
		o->seed = u;
	} else if (!strcmp(name, "streams")) {
		if (parse_u32_range(val, 1, CL_MAX_STREAMS, &o->streams) < 0)
			return fail(errbuf, errsz, "--streams: expected 1..%u, got \"%s\"",
				    CL_MAX_STREAMS, val);
	} else if (!strcmp(name, "shape")) {
		if (parse_shape(val, o->shape, &o->shape_n) < 0)
			return fail(errbuf, errsz, "--shape: expected 1 to %d positive sizes like 224,224,3, got \"%s\"",
				    CL_MAX_SHAPE, val);
	} else if (!strcmp(name, "dump-request")) {
		o->dump_request = val;
	} else if (!strcmp(name, "help") || !strcmp(name, "h")) {
		o->help = true;
	}
	return 0;
}

int cl_opts_parse(struct cl_opts *o, int argc, char **argv, char *errbuf, size_t errsz)
{
	errbuf[0] = '\0';
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0')
			return fail(errbuf, errsz, "unexpected argument \"%s\" (see --help)", a);
		const char *name = a + 1 + (a[1] == '-');
		if (!*name)
			return fail(errbuf, errsz, "unexpected argument \"--\"");
		char nbuf[32];
		const char *eq = strchr(name, '=');
		size_t nl = eq ? (size_t)(eq - name) : strlen(name);
		if (nl >= sizeof(nbuf))
			return fail(errbuf, errsz, "unknown option \"%s\" (see --help)", a);
		memcpy(nbuf, name, nl);
		nbuf[nl] = '\0';
		const char *val = eq ? eq + 1 : NULL;

		if (!strcmp(nbuf, "version")) {
			if (!val && i + 1 < argc && !looks_like_option(argv[i + 1]))
				val = argv[++i];
			if (!val) {
				o->show_version = true;
				continue;
			}
			if (apply(o, nbuf, val, errbuf, errsz) < 0)
				return -EINVAL;
			continue;
		}
		const struct optdef *d = NULL;
		for (size_t k = 0; k < CC_ARRAY_SIZE(optdefs); k++)
			if (!strcmp(optdefs[k].name, nbuf))
				d = &optdefs[k];
		if (!d)
			return fail(errbuf, errsz, "unknown option \"%s\" (see --help)", a);
		if (d->kind == A_FLAG) {
			if (val)
				return fail(errbuf, errsz, "--%s takes no value", nbuf);
		} else if (!val) {
			if (i + 1 >= argc)
				return fail(errbuf, errsz, "--%s needs a value", nbuf);
			val = argv[++i];
		}
		if (apply(o, nbuf, val, errbuf, errsz) < 0)
			return -EINVAL;
	}
	if (o->help || o->show_version)
		return 0;

	/* Cross-checks. */
	if (o->rest && !o->url_set)
		o->port = 8501;
	if (o->insecure && (o->crt || o->key || o->cert || o->servername))
		return fail(errbuf, errsz, "--insecure (plaintext) cannot be combined with --crt, --key, --cert or --servername");
	if (!o->key != !o->cert)
		return fail(errbuf, errsz, "mutual TLS needs both --key and --cert");
	if (o->rest && o->streams > 1)
		return fail(errbuf, errsz, "--streams: the REST API (HTTP/1.1) has one request in flight per connection");
	if (o->img && o->shape_n)
		return fail(errbuf, errsz, "--shape is for random input; an --img is sized with --size");
	return 0;
}
