/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key broker benchmark: the full flow (TLS 1.3 handshake + auth + attest +
 * resource + JWE unwrap) with sim quotes, at 1 and 32 concurrent clients,
 * next to what it is made of, measured in the same run:
 *   - TLS handshakes alone (connect, TLS 1.3 handshake, close),
 *   - quote verification alone (attest_verify of one sim quote, no policy).
 * The broker runs in a child process (2 workers, 2 I/O threads); clients are
 * threads of this process on the same machine, so the figures are for the
 * whole exchange on the machine's cores.
 *   bench_kbs [--smoke] [--seconds N]
 */
#include <ccserve/attest.h>
#include <ccserve/kbs.h>
#include <ccserve/util.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static char dir[64], sim[96], ca_path[128], url[64];
static pid_t broker_pid;

/* CPU seconds (user + system) used so far by the broker child. */
static double broker_cpu(void)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)broker_pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	/* fields after ")": state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
static const char *RES = "bench/volume/key";
static int port;

static void die(const char *what, int r)
{
	fprintf(stderr, "bench_kbs: %s: %s\n", what, kbs_strerror(r));
	exit(1);
}

/* --- TLS material -------------------------------------------------------- */

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn, bool ca)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 1 : 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
						ca ? "critical,CA:TRUE" : "CA:FALSE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (!ca) {
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	X509_sign(x, signer, EVP_sha256());
	return x;
}

static void write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");
	if (!f)
		die(path, -errno);
	if (x)
		PEM_write_X509(f, x);
	if (k)
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
}

static void make_tls(char *cert, char *key)
{
	EVP_PKEY *cak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *sk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *cax = make_cert(cak, cak, NULL, "bench-ca", true);
	X509 *sx = make_cert(sk, cak, cax, "127.0.0.1", false);
	write_pem(ca_path, cax, NULL);
	write_pem(cert, sx, NULL);
	write_pem(key, NULL, sk);
	X509_free(cax);
	X509_free(sx);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
}

/* --- broker child -------------------------------------------------------- */

static pid_t start_broker(void)
{
	char db[128], mk[128], cert[128], key[128], root[128], coll[128];
	snprintf(db, sizeof db, "%s/kbs.db", dir);
	snprintf(mk, sizeof mk, "%s/master.key", dir);
	snprintf(cert, sizeof cert, "%s/srv.pem", dir);
	snprintf(key, sizeof key, "%s/srv.key", dir);
	snprintf(root, sizeof root, "%s/root_ca.pem", sim);
	snprintf(coll, sizeof coll, "%s/collateral", sim);
	make_tls(cert, key);
	int r;
	if ((r = kbs_master_key_generate(mk)))
		die("master key", r);
	struct kbs_store *st = NULL;
	struct kbs_store_opts so = {.path = db, .master_key_path = mk, .create = true};
	if ((r = kbs_store_open(&st, &so)))
		die("store", r);
	uint8_t secret[32];
	memset(secret, 0x5a, sizeof secret);
	if ((r = kbs_store_secret_put(st, RES, secret, sizeof secret)) ||
	    (r = kbs_store_policy_set(st, RES, "{\"allow_debug\":false}", 21)))
		die("secret", r);
	kbs_store_free(st);

	int fds[2];
	if (pipe(fds))
		die("pipe", -errno);
	pid_t pid = fork();
	if (pid < 0)
		die("fork", -errno);
	if (pid > 0) {
		close(fds[1]);
		uint16_t p = 0;
		if (read(fds[0], &p, sizeof p) != sizeof p || !p)
			die("broker start", -EIO);
		close(fds[0]);
		port = p;
		return pid;
	}
	close(fds[0]);
	cc_log_set_level(CC_LOG_WARN);
	struct kbs_attest_verifier *v = NULL;
	struct kbs_attest_verifier_opts vo = {.sim_root_path = root, .sim_collateral_path = coll};
	struct kbs_broker *b = NULL;
	struct kbs_server *srv = NULL;
	if ((r = kbs_store_open(&st, &so)) || (r = kbs_attest_verifier_new(&v, &vo)))
		die("broker setup", r);
	struct kbs_broker_opts bo = {.store = st, .verifier = kbs_attest_verifier_ops(v),
				     .allow_sim = true, .audit_to_store = true};
	if ((r = kbs_broker_new(&b, &bo)))
		die("broker", r);
	struct kbs_server_opts sv = {.listen = "127.0.0.1:0", .cert_path = cert, .key_path = key,
				     .broker = b, .workers = 2, .io_threads = 2,
				     .max_connections = 4096};
	if ((r = kbs_server_new(&srv, &sv)) || (r = kbs_server_start(srv)))
		die("server", r);
	uint16_t p = kbs_server_port(srv);
	if (write(fds[1], &p, sizeof p) != sizeof p)
		_exit(1);
	close(fds[1]);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	int sig;
	sigwait(&set, &sig);
	kbs_server_shutdown(srv, 1000);
	kbs_server_free(srv);
	kbs_broker_free(b);
	kbs_attest_verifier_free(v);
	kbs_store_free(st);
	_exit(0);
}

