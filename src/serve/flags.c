/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tensorflow_model_server's command line, plus ccserve's own flags for the
 * confidential start.  Table-driven: every flag has a type, a slot in
 * struct serve_flags and a help line.  TF Serving flags that ccserve accepts
 * but that change nothing here are marked "accepted, no effect" in the help
 * (and logged when given) so existing command lines keep working.
 */
#include <errno.h>
#include <stddef.h>

#include "serve-internal.h"

enum flag_kind { F_STR, F_INT, F_BOOL, F_PORT, F_U64 };

struct flag_def {
	const char *name;
	enum flag_kind kind;
	size_t off;
	bool effective;  /* false: accepted for compatibility, no effect */
	const char *help;
};

#define O(m) offsetof(struct serve_flags, m)

static const struct flag_def flag_defs[] = {
	{ "port", F_PORT, O(port), true, "gRPC port (TLS unless --insecure); 0 disables gRPC. Default 8500" },
	{ "rest_api_port", F_PORT, O(rest_api_port), true, "REST port (TLS unless --insecure); 0 (default) disables REST" },
	{ "model_name", F_STR, O(model_name), true, "name of the model served from --model_base_path. Default \"default\"" },
	{ "model_base_path", F_STR, O(model_base_path), true, "directory with numeric version sub-directories (vol:/path inside --volume)" },
	{ "model_config_file", F_STR, O(model_config_file), true, "ModelServerConfig text proto (model_config_list); overrides --model_name/--model_base_path" },
	{ "model_config_file_poll_wait_seconds", F_INT, O(model_config_file_poll_wait_seconds), true, "re-read --model_config_file every N seconds; 0 (default) never" },
	{ "file_system_poll_wait_seconds", F_INT, O(file_system_poll_wait_seconds), true, "look for new versions every N seconds (default 1); 0 only at start" },
	{ "ssl_config_file", F_STR, O(ssl_config_file), true, "SSLConfig text proto: server_key, server_cert, custom_ca (PEM contents), client_verify" },
	{ "enable_batching", F_BOOL, O(enable_batching), true, "merge concurrent requests into batches" },
	{ "batching_parameters_file", F_STR, O(batching_parameters_file), true, "BatchingParameters text proto (implies --enable_batching)" },
	{ "monitoring_config_file", F_STR, O(monitoring_config_file), true, "MonitoringConfig text proto (Prometheus endpoint on the REST port)" },
	{ "enable_model_warmup", F_BOOL, O(enable_model_warmup), true, "replay assets.extra/tf_serving_warmup_requests before serving a version. Default true" },
	{ "tensorflow_intra_op_parallelism", F_INT, O(tensorflow_intra_op_parallelism), true, "engine threads per inference; 0 (default) = number of cores" },
	{ "tensorflow_inter_op_parallelism", F_INT, O(tensorflow_inter_op_parallelism), false, "accepted, no effect (the engine runs one op at a time)" },
	{ "tensorflow_session_parallelism", F_INT, O(tensorflow_inter_op_parallelism), false, "accepted, no effect" },
	{ "rest_api_num_threads", F_INT, O(rest_api_num_threads), true, "REST worker threads; 0 (default) = number of cores" },
	{ "rest_api_timeout_in_ms", F_INT, O(rest_api_timeout_in_ms), true, "REST request deadline in ms. Default 30000" },
	{ "grpc_max_threads", F_INT, O(grpc_max_threads), true, "gRPC worker threads; 0 (default) = number of cores" },
	{ "grpc_max_message_bytes", F_U64, O(max_message_bytes), true, "largest request or response message. Default 2147483647 (2 GiB - 1)" },
	{ "grpc_channel_arguments", F_STR, O(grpc_channel_arguments), false, "accepted, no effect" },
	{ "platform_config_file", F_STR, O(platform_config_file), false, "accepted, no effect" },
	{ "num_load_threads", F_INT, O(num_load_threads), false, "accepted, no effect (versions load one at a time)" },
	{ "num_unload_threads", F_INT, O(num_unload_threads), false, "accepted, no effect" },
	{ "max_num_load_retries", F_INT, O(max_num_load_retries), true, "retries of a failed version load. Default 5" },
	{ "load_retry_interval_micros", F_INT, O(load_retry_interval_micros), true, "wait between load retries. Default 60000000" },
	{ "insecure", F_BOOL, O(insecure), true, "serve plaintext gRPC and REST (logged as a warning); never in production" },
	{ "bind", F_STR, O(bind_address), true, "address to listen on. Default 0.0.0.0" },
	{ "volume", F_STR, O(volume), true, "encrypted model volume (LUKS2 image) unlocked in memory at start" },
	{ "volume_key_file", F_STR, O(volume_key_file), true, "file holding the raw volume key (instead of --kbs_url)" },
	{ "kbs_url", F_STR, O(kbs_url), true, "key broker URL (https://host:port) releasing the volume key after attestation" },
	{ "kbs_ca", F_STR, O(kbs_ca), true, "PEM CA certificate that signs the key broker's TLS certificate" },
	{ "kbs_resource", F_STR, O(kbs_resource), true, "key broker resource path repo/type/tag of the volume key" },
	{ "attestation_provider", F_STR, O(attestation_provider), true, "evidence provider: tsm (configfs-tsm) or sim" },
	{ "log_level", F_STR, O(log_level), true, "error|warn|info|debug. Default info" },
	{ "log_json", F_BOOL, O(log_json), true, "structured JSON log lines" },
	{ "grace_period_seconds", F_INT, O(grace_period_seconds), true, "on SIGTERM, wait up to N seconds for in-flight requests. Default 10" },
	{ "inline_max_us", F_INT, O(inline_max_us), true, "a request alone in flight whose model and API were measured to take at most N us runs on the I/O thread (skips two thread wake-ups); 0 = never. Default 50" },
	{ "help", F_BOOL, O(help), true, "print this help" },
	{ "version", F_BOOL, O(version), true, "print the version" },
};

