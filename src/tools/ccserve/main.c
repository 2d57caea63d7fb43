/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccserve: a TensorFlow-Serving-compatible model server.  Takes
 * tensorflow_model_server's flags and config files, serves gRPC and REST
 * over TLS, and (with --volume) loads its models from an encrypted volume
 * unlocked in memory.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ccserve-config.h"
#include "ccserve/net.h"
#include "ccserve/serve.h"
#include "ccserve/util.h"
#include "ccserve/vol.h"
#include "engine.h"
#include "kbs_fetch.h"
#include "store.h"

#include "model_server_config.pb-c.h"
#include "monitoring_config.pb-c.h"
#include "session_bundle_config.pb-c.h"
#include "ssl_config.pb-c.h"

#define LOG "ccserve"

struct app {
	struct serve_flags f;
	struct serve_manager *mgr;
	struct serve_engine engine;
	struct serve_engine_loader el;
	struct serve_metrics *metrics;
	struct serve_server *srv;
	bool engine_ok;
	struct vol *vol;
	struct serve_store store;
	char *config_text;      /* last --model_config_file contents */
	size_t config_len;
};

static void die_usage(const char *msg)
{
	fprintf(stderr, "ccserve: %s\nRun 'ccserve --help' for the list of flags.\n", msg);
	exit(2);
}

static int apply_models(struct app *a, struct serve_model_config *cfgs, size_t n,
			struct serve_status *st)
{
	int rc = serve_manager_set_config(a->mgr, cfgs, n, st);
	if (rc < 0)
		return rc;
	/* Load synchronously, as TF Serving does before it starts serving. */
	rc = serve_manager_poll(a->mgr);
	if (rc < 0) {
		serve_status_set(st, SERVE_INTERNAL, "model load pass failed: %s", cc_strerror(rc));
		return rc;
	}
	/* Report models with nothing available. */
	for (size_t i = 0; i < n; i++) {
		struct serve_model_request mr = { .name = cfgs[i].name };
		struct serve_servable_ref ref;
		struct serve_status s2;
		if (serve_manager_acquire(a->mgr, &mr, &ref, &s2) == 0) {
			serve_manager_release(&ref);
			continue;
		}
		struct serve_version_status *vs = NULL;
		size_t nv = 0;
		if (serve_manager_status(a->mgr, &mr, &vs, &nv, &s2) == 0 && nv && vs[0].status.code) {
			serve_status_set(st, SERVE_UNKNOWN, "model \"%s\" version %" PRId64
					 " failed to load: %s", cfgs[i].name, vs[0].version,
					 vs[0].status.msg);
		} else {
			serve_status_set(st, SERVE_NOT_FOUND,
					 "model \"%s\": no servable version under \"%s\"", cfgs[i].name,
					 cfgs[i].base_path);
		}
		free(vs);
		return -ENOENT;
	}
	return 0;
}

static int reload_cb(void *ud, const struct serve_model_config *cfgs, size_t n,
		     struct serve_status *st)
{
	struct app *a = ud;
	/* The config is copied by the manager; apply_models takes non-const
	 * only for convenience. */
	return apply_models(a, (struct serve_model_config *)cfgs, n, st);
}