/* --- measurements -------------------------------------------------------- */

struct lat {
	double *v;
	size_t n, cap;
	pthread_mutex_t lock;
};

static void lat_add(struct lat *l, double ms)
{
	pthread_mutex_lock(&l->lock);
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 4096;
		double *nv = realloc(l->v, nc * sizeof *nv);
		if (!nv)
			abort();
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = ms;
	pthread_mutex_unlock(&l->lock);
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(struct lat *l, double p)
{
	if (!l->n)
		return 0;
	qsort(l->v, l->n, sizeof *l->v, dcmp);
	size_t i = (size_t)(p * (double)(l->n - 1) + 0.5);
	return l->v[i];
}

enum mode { FULL, HANDSHAKE };

struct job {
	enum mode mode;
	uint64_t deadline;
	struct lat *lat;
	unsigned long errors;
	SSL_CTX *ctx;
	struct kbs_quote_provider *prov;
	struct kbs_transport *https;
	/* per-step wall time of the HTTP exchanges, summed (ns) */
	uint64_t step_ns[3];
	unsigned long steps[3];
};

/* A transport that times each exchange around the HTTPS one. */
static int timed_request(void *ud, const char *method, const char *path, const char *cookie,
			 const void *body, size_t len, struct kbs_http_reply *ret)
{
	struct job *j = ud;
	int k = strstr(path, "/auth") ? 0 : strstr(path, "/attest") ? 1 : 2;
	uint64_t t0 = cc_mono_ns();
	int r = j->https->request(j->https->userdata, method, path, cookie, body, len, ret);
	j->step_ns[k] += cc_mono_ns() - t0;
	j->steps[k]++;
	return r;
}

static int handshake_once(SSL_CTX *ctx)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	SSL *s = SSL_new(ctx);
	SSL_set_fd(s, fd);
	X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), "127.0.0.1");
	int ok = SSL_connect(s) == 1;
	/* Complete the exchange so the server sees a whole handshake. */
	if (ok)
		SSL_shutdown(s);
	SSL_free(s);
	close(fd);
	ERR_clear_error();
	return ok ? 0 : -1;
}

static void *worker(void *ud)
{
	struct job *j = ud;
	while (cc_mono_ns() < j->deadline) {
		uint64_t t0 = cc_mono_ns();
		int r;
		if (j->mode == HANDSHAKE) {
			r = handshake_once(j->ctx);
		} else {
			/* A new TLS connection (full handshake) per flow: the
			 * transport closes the connection after the resource
			 * request; the client's TLS context is set up once per
			 * thread. */
			struct kbs_transport t = {j, timed_request};
			uint8_t *s = NULL;
			size_t n = 0;
			r = kbs_client_fetch(&t, j->prov, RES, &s, &n);
			if (!r && (n != 32 || s[0] != 0x5a))
				r = -EIO;
			cc_secure_free(s);
		}
		if (r)
			j->errors++;
		else
			lat_add(j->lat, (double)(cc_mono_ns() - t0) / 1e6);
	}
	return NULL;
}