static void set_defaults(struct serve_flags *f)
{
	memset(f, 0, sizeof(*f));
	f->port = 8500;
	f->file_system_poll_wait_seconds = 1;
	f->enable_model_warmup = true;
	f->rest_api_timeout_in_ms = 30000;
	f->max_message_bytes = 2147483647u;
	f->max_num_load_retries = 5;
	f->load_retry_interval_micros = 60000000;
	f->grace_period_seconds = 10;
	f->inline_max_us = SERVE_INLINE_MAX_US_DEFAULT;
}

void serve_flags_clear(struct serve_flags *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < CC_ARRAY_SIZE(flag_defs); i++)
		if (flag_defs[i].kind == F_STR) {
			char **p = (char **)((uint8_t *)f + flag_defs[i].off);
			free(*p);
			*p = NULL;
		}
}

static const struct flag_def *find_flag(const char *name, size_t len)
{
	for (size_t i = 0; i < CC_ARRAY_SIZE(flag_defs); i++)
		if (strlen(flag_defs[i].name) == len && !memcmp(flag_defs[i].name, name, len))
			return &flag_defs[i];
	return NULL;
}

static int parse_bool(const char *v, bool *ret)
{
	if (!strcmp(v, "true") || !strcmp(v, "1")) {
		*ret = true;
		return 0;
	}
	if (!strcmp(v, "false") || !strcmp(v, "0")) {
		*ret = false;
		return 0;
	}
	return CC_E_SYNTAX;
}

int serve_flags_parse(int argc, char *const *argv, struct serve_flags *ret, char *err,
		      size_t errlen)
{
	struct serve_flags f;
	set_defaults(&f);
	int rc = 0;
	if (err && errlen)
		err[0] = '\0';
#define FAIL(...)                                                              \
	do {                                                                   \
		if (err && errlen)                                             \
			snprintf(err, errlen, __VA_ARGS__);                    \
		rc = CC_E_SYNTAX;                                              \
		goto out;                                                      \
	} while (0)
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-')
			FAIL("unexpected argument \"%s\" (flags start with --)", a);
		a += (a[1] == '-') ? 2 : 1;
		const char *eq = strchr(a, '=');
		size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
		const struct flag_def *d = find_flag(a, nlen);
		bool negated = false;
		if (!d && nlen > 2 && !strncmp(a, "no", 2)) {
			d = find_flag(a + 2, nlen - 2);
			if (d && d->kind == F_BOOL && !eq)
				negated = true;
			else
				d = NULL;
		}
		if (!d)
			FAIL("unknown flag --%.*s", (int)(nlen > 100 ? 100 : nlen), a);
		void *slot = (uint8_t *)&f + d->off;
		const char *v = eq ? eq + 1 : NULL;
		if (d->kind == F_BOOL) {
			bool b = !negated;
			if (v && parse_bool(v, &b) < 0)
				FAIL("flag --%s: expected true or false, got \"%s\"", d->name, v);
			*(bool *)slot = b;
		} else {
			if (!v) {
				if (i + 1 >= argc)
					FAIL("flag --%s needs a value", d->name);
				v = argv[++i];
			}
			if (d->kind == F_STR) {
				char **s = slot;
				free(*s);
				*s = strdup(v);
				if (!*s) {
					rc = -ENOMEM;
					goto out;
				}
			} else if (d->kind == F_INT) {
				int64_t x;
				if (cc_parse_i64(v, &x) < 0)
					FAIL("flag --%s: \"%s\" is not an integer", d->name, v);
				if (x < 0)
					FAIL("flag --%s: must not be negative", d->name);
				*(int64_t *)slot = x;
			} else if (d->kind == F_U64) {
				uint64_t x;
				if (cc_parse_u64(v, &x) < 0)
					FAIL("flag --%s: \"%s\" is not a non-negative integer", d->name, v);
				*(uint64_t *)slot = x;
			} else {
				uint64_t x;
				if (cc_parse_u64(v, &x) < 0 || x > 65535)
					FAIL("flag --%s: \"%s\" is not a port number (0-65535)", d->name, v);
				*(uint16_t *)slot = (uint16_t)x;
			}
		}
		if (!d->effective)
			cc_log(CC_LOG_WARN, SERVE_LOG, "flag --%s is accepted but has no effect", d->name);
	}
	if (f.batching_parameters_file)
		f.enable_batching = true;
	*ret = f;
	return 0;
out:
	serve_flags_clear(&f);
	return rc;
#undef FAIL
}

const char *serve_flags_usage(void)
{
	static char buf[8192];
	static bool done;
	/* Built once; callers use it from the main thread before serving. */
	if (!done) {
		size_t off = 0;
		int n = snprintf(buf, sizeof(buf),
				 "usage: ccserve [--flag=value ...]\n"
				 "TensorFlow Serving flags (tensorflow_model_server) and ccserve's own:\n");
		if (n > 0)
			off = (size_t)n;
		for (size_t i = 0; i < CC_ARRAY_SIZE(flag_defs) && off < sizeof(buf); i++) {
			const char *t = flag_defs[i].kind == F_BOOL ? "bool"
					: flag_defs[i].kind == F_STR ? "string" : "int";
			n = snprintf(buf + off, sizeof(buf) - off, "  --%-38s %-6s %s\n",
				     flag_defs[i].name, t, flag_defs[i].help);
			if (n < 0)
				break;
			off += (size_t)n;
		}
		done = true;
	}
	return buf;
}