static int load_model_config_file(struct app *a, bool initial)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = a->store.read(a->store.ud, a->f.model_config_file, SERVE_TEXTPROTO_MAX_INPUT, &data,
			       &len);
	if (rc < 0) {
		cc_log(CC_LOG_ERROR, LOG, "cannot read --model_config_file \"%s\": %s",
		       a->f.model_config_file, cc_strerror(rc));
		return rc;
	}
	if (!initial && a->config_text && len == a->config_len &&
	    !memcmp(data, a->config_text, len)) {
		free(data);
		return 0;
	}
	char err[512];
	ProtobufCMessage *m = NULL;
	rc = serve_textproto_parse(&tensorflow__serving__model_server_config__descriptor,
				   (const char *)data, len, &m, err, sizeof(err));
	if (rc < 0) {
		cc_log(CC_LOG_ERROR, LOG, "--model_config_file \"%s\": %s", a->f.model_config_file, err);
		free(data);
		return rc;
	}
	struct serve_model_config *cfgs = NULL;
	size_t n = 0;
	struct serve_status st = { 0 };
	rc = serve_config_models((Tensorflow__Serving__ModelServerConfig *)m, &cfgs, &n, &st);
	protobuf_c_message_free_unpacked(m, NULL);
	if (rc == 0) {
		rc = apply_models(a, cfgs, n, &st);
		serve_config_models_free(cfgs, n);
	}
	if (rc < 0) {
		cc_log(CC_LOG_ERROR, LOG, "--model_config_file \"%s\": %s", a->f.model_config_file,
		       st.msg);
		free(data);
		return rc;
	}
	free(a->config_text);
	a->config_text = (char *)data;
	a->config_len = len;
	cc_log(CC_LOG_INFO, LOG, "model config \"%s\" applied: %zu model(s)", a->f.model_config_file, n);
	return 0;
}

/* SSLConfig -> TLS options.  The key lands in secure memory and the parsed
 * copy is wiped. */
static int load_tls(struct vol *v, const char *path, struct net_tls_opts *tls, char **key,
		    char **cert, char **ca)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = ccserve_store_read_secure(v, path, 1u << 20, &data, &len);
	if (rc < 0) {
		fprintf(stderr, "ccserve: cannot read --ssl_config_file \"%s\": %s\n", path,
			cc_strerror(rc));
		return rc;
	}
	char err[512];
	ProtobufCMessage *m = NULL;
	rc = serve_textproto_parse(&tensorflow__serving__sslconfig__descriptor, (const char *)data,
				   len, &m, err, sizeof(err));
	cc_secure_free(data);
	if (rc < 0) {
		fprintf(stderr, "ccserve: --ssl_config_file \"%s\": %s\n", path, err);
		return rc;
	}
	Tensorflow__Serving__SSLConfig *c = (void *)m;
	rc = 0;
	if (!c->server_key[0] || !c->server_cert[0]) {
		fprintf(stderr, "ccserve: --ssl_config_file \"%s\": server_key and server_cert "
				"(PEM contents) are required\n", path);
		rc = -EINVAL;
	} else {
		*key = cc_secure_strndup(c->server_key, strlen(c->server_key));
		*cert = strdup(c->server_cert);
		*ca = c->custom_ca[0] ? strdup(c->custom_ca) : NULL;
		if (!*key || !*cert || (c->custom_ca[0] && !*ca))
			rc = -ENOMEM;
		tls->key_pem = *key;
		tls->key_pem_len = *key ? strlen(*key) : 0;
		tls->cert_pem = *cert;
		tls->cert_pem_len = *cert ? strlen(*cert) : 0;
		tls->ca_pem = *ca;
		tls->ca_pem_len = *ca ? strlen(*ca) : 0;
		if (c->client_verify && !*ca) {
			fprintf(stderr, "ccserve: --ssl_config_file: client_verify needs custom_ca\n");
			rc = -EINVAL;
		}
		tls->client_verify = c->client_verify ? NET_CLIENT_VERIFY_REQUIRE
						      : NET_CLIENT_VERIFY_NONE;
	}
	cc_wipe(c->server_key, strlen(c->server_key));
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

static int load_batching(const char *path, struct serve_batch_params *p)
{
	if (!path) {
		serve_batch_params_default(p);
		return 0;
	}
	char err[512];
	ProtobufCMessage *m = NULL;
	int rc = serve_textproto_parse_file(&tensorflow__serving__batching_parameters__descriptor,
					    path, &m, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "ccserve: --batching_parameters_file \"%s\": %s\n", path, err);
		return rc;
	}
	struct serve_status st = { 0 };
	rc = serve_config_batching((Tensorflow__Serving__BatchingParameters *)m, p, &st);
	protobuf_c_message_free_unpacked(m, NULL);
	if (rc < 0)
		fprintf(stderr, "ccserve: --batching_parameters_file \"%s\": %s\n", path, st.msg);
	return rc;
}