struct result {
	double p50, p99, rate;
	unsigned long errors;
	size_t n;
	double step_ms[3]; /* mean auth (incl. handshake), attest, resource */
	double broker_cpu_ms, client_cpu_ms; /* per completed operation */
};

static struct result run(enum mode m, unsigned clients, double seconds)
{
	struct lat l = {0};
	pthread_mutex_init(&l.lock, NULL);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_load_verify_locations(ctx, ca_path, NULL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* full handshakes */
	struct job *jobs = calloc(clients, sizeof *jobs);
	pthread_t *th = calloc(clients, sizeof *th);
	double bc0 = broker_cpu(), cc0 = self_cpu();
	uint64_t t0 = cc_mono_ns();
	uint64_t deadline = t0 + (uint64_t)(seconds * 1e9);
	for (unsigned i = 0; i < clients; i++) {
		jobs[i] = (struct job){.mode = m, .deadline = deadline, .lat = &l, .ctx = ctx};
		if (m == FULL) {
			int r = kbs_attest_provider_new(&jobs[i].prov, "sim", sim, NULL);
			if (!r)
				r = kbs_https_transport_new(&jobs[i].https, url, ca_path, 30000);
			if (r)
				die("client setup", r);
		}
		pthread_create(&th[i], NULL, worker, &jobs[i]);
	}
	struct result res = {0};
	unsigned long steps[3] = {0};
	for (unsigned i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		res.errors += jobs[i].errors;
		for (int k = 0; k < 3; k++) {
			res.step_ms[k] += (double)jobs[i].step_ns[k] / 1e6;
			steps[k] += jobs[i].steps[k];
		}
		kbs_attest_provider_free(jobs[i].prov);
		kbs_https_transport_free(jobs[i].https);
	}
	for (int k = 0; k < 3; k++)
		res.step_ms[k] = steps[k] ? res.step_ms[k] / (double)steps[k] : 0;
	double el = (double)(cc_mono_ns() - t0) / 1e9;
	res.n = l.n;
	if (l.n) {
		res.broker_cpu_ms = (broker_cpu() - bc0) * 1000 / (double)l.n;
		res.client_cpu_ms = (self_cpu() - cc0) * 1000 / (double)l.n;
	}
	res.rate = (double)l.n / el;
	res.p50 = pct(&l, 0.50);
	res.p99 = pct(&l, 0.99);
	free(l.v);
	free(jobs);
	free(th);
	SSL_CTX_free(ctx);
	return res;
}

/* The broker's protocol work alone, in-process, no TLS and no HTTP: time
 * spent in kbs_broker_handle for auth + attest + resource (quote generation
 * and JWE decryption, the client's work, are excluded). */
static int bt_request(void *ud, const char *method, const char *path, const char *cookie,
		      const void *body, size_t len, struct kbs_http_reply *ret)
{
	void **ctx = ud;
	struct kbs_broker *b = ctx[0];
	uint64_t *ns = ctx[1];
	struct kbs_request rq = {method, path, cookie, body, len, "bench"};
	struct kbs_response rs;
	struct timespec a, z;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	kbs_broker_handle(b, &rq, &rs);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &z);
	*ns += (uint64_t)((z.tv_sec - a.tv_sec) * 1000000000LL + (z.tv_nsec - a.tv_nsec));
	ret->status = rs.status;
	ret->body = rs.body;
	ret->body_len = rs.body_len;
	snprintf(ret->set_cookie, sizeof ret->set_cookie, "%s", rs.set_cookie);
	return 0;
}

