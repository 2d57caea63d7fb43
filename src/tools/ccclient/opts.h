/* SPDX-License-Identifier: Apache-2.0 */
/* ccclient command-line options. */
#ifndef CCCLIENT_OPTS_H
#define CCCLIENT_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "image.h"

#define CL_MAX_BATCH 4096u
#define CL_MAX_CNUM 1024u
#define CL_MAX_WARMUP 100000u
#define CL_MAX_TOP 1000u
#define CL_MAX_HOST 255u
#define CL_MAX_STREAMS 1024u
#define CL_MAX_SHAPE 7

struct cl_opts {
	char host[CL_MAX_HOST + 1];
	uint16_t port;
	bool url_set;
	const char *crt;        /* CA / server certificate to trust */
	const char *servername; /* SNI and name to check; default: host */
	const char *key, *cert; /* client key and certificate (mutual TLS) */
	bool insecure;          /* plaintext */
	uint32_t batch, cnum;
	uint32_t streams;       /* gRPC calls in flight per connection */
	uint64_t loop;          /* per client; 0 = until interrupted */
	uint32_t warmup;        /* per client, excluded from the summary */
	const char *img;
	const char *model, *signature, *input, *output;
	int64_t version;        /* -1: latest */
	bool rest;
	double timeout_s;
	bool json, quiet;
	const char *labels;
	uint32_t top;
	bool top_set;           /* --top given: print top-K even without labels */
	const char *plot;
	struct cl_preproc pre;  /* out_w/out_h 0 = from the model's metadata */
	bool size_set;
	uint64_t seed;
	size_t shape_n;         /* --shape: per-example dims (batch excluded) */
	int64_t shape[CL_MAX_SHAPE];
	const char *dump_request; /* write the request body there and exit */
	bool help, show_version;
};

/* Fill defaults (reference-compatible: localhost:8500, model
 * resnet50-v15-fp32, serving_default, batch 1, cnum 1, loop 200, warmup 5). */
void cl_opts_defaults(struct cl_opts *o);

/* Parse argv (argv[0] skipped).  Strings point into argv.  On error returns
 * -EINVAL and writes the reason (naming the flag) to errbuf. */
int cl_opts_parse(struct cl_opts *o, int argc, char **argv, char *errbuf, size_t errsz);

/* Split "host:port", "[v6]:port" or "host" (port = default_port). */
int cl_parse_hostport(const char *s, char *host, size_t hostsz, uint16_t *port,
		      uint16_t default_port);

/* Parse "a" or "a,b,c" into three floats. */
int cl_parse_triple(const char *s, float out[3]);

void cl_opts_usage(FILE *f);

#endif