static int load_monitoring(const char *path, char **ret_path)
{
	char err[512];
	ProtobufCMessage *m = NULL;
	int rc = serve_textproto_parse_file(&tensorflow__serving__monitoring_config__descriptor,
					    path, &m, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "ccserve: --monitoring_config_file \"%s\": %s\n", path, err);
		return rc;
	}
	Tensorflow__Serving__MonitoringConfig *c = (void *)m;
	*ret_path = NULL;
	if (c->prometheus_config && c->prometheus_config->enable) {
		const char *p = c->prometheus_config->path[0] ? c->prometheus_config->path
							     : "/monitoring/prometheus/metrics";
		if (p[0] != '/') {
			fprintf(stderr, "ccserve: --monitoring_config_file: path must start with '/'\n");
			rc = -EINVAL;
		} else if (!(*ret_path = strdup(p))) {
			rc = -ENOMEM;
		}
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

/* --volume: unlock the encrypted volume in memory with the raw volume key
 * from --volume_key_file or released by the key broker. */
static int unlock_volume(struct app *a)
{
	uint8_t *key = NULL;
	size_t len = 0;
	int rc;
	if (a->f.volume_key_file) {
		rc = cc_file_read(a->f.volume_key_file, 1024, true, &key, &len);
		if (rc < 0) {
			fprintf(stderr, "ccserve: cannot read --volume_key_file \"%s\": %s\n",
				a->f.volume_key_file, cc_strerror(rc));
			return rc;
		}
	} else {
		rc = ccserve_kbs_fetch(&a->f, &key, &len);
		if (rc < 0)
			return rc;
	}
	uint64_t t0 = cc_mono_ns();
	/* The secret is the raw volume key (64 bytes, what cryptsetup's
	 * --volume-key-file holds) or else a keyslot passphrase/key file
	 * (what ccvol create --key-file protects the volume with). */
	rc = VOL_E_BAD_KEY;
	if (len == 64)
		rc = vol_open_volume_key(a->f.volume, key, len, NULL, &a->vol);
	if (rc == VOL_E_BAD_KEY)
		rc = vol_open_passphrase(a->f.volume, key, len, NULL, &a->vol);
	cc_secure_free(key);
	if (rc < 0) {
		fprintf(stderr, "ccserve: cannot unlock --volume \"%s\": %s\n", a->f.volume,
			vol_strerror(rc));
		return rc;
	}
	cc_log(CC_LOG_INFO, LOG, "volume \"%s\" unlocked in memory in %.1f ms", a->f.volume,
	       (double)(cc_mono_ns() - t0) / 1e6);
	return 0;
}

int main(int argc, char **argv)
{
	struct app a = { 0 };
	char err[512];
	int rc = serve_flags_parse(argc, argv, &a.f, err, sizeof(err));
	if (rc == -ENOMEM) {
		fprintf(stderr, "ccserve: out of memory\n");
		return 1;
	}
	if (rc < 0)
		die_usage(err);
	if (a.f.help) {
		fputs(serve_flags_usage(), stdout);
		return 0;
	}
	if (a.f.version) {
		printf("ccserve %s\n", CCSERVE_VERSION);
		return 0;
	}
	if (a.f.log_level) {
		enum cc_log_level lv;
		if (cc_log_level_parse(a.f.log_level, &lv) < 0)
			die_usage("--log_level must be error, warn, info or debug");
		cc_log_set_level(lv);
	}
	cc_log_set_json(a.f.log_json);
	cc_disable_core_dumps();

	if (!a.f.model_config_file && !a.f.model_base_path)
		die_usage("give --model_base_path (with --model_name) or --model_config_file");
	if (a.f.port == 0 && a.f.rest_api_port == 0)
		die_usage("both --port and --rest_api_port are 0: nothing to serve");
	if (a.f.port && a.f.port == a.f.rest_api_port)
		die_usage("--port and --rest_api_port must differ");
	if ((a.f.volume_key_file || a.f.kbs_url) && !a.f.volume)
		die_usage("--volume_key_file and --kbs_url need --volume");
	if (a.f.volume && !!a.f.volume_key_file == !!a.f.kbs_url)
		die_usage("--volume needs exactly one of --volume_key_file or --kbs_url");
	if (a.f.kbs_url && (!a.f.kbs_ca || !a.f.kbs_resource || !a.f.attestation_provider))
		die_usage("--kbs_url needs --kbs_ca, --kbs_resource and --attestation_provider");

	/* Signals go to the main thread only: block them before any thread
	 * starts. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct net_tls_opts tls = { 0 };
	char *key = NULL, *cert = NULL, *ca = NULL;
	struct serve_batch_params bp;
	char *prom = NULL;
	int exit_code = 1;
	if (a.f.volume && unlock_volume(&a) < 0)
		goto out;
	ccserve_store_init(&a.store, a.vol);
	if (a.f.ssl_config_file) {
		if (load_tls(a.vol, a.f.ssl_config_file, &tls, &key, &cert, &ca) < 0)
			goto out;
	} else if (!a.f.insecure) {
		fprintf(stderr, "ccserve: TLS is required: give --ssl_config_file (an SSLConfig with "
				"server_key and server_cert) or --insecure\n");
		exit_code = 2;
		goto out;
	}
	if (a.f.insecure && !a.f.ssl_config_file)
		cc_log(CC_LOG_WARN, LOG, "--insecure: serving PLAINTEXT gRPC and REST; requests and "
		       "model outputs travel unencrypted");
	if (a.f.enable_batching && load_batching(a.f.batching_parameters_file, &bp) < 0)
		goto out;
	if (a.f.monitoring_config_file && load_monitoring(a.f.monitoring_config_file, &prom) < 0)
		goto out;
	if (prom && !a.f.rest_api_port)
		cc_log(CC_LOG_WARN, LOG, "monitoring is enabled but --rest_api_port is 0: no metrics "
		       "endpoint");

	rc = ccserve_engine_init(&a.engine, (int)a.f.tensorflow_intra_op_parallelism, err,
				 sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "ccserve: engine: %s\n", err);
		goto out;
	}
	a.engine_ok = true;
	ccserve_engine_set_store(&a.engine, &a.store);
	if (serve_metrics_new(&a.metrics) < 0)
		goto out;
	a.el.engine = &a.engine;
	a.el.metrics = a.metrics;
	a.el.warmup = a.f.enable_model_warmup;
	a.el.store = &a.store;
	struct serve_loader ld;
	serve_engine_loader_init(&a.el, &ld);
	ld.max_load_retries = (unsigned)(a.f.max_num_load_retries > 1000 ? 1000
							 : a.f.max_num_load_retries);
	if (serve_manager_new(&a.mgr, &ld) < 0)
		goto out;

	if (a.f.model_config_file) {
		if (load_model_config_file(&a, true) < 0)
			goto out;
	} else {
		struct serve_model_config c = {
			.name = a.f.model_name ? a.f.model_name : "default",
			.base_path = a.f.model_base_path,
			.policy = { .kind = SERVE_POLICY_LATEST, .latest_n = 1 },
		};
		struct serve_status st = { 0 };
		if (apply_models(&a, &c, 1, &st) < 0) {
			fprintf(stderr, "ccserve: %s\n", st.msg);
			goto out;
		}
	}
	if (a.f.file_system_poll_wait_seconds > 0)
		serve_manager_start(a.mgr, (uint64_t)a.f.file_system_poll_wait_seconds * 1000u);

	const char *bind = a.f.bind_address ? a.f.bind_address : "0.0.0.0";
	char glisten[300], rlisten[300];
	bool v6 = strchr(bind, ':') != NULL;
	snprintf(glisten, sizeof(glisten), v6 ? "[%s]:%u" : "%s:%u", bind, a.f.port);
	snprintf(rlisten, sizeof(rlisten), v6 ? "[%s]:%u" : "%s:%u", bind, a.f.rest_api_port);
	struct serve_server_opts so = {
		.grpc_listen = a.f.port ? glisten : NULL,
		.rest_listen = a.f.rest_api_port ? rlisten : NULL,
		.tls = a.f.ssl_config_file ? &tls : NULL,
		.insecure = a.f.insecure && !a.f.ssl_config_file,
		.engine = &a.engine,
		.manager = a.mgr,
		.metrics = a.metrics,
		.prometheus_path = prom,
		.batching = a.f.enable_batching ? &bp : NULL,
		.grpc_threads = (unsigned)(a.f.grpc_max_threads > 1024 ? 1024 : a.f.grpc_max_threads),
		.rest_threads = (unsigned)(a.f.rest_api_num_threads > 1024 ? 1024
									  : a.f.rest_api_num_threads),
		.rest_timeout_ms = (uint64_t)a.f.rest_api_timeout_in_ms,
		.max_message_bytes = (size_t)a.f.max_message_bytes,
		.inline_max_us = a.f.inline_max_us <= 0 ? -1
				 : a.f.inline_max_us > 1000000 ? 1000000
								: (int32_t)a.f.inline_max_us,
		.reload = reload_cb,
		.reload_ud = &a,
	};
	rc = serve_server_new(&a.srv, &so);
	/* The key was copied into the TLS context: wipe ours now. */
	cc_secure_free(key);
	key = NULL;
	if (rc < 0) {
		fprintf(stderr, "ccserve: cannot start serving: %s\n", net_strerror(rc));
		goto out;
	}
	cc_log(CC_LOG_INFO, LOG, "ccserve %s: gRPC %s%s port %u, REST %s port %u, batching %s, "
	       "metrics %s, warmup %s, poll %" PRId64 " s", CCSERVE_VERSION,
	       a.f.ssl_config_file ? "TLS" : "PLAINTEXT",
	       tls.client_verify ? " (client certificates required)" : "",
	       serve_server_grpc_port(a.srv), a.f.ssl_config_file ? "TLS" : "PLAINTEXT",
	       serve_server_rest_port(a.srv), a.f.enable_batching ? "on" : "off",
	       prom ? prom : "off", a.f.enable_model_warmup ? "on" : "off",
	       a.f.file_system_poll_wait_seconds);
	if (a.f.port)
		cc_log(CC_LOG_INFO, LOG, "Running gRPC ModelServer at %s:%u", bind,
		       serve_server_grpc_port(a.srv));
	if (a.f.rest_api_port)
		cc_log(CC_LOG_INFO, LOG, "Exporting HTTP/REST API at %s:%u", bind,
		       serve_server_rest_port(a.srv));

	uint64_t cfg_poll_ns = (uint64_t)a.f.model_config_file_poll_wait_seconds * 1000000000u;
	uint64_t next_cfg = cc_mono_ns() + cfg_poll_ns;
	for (;;) {
		struct timespec ts = { .tv_sec = 1 };
		int sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			cc_log(CC_LOG_INFO, LOG, "signal %d: draining (grace %" PRId64 " s)", sig,
			       a.f.grace_period_seconds);
			serve_server_shutdown(a.srv, (uint32_t)(a.f.grace_period_seconds * 1000));
			exit_code = 0;
			break;
		}
		if (sig == SIGHUP) {
			if (a.f.model_config_file)
				load_model_config_file(&a, false);
			else
				serve_manager_wake(a.mgr);
		}
		if (cfg_poll_ns && a.f.model_config_file && cc_mono_ns() >= next_cfg) {
			load_model_config_file(&a, false);
			next_cfg = cc_mono_ns() + cfg_poll_ns;
		}
	}
out:
	serve_server_free(a.srv);
	serve_manager_free(a.mgr);
	if (a.engine_ok)
		ccserve_engine_fini(&a.engine);
	serve_metrics_free(a.metrics);
	vol_close(a.vol);
	cc_secure_free(key);
	free(cert);
	free(ca);
	free(prom);
	free(a.config_text);
	serve_flags_clear(&a.f);
	return exit_code;
}