static double bench_broker_alone(double seconds)
{
	char db[128], mk[128], root[128], coll[128];
	snprintf(db, sizeof db, "%s/kbs.db", dir);
	snprintf(mk, sizeof mk, "%s/master.key", dir);
	snprintf(root, sizeof root, "%s/root_ca.pem", sim);
	snprintf(coll, sizeof coll, "%s/collateral", sim);
	struct kbs_store *st = NULL;
	struct kbs_store_opts so = {.path = db, .master_key_path = mk};
	struct kbs_attest_verifier *v = NULL;
	struct kbs_attest_verifier_opts vo = {.sim_root_path = root, .sim_collateral_path = coll};
	struct kbs_broker *b = NULL;
	struct kbs_quote_provider *p = NULL;
	int r;
	if ((r = kbs_store_open(&st, &so)) || (r = kbs_attest_verifier_new(&v, &vo)))
		die("broker-alone setup", r);
	struct kbs_broker_opts bo = {.store = st, .verifier = kbs_attest_verifier_ops(v),
				     .allow_sim = true, .audit_to_store = true};
	if ((r = kbs_broker_new(&b, &bo)) || (r = kbs_attest_provider_new(&p, "sim", sim, NULL)))
		die("broker-alone", r);
	uint64_t ns = 0;
	void *ctx[2] = {b, &ns};
	struct kbs_transport t = {ctx, bt_request};
	unsigned long n = 0;
	uint64_t dl = cc_mono_ns() + (uint64_t)(seconds * 1e9);
	while (cc_mono_ns() < dl) {
		uint8_t *sec = NULL;
		size_t sl = 0;
		if ((r = kbs_client_fetch(&t, p, RES, &sec, &sl)))
			die("broker-alone flow", r);
		cc_secure_free(sec);
		n++;
	}
	kbs_attest_provider_free(p);
	kbs_broker_free(b);
	kbs_attest_verifier_free(v);
	kbs_store_free(st);
	return n ? (double)ns / (double)n / 1e3 : 0;
}

/* Quote verification alone: one sim quote verified repeatedly. */
static void bench_verify(double seconds, double *ret_us, double *ret_rate)
{
	char root[128], coll[128];
	snprintf(root, sizeof root, "%s/root_ca.pem", sim);
	snprintf(coll, sizeof coll, "%s/collateral", sim);
	struct attest_provider *p = NULL;
	struct attest_provider_opts po = {.sim_dir = sim};
	struct attest_verifier *v = NULL;
	struct attest_collateral *c = NULL;
	uint8_t rd[64] = {1};
	uint8_t *q = NULL;
	size_t ql = 0;
	struct attest_quote *aq = NULL;
	if (attest_provider_new("sim", &po, &p) || attest_provider_get_quote(p, rd, &q, &ql) ||
	    attest_verifier_new_root_file(&v, root) || attest_collateral_load(coll, &c))
		die("verify setup", -EIO);
	struct attest_result *res = calloc(1, sizeof *res);
	unsigned long n = 0;
	uint64_t t0 = cc_mono_ns(), dl = t0 + (uint64_t)(seconds * 1e9);
	while (cc_mono_ns() < dl) {
		/* Parse + verify: what the broker does per attestation. */
		if (attest_quote_parse(q, ql, &aq) || attest_verify(v, aq, c, cc_wall_s(), res))
			die("verify", -EIO);
		attest_quote_free(aq);
		n++;
	}
	double el = (double)(cc_mono_ns() - t0) / 1e9;
	*ret_us = el / (double)n * 1e6;
	*ret_rate = (double)n / el;
	free(res);
	free(q);
	attest_collateral_free(c);
	attest_verifier_free(v);
	attest_provider_free(p);
}

int main(int argc, char **argv)
{
	bool smoke = false;
	double seconds = 5;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--smoke") == 0)
			smoke = true;
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_kbs [--smoke] [--seconds N]\n");
			return 2;
		}
	}
	if (smoke)
		seconds = 0.3;
	if (!(seconds > 0 && seconds < 3600))
		seconds = 5;
	cc_log_set_level(CC_LOG_ERROR);
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof dir, "/tmp/kbs-bench-XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp", -errno);
	snprintf(sim, sizeof sim, "%s/sim", dir);
	snprintf(ca_path, sizeof ca_path, "%s/ca.pem", dir);
	if (attest_sim_init(sim, 2))
		die("sim init", -EIO);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* the child waits for it */
	pid_t child = start_broker();
	broker_pid = child;
	snprintf(url, sizeof url, "https://127.0.0.1:%d", port);

	double vus, vrate;
	bench_verify(seconds, &vus, &vrate);
	double la[3] = {0};
	if (getloadavg(la, 3) < 1)
		la[0] = -1;
	printf("bench_kbs: load average %.2f at start; %.1f s per measurement, broker with 2 workers + 2 I/O threads, "
	       "clients in-process, %ld online CPUs\n", la[0], seconds, sysconf(_SC_NPROCESSORS_ONLN));
	printf("quote verification alone (1 thread): %.0f us/quote, %.0f quotes/s\n", vus, vrate);
	double bus = bench_broker_alone(seconds);
	printf("broker protocol alone (1 thread, no TLS/HTTP, incl. verification, audit to store): "
	       "%.0f us CPU/release\n", bus);
	struct result h1 = run(HANDSHAKE, 1, seconds), h32 = run(HANDSHAKE, 32, seconds);
	struct result f1 = run(FULL, 1, seconds), f32 = run(FULL, 32, seconds);
	printf("%-26s %7s %8s %8s %10s %6s %12s %12s\n", "", "clients", "p50 ms", "p99 ms",
	       "per second", "errors", "broker CPU", "client CPU");
	const struct { const char *name; unsigned c; struct result *r; } rows[] = {
		{"TLS 1.3 handshake alone", 1, &h1}, {"TLS 1.3 handshake alone", 32, &h32},
		{"full flow (releases)", 1, &f1}, {"full flow (releases)", 32, &f32}};
	for (size_t i = 0; i < 4; i++)
		printf("%-26s %7u %8.2f %8.2f %10.0f %6lu %9.2f ms %9.2f ms\n", rows[i].name, rows[i].c,
		       rows[i].r->p50, rows[i].r->p99, rows[i].r->rate, rows[i].r->errors,
		       rows[i].r->broker_cpu_ms, rows[i].r->client_cpu_ms);
	double ncpu = (double)sysconf(_SC_NPROCESSORS_ONLN);
	if (f32.broker_cpu_ms > 0)
		printf("CPU-bound capacity on %.0f cores: broker alone %.0f releases/s (clients elsewhere); "
		       "broker + these clients %.0f releases/s\n", ncpu, ncpu * 1000 / f32.broker_cpu_ms,
		       ncpu * 1000 / (f32.broker_cpu_ms + f32.client_cpu_ms));
	printf("full flow steps, mean ms (1 / 32 clients): auth incl. TLS handshake %.2f / %.2f, "
	       "attest %.2f / %.2f, resource %.2f / %.2f; the rest of the p50 is client CPU "
	       "(key, quote, JWE)\n", f1.step_ms[0], f32.step_ms[0], f1.step_ms[1], f32.step_ms[1],
	       f1.step_ms[2], f32.step_ms[2]);
	if (h1.p50 > 0 && vus > 0)
		printf("ratios: full-flow p50 at 1 client = %.1f handshakes = %.1f quote verifications; "
		       "releases/s at 32 = %.2f x handshakes/s at 32\n",
		       f1.p50 / h1.p50, f1.p50 * 1000 / vus, h32.rate > 0 ? f32.rate / h32.rate : 0);
	printf("target (32 clients): >= 200 releases/s %s, p50 < 20 ms %s\n",
	       f32.rate >= 200 ? "met" : "NOT met", f32.p50 < 20 ? "met" : "NOT met");
	kill(child, SIGTERM);
	int st;
	waitpid(child, &st, 0);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	unsigned long errs = f1.errors + f32.errors + h1.errors + h32.errors;
	/* Smoke runs judge nothing but that the flow works. */
	return (f1.n && !f1.errors) || !smoke ? (errs && smoke ? 1 : 0) : 1;
}
