/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cckbs: the key broker's command line.
 *   keygen, secret put|list|rm, policy set|show|list|rm, audit, serve, get.
 * Secret values come from a file or stdin, never from the command line.
 */
#include <ccserve/kbs.h>
#include <ccserve/net.h>
#include <ccserve/util.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccserve-config.h"

static const char *prog = "cckbs";

static int die_usage(const char *cmd, const char *msg)
{
	fprintf(stderr, "%s %s: %s (see '%s %s --help')\n", prog, cmd, msg, prog, cmd);
	return 2;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, kbs_strerror(err));
	return 1;
}

/* Read all of fd into secure memory, at most max bytes. */
static int read_fd_secure(int fd, size_t max, uint8_t **ret, size_t *ret_len)
{
	struct cc_buf b;
	cc_buf_init(&b, max, true);
	uint8_t *tmp = cc_secure_alloc(4096);
	if (!tmp)
		return -ENOMEM;
	int r = 0;
	for (;;) {
		ssize_t n = read(fd, tmp, 4096);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		if ((r = cc_buf_append(&b, tmp, (size_t)n)))
			break;
	}
	cc_secure_free(tmp);
	if (!r && !b.data)
		r = cc_buf_append(&b, "", 0);
	if (r) {
		cc_buf_free(&b);
		return r == CC_E_TOOBIG ? KBS_E_TOOBIG : r;
	}
	*ret = cc_buf_steal(&b, ret_len);
	return 0;
}

/* --- common store options ------------------------------------------------ */

struct store_args {
	const char *store;
	const char *master_key;
};

static int open_store(const struct store_args *a, bool create, bool need_key,
		      struct kbs_store **ret)
{
	struct kbs_store_opts o = {
		.path = a->store,
		.master_key_path = a->master_key,
		.create = create,
		.audit_only = !need_key && !a->master_key,
	};
	int r = kbs_store_open(ret, &o);
	if (r == -ENOENT)
		fprintf(stderr, "%s: store %s does not exist (create it with 'secret put' "
				"or 'serve --create')\n", prog, a->store);
	else if (r)
		fprintf(stderr, "%s: cannot open store %s: %s\n", prog, a->store,
			kbs_strerror(r));
	return r;
}

#define STORE_OPTS {"store", required_argument, NULL, 's'}, \
		   {"master-key", required_argument, NULL, 'k'}, \
		   {"help", no_argument, NULL, 'h'}

static bool store_opt(int c, struct store_args *a)
{
	if (c == 's')
		a->store = optarg;
	else if (c == 'k')
		a->master_key = optarg;
	else
		return false;
	return true;
}

static const char STORE_HELP[] =
	"  --store FILE        the broker's SQLite store (required)\n"
	"  --master-key FILE   32-byte key file (mode 0600) that seals secrets\n";

/* --- keygen -------------------------------------------------------------- */

static int cmd_keygen(int argc, char **argv)
{
	static const struct option lo[] = {{"out", required_argument, NULL, 'o'},
					   {"help", no_argument, NULL, 'h'}, {0}};
	const char *out = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
		else if (c == 'h') {
			printf("usage: %s keygen --out FILE\n"
			       "Create a new master key file (32 random bytes, mode 0600).\n"
			       "Refuses to overwrite an existing file.\n", prog);
			return 0;
		} else
			return die_usage("keygen", "unknown option");
	}
	if (!out)
		return die_usage("keygen", "--out FILE is required");
	int r = kbs_master_key_generate(out);
	if (r == -EEXIST) {
		fprintf(stderr, "%s: %s already exists; not overwriting a key\n", prog, out);
		return 1;
	}
	if (r)
		return fail(out, r);
	fprintf(stderr, "master key written to %s (keep it secret and backed up)\n", out);
	return 0;
}

/* --- secret -------------------------------------------------------------- */

static int list_cb(void *ud, const struct kbs_secret_info *i)
{
	(void)ud;
	char ts[32] = "";
	cc_time_format(i->updated_s, ts, sizeof ts);
	printf("%-40s %6zu bytes  %s  %s\n", i->name, i->size, ts,
	       i->has_policy ? "policy" : "NO POLICY (never released)");
	return 0;
}

static int cmd_secret(int argc, char **argv)
{
	static const struct option lo[] = {STORE_OPTS, {"from", required_argument, NULL, 'f'}, {0}};
	struct store_args sa = {0};
	const char *from = NULL;
	int c;
	bool help = false;
	while ((c = getopt_long(argc, argv, "s:k:f:h", lo, NULL)) != -1) {
		if (store_opt(c, &sa))
			continue;
		if (c == 'f')
			from = optarg;
		else if (c == 'h')
			help = true;
		else
			return die_usage("secret", "unknown option");
	}
	if (help || optind >= argc) {
		printf("usage: %s secret put NAME [--from FILE] --store DB --master-key KEY\n"
		       "       %s secret list --store DB\n"
		       "       %s secret rm NAME --store DB\n"
		       "NAME is repo/type/tag.  put reads the value from FILE or, without\n"
		       "--from, from standard input (never from the command line); at most\n"
		       "%u bytes.  A secret is released only when a policy is set for it.\n%s",
		       prog, prog, prog, KBS_SECRET_MAX, STORE_HELP);
		return help ? 0 : 2;
	}
	const char *sub = argv[optind];
	if (!sa.store)
		return die_usage("secret", "--store is required");
	struct kbs_store *st = NULL;
	int r;
	if (strcmp(sub, "put") == 0) {
		if (optind + 1 >= argc)
			return die_usage("secret put", "NAME is required");
		const char *name = argv[optind + 1];
		if (!kbs_name_valid(name))
			return fail(name, KBS_E_BADNAME);
		if (!sa.master_key)
			return die_usage("secret put", "--master-key is required");
		int fd = 0;
		if (from && strcmp(from, "-") != 0) {
			fd = open(from, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				return fail(from, -errno);
		} else if (isatty(0)) {
			fprintf(stderr, "reading the secret from standard input (end with Ctrl-D)\n");
		}
		uint8_t *v = NULL;
		size_t n = 0;
		r = read_fd_secure(fd, KBS_SECRET_MAX, &v, &n);
		if (fd)
			close(fd);
		if (r)
			return fail(from ? from : "stdin", r);
		if (n == 0) {
			cc_secure_free(v);
			fprintf(stderr, "%s: empty secret refused\n", prog);
			return 1;
		}
		if ((r = open_store(&sa, true, true, &st))) {
			cc_secure_free(v);
			return 1;
		}
		r = kbs_store_secret_put(st, name, v, n);
		cc_secure_free(v);
		kbs_store_free(st);
		if (r)
			return fail(name, r);
		fprintf(stderr, "stored %s (%zu bytes, sealed)\n", name, n);
		return 0;
	}
	if ((r = open_store(&sa, false, false, &st)))
		return 1;
	if (strcmp(sub, "list") == 0) {
		r = kbs_store_secret_list(st, list_cb, NULL);
	} else if (strcmp(sub, "rm") == 0) {
		if (optind + 1 >= argc) {
			kbs_store_free(st);
			return die_usage("secret rm", "NAME is required");
		}
		r = kbs_store_secret_rm(st, argv[optind + 1]);
		if (!r)
			fprintf(stderr, "removed %s\n", argv[optind + 1]);
	} else {
		kbs_store_free(st);
		return die_usage("secret", "want put, list or rm");
	}
	kbs_store_free(st);
	return r ? fail(sub, r) : 0;
}

/* --- policy -------------------------------------------------------------- */

static int plist_cb(void *ud, const char *name, const char *json)
{
	(void)ud;
	printf("%s %s\n", name, json);
	return 0;
}

static int cmd_policy(int argc, char **argv)
{
	static const struct option lo[] = {STORE_OPTS, {0}};
	struct store_args sa = {0};
	int c;
	bool help = false;
	while ((c = getopt_long(argc, argv, "s:k:h", lo, NULL)) != -1) {
		if (store_opt(c, &sa))
			continue;
		if (c == 'h')
			help = true;
		else
			return die_usage("policy", "unknown option");
	}
	if (help || optind >= argc) {
		printf("usage: %s policy set NAME FILE|- --store DB\n"
		       "       %s policy show NAME --store DB\n"
		       "       %s policy list --store DB\n"
		       "       %s policy rm NAME --store DB\n"
		       "The policy is the attest library's JSON document (mrtd, rtmr0..3,\n"
		       "allow_debug, accepted_tcb_status, ...), checked before it is stored.\n"
		       "A running broker applies changes on SIGHUP.\n%s",
		       prog, prog, prog, prog, STORE_HELP);
		return help ? 0 : 2;
	}
	if (!sa.store)
		return die_usage("policy", "--store is required");
	const char *sub = argv[optind];
	const char *name = optind + 1 < argc ? argv[optind + 1] : NULL;
	struct kbs_store *st = NULL;
	int r;
	if (strcmp(sub, "set") == 0) {
		if (!name || optind + 2 >= argc)
			return die_usage("policy set", "NAME and FILE are required");
		const char *file = argv[optind + 2];
		uint8_t *doc = NULL;
		size_t n = 0;
		if (strcmp(file, "-") == 0)
			r = read_fd_secure(0, KBS_POLICY_MAX, &doc, &n);
		else
			r = cc_file_read(file, KBS_POLICY_MAX, true, &doc, &n);
		if (r)
			return fail(file, r == CC_E_TOOBIG ? KBS_E_TOOBIG : r);
		char detail[256] = "";
		r = kbs_policy_validate((const char *)doc, n, detail, sizeof detail);
		if (r) {
			fprintf(stderr, "%s: policy %s refused: %s\n", prog, file, detail);
			cc_secure_free(doc);
			return 1;
		}
		if ((r = open_store(&sa, true, false, &st))) {
			cc_secure_free(doc);
			return 1;
		}
		r = kbs_store_policy_set(st, name, (const char *)doc, n);
		cc_secure_free(doc);
		kbs_store_free(st);
		if (r)
			return fail(name, r);
		fprintf(stderr, "policy of %s set (send SIGHUP to a running broker)\n", name);
		return 0;
	}
	if ((r = open_store(&sa, false, false, &st)))
		return 1;
	if (strcmp(sub, "show") == 0 && name) {
		char *p = NULL;
		size_t n = 0;
		r = kbs_store_policy_get(st, name, &p, &n);
		if (!r)
			printf("%s\n", p);
		free(p);
	} else if (strcmp(sub, "list") == 0) {
		r = kbs_store_policy_list(st, plist_cb, NULL);
	} else if (strcmp(sub, "rm") == 0 && name) {
		r = kbs_store_policy_rm(st, name);
	} else {
		kbs_store_free(st);
		return die_usage("policy", "want set NAME FILE, show NAME, list or rm NAME");
	}
	kbs_store_free(st);
	return r ? fail(name ? name : sub, r) : 0;
}

/* --- audit --------------------------------------------------------------- */

static int audit_cb(void *ud, const struct kbs_audit_record *rec)
{
	bool json = *(bool *)ud;
	if (json) {
		char *line = NULL;
		if (kbs_audit_format_json(rec, &line) == 0)
			fputs(line, stdout);
		free(line);
		return 0;
	}
	char ts[32] = "";
	cc_time_format(rec->time_ms / 1000, ts, sizeof ts);
	printf("%s %-7s %-5s %-22s %-24s %s%s%s\n", ts, rec->event, rec->decision,
	       rec->peer ? rec->peer : "-", rec->resource ? rec->resource : "-",
	       rec->reason, rec->measurement ? " td=" : "",
	       rec->measurement ? rec->measurement : "");
	return 0;
}

static int cmd_audit(int argc, char **argv)
{
	static const struct option lo[] = {STORE_OPTS,
					   {"since", required_argument, NULL, 'S'},
					   {"resource", required_argument, NULL, 'r'},
					   {"decision", required_argument, NULL, 'd'},
					   {"limit", required_argument, NULL, 'l'},
					   {"json", no_argument, NULL, 'j'},
					   {0}};
	struct store_args sa = {0};
	struct kbs_audit_filter f = {0};
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "s:k:h", lo, NULL)) != -1) {
		if (store_opt(c, &sa))
			continue;
		uint64_t v;
		int64_t t;
		switch (c) {
		case 'S':
			if (cc_time_parse(optarg, &t))
				return die_usage("audit", "--since wants an RFC 3339 time");
			f.since_ms = t * 1000;
			break;
		case 'r': f.resource = optarg; break;
		case 'd':
			if (strcmp(optarg, "allow") && strcmp(optarg, "deny"))
				return die_usage("audit", "--decision is allow or deny");
			f.decision = optarg;
			break;
		case 'l':
			if (cc_parse_u64(optarg, &v) || v == 0 || v > 1000000)
				return die_usage("audit", "--limit wants 1..1000000");
			f.limit = (unsigned)v;
			break;
		case 'j': json = true; break;
		case 'h':
			printf("usage: %s audit --store DB [--since TIME] [--resource NAME]\n"
			       "         [--decision allow|deny] [--limit N] [--json]\n"
			       "Print the audit log (oldest first of the newest N, default 1000):\n"
			       "time, event (auth|attest|release|deny), decision, peer, resource,\n"
			       "rule, and the digest of the TD's measurements.\n", prog);
			return 0;
		default:
			return die_usage("audit", "unknown option");
		}
	}
	if (!sa.store)
		return die_usage("audit", "--store is required");
	struct kbs_store *st = NULL;
	sa.master_key = NULL;
	if (open_store(&sa, false, false, &st))
		return 1;
	int r = kbs_store_audit_query(st, &f, audit_cb, &json);
	kbs_store_free(st);
	return r ? fail("audit", r) : 0;
}

/* --- serve --------------------------------------------------------------- */

struct audit_out {
	pthread_mutex_t lock;
	int fd;
};

static void audit_sink(void *ud, const struct kbs_audit_record *rec)
{
	struct audit_out *o = ud;
	char *line = NULL;
	if (kbs_audit_format_json(rec, &line))
		return;
	pthread_mutex_lock(&o->lock);
	size_t n = strlen(line), off = 0;
	while (off < n) {
		ssize_t w = write(o->fd, line + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	pthread_mutex_unlock(&o->lock);
	free(line);
}

static int parse_uint(const char *s, uint64_t max, unsigned *ret)
{
	uint64_t v;
	if (cc_parse_u64(s, &v) || v > max)
		return -1;
	*ret = (unsigned)v;
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	enum { O_CERT = 256, O_KEY, O_COLL, O_SIMROOT, O_SIMCOLL, O_VERIFYAT, O_NONCE,
	       O_SESS, O_MAXS, O_AUDIT, O_WORKERS, O_HDRTO, O_READY, O_CREATE, O_LOG, O_READTO };
	static const struct option lo[] = {STORE_OPTS,
					   {"listen", required_argument, NULL, 'l'},
					   {"cert", required_argument, NULL, O_CERT},
					   {"key", required_argument, NULL, O_KEY},
					   {"collateral", required_argument, NULL, O_COLL},
					   {"sim-root", required_argument, NULL, O_SIMROOT},
					   {"sim-collateral", required_argument, NULL, O_SIMCOLL},
					   {"verify-at", required_argument, NULL, O_VERIFYAT},
					   {"nonce-ttl", required_argument, NULL, O_NONCE},
					   {"session-ttl", required_argument, NULL, O_SESS},
					   {"max-sessions", required_argument, NULL, O_MAXS},
					   {"audit-log", required_argument, NULL, O_AUDIT},
					   {"workers", required_argument, NULL, O_WORKERS},
					   {"header-timeout-ms", required_argument, NULL, O_HDRTO},
					   {"read-timeout-ms", required_argument, NULL, O_READTO},
					   {"ready-file", required_argument, NULL, O_READY},
					   {"create", no_argument, NULL, O_CREATE},
					   {"log-level", required_argument, NULL, O_LOG},
					   {0}};
	struct store_args sa = {0};
	const char *listen = "127.0.0.1:8443", *cert = NULL, *key = NULL, *coll = NULL,
		   *sim_root = NULL, *sim_coll = NULL, *audit_path = NULL, *ready = NULL;
	int64_t verify_at = 0;
	unsigned nonce_ttl = 0, sess_ttl = 0, max_sessions = 0, workers = 0, hdr_to = 0, read_to = 0;
	bool create = false;
	int c;
	while ((c = getopt_long(argc, argv, "s:k:l:h", lo, NULL)) != -1) {
		if (store_opt(c, &sa))
			continue;
		switch (c) {
		case 'l': listen = optarg; break;
		case O_CERT: cert = optarg; break;
		case O_KEY: key = optarg; break;
		case O_COLL: coll = optarg; break;
		case O_SIMROOT: sim_root = optarg; break;
		case O_SIMCOLL: sim_coll = optarg; break;
		case O_VERIFYAT:
			if (cc_time_parse(optarg, &verify_at))
				return die_usage("serve", "--verify-at wants an RFC 3339 time");
			break;
		case O_NONCE:
			if (parse_uint(optarg, 3600, &nonce_ttl) || !nonce_ttl)
				return die_usage("serve", "--nonce-ttl wants 1..3600 seconds");
			break;
		case O_SESS:
			if (parse_uint(optarg, 86400, &sess_ttl) || !sess_ttl)
				return die_usage("serve", "--session-ttl wants 1..86400 seconds");
			break;
		case O_MAXS:
			if (parse_uint(optarg, 1u << 24, &max_sessions) || !max_sessions)
				return die_usage("serve", "--max-sessions wants 1..16777216");
			break;
		case O_AUDIT: audit_path = optarg; break;
		case O_WORKERS:
			if (parse_uint(optarg, 64, &workers) || !workers)
				return die_usage("serve", "--workers wants 1..64");
			break;
		case O_HDRTO:
			if (parse_uint(optarg, 600000, &hdr_to) || hdr_to < 100)
				return die_usage("serve", "--header-timeout-ms wants 100..600000");
			break;
		case O_READTO:
			if (parse_uint(optarg, 600000, &read_to) || read_to < 100)
				return die_usage("serve", "--read-timeout-ms wants 100..600000");
			break;
		case O_READY: ready = optarg; break;
		case O_CREATE: create = true; break;
		case O_LOG: {
			enum cc_log_level lv;
			if (cc_log_level_parse(optarg, &lv))
				return die_usage("serve", "--log-level is error|warn|info|debug");
			cc_log_set_level(lv);
			break;
		}
		case 'h':
			printf("usage: %s serve --store DB --master-key KEY --cert PEM --key PEM\n"
			       "         [--listen ADDR] [--collateral PATH]\n"
			       "         [--sim-root PEM --sim-collateral DIR] [--verify-at TIME]\n"
			       "         [--nonce-ttl S] [--session-ttl S] [--max-sessions N]\n"
			       "         [--audit-log FILE] [--workers N] [--header-timeout-ms MS]\n"
			       "         [--read-timeout-ms MS]\n"
			       "         [--ready-file FILE] [--create] [--log-level LEVEL]\n"
			       "Serve the KBS protocol over HTTPS (TLS 1.3).\n%s"
			       "  --listen ADDR         default 127.0.0.1:8443 (port 0: any free port)\n"
			       "  --cert, --key         the broker's TLS certificate chain and key (PEM)\n"
			       "  --collateral PATH     Intel collateral (PCS dir or JSON bundle) for tdx\n"
			       "  --sim-root PEM        trust simulated TDs signed by this root (tests\n"
			       "                        only); needs --sim-collateral DIR\n"
			       "  --verify-at TIME      verify evidence at this RFC 3339 time (tests)\n"
			       "  --nonce-ttl S         challenge lifetime, default 60\n"
			       "  --session-ttl S       attested session lifetime, default 300\n"
			       "  --max-sessions N      session table size (oldest evicted), default 4096\n"
			       "  --audit-log FILE      JSON lines appended here (default stderr)\n"
			       "  --workers N           broker threads, default online CPUs\n"
			       "  --header-timeout-ms   TLS handshake + request headers deadline, 10000\n"
			       "  --read-timeout-ms     longest silence inside a request body, 10000\n"
			       "  --ready-file FILE     write the bound port here once listening\n"
			       "  --create              create the store if missing\n"
			       "Signals: SIGHUP reloads policies; SIGTERM/SIGINT drain and exit.\n",
			       prog, STORE_HELP);
			return 0;
		default:
			return die_usage("serve", "unknown option");
		}
	}
	if (!sa.store || !sa.master_key || !cert || !key)
		return die_usage("serve", "--store, --master-key, --cert and --key are required");
	if (!coll && !sim_root)
		return die_usage("serve", "nothing to trust: give --collateral and/or --sim-root");
	if (sim_root && !sim_coll)
		return die_usage("serve", "--sim-root needs --sim-collateral");

	cc_disable_core_dumps();
	/* Signals go to the main thread only: block them before any thread. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct audit_out ao = {.fd = 2};
	pthread_mutex_init(&ao.lock, NULL);
	if (audit_path) {
		ao.fd = open(audit_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (ao.fd < 0)
			return fail(audit_path, -errno);
	}
	int rc = 1, r;
	struct kbs_store *st = NULL;
	struct kbs_attest_verifier *v = NULL;
	struct kbs_broker *b = NULL;
	struct kbs_server *srv = NULL;
	if (open_store(&sa, create, true, &st))
		goto out;
	struct kbs_attest_verifier_opts vo = {coll, sim_root, sim_coll, verify_at};
	if ((r = kbs_attest_verifier_new(&v, &vo))) {
		fprintf(stderr, "%s: cannot set up evidence verification: %s\n", prog,
			kbs_strerror(r));
		goto out;
	}
	struct kbs_broker_opts bo = {
		.store = st,
		.verifier = kbs_attest_verifier_ops(v),
		.nonce_ttl_s = nonce_ttl,
		.attested_ttl_s = sess_ttl,
		.max_sessions = max_sessions,
		.allow_sim = kbs_attest_verifier_trusts_sim(v),
		.audit = audit_sink,
		.audit_ud = &ao,
		.audit_to_store = true,
	};
	if ((r = kbs_broker_new(&b, &bo))) {
		fail("broker", r);
		goto out;
	}
	struct kbs_server_opts so = {
		.listen = listen, .cert_path = cert, .key_path = key, .broker = b,
		.workers = workers, .header_timeout_ms = hdr_to, .read_timeout_ms = read_to,
	};
	if ((r = kbs_server_new(&srv, &so))) {
		fprintf(stderr, "%s: cannot serve on %s: %s\n", prog, listen,
			r <= -3000 && r > -4000 ? net_strerror(r) : kbs_strerror(r));
		goto out;
	}
	if ((r = kbs_server_start(srv))) {
		fprintf(stderr, "%s: cannot start: %s\n", prog,
			r <= -3000 && r > -4000 ? net_strerror(r) : kbs_strerror(r));
		goto out;
	}
	uint16_t port = kbs_server_port(srv);
	cc_log(CC_LOG_INFO, "cckbs", "serving the KBS protocol on %s (port %u)", listen, port);
	if (ready) {
		char p[16];
		snprintf(p, sizeof p, "%u\n", port);
		if ((r = cc_file_write_atomic(ready, p, strlen(p), 0644))) {
			fail(ready, r);
			goto out;
		}
	}
	for (;;) {
		int sig = 0;
		if (sigwait(&set, &sig))
			continue;
		if (sig == SIGHUP) {
			r = kbs_broker_reload_policies(b);
			cc_log(r ? CC_LOG_ERROR : CC_LOG_INFO, "cckbs", "SIGHUP: policy reload %s",
			       r ? kbs_strerror(r) : "done");
			continue;
		}
		cc_log(CC_LOG_INFO, "cckbs", "%s: draining in-flight requests",
		       sig == SIGTERM ? "SIGTERM" : "SIGINT");
		kbs_server_shutdown(srv, 10000);
		break;
	}
	rc = 0;
out:
	kbs_server_free(srv);
	kbs_broker_free(b);
	kbs_attest_verifier_free(v);
	kbs_store_free(st);
	if (ao.fd > 2)
		close(ao.fd);
	pthread_mutex_destroy(&ao.lock);
	return rc;
}

/* --- get ----------------------------------------------------------------- */

static int cmd_get(int argc, char **argv)
{
	enum { O_SIMDIR = 256, O_FLAW, O_TIMEOUT };
	static const struct option lo[] = {{"url", required_argument, NULL, 'u'},
					   {"ca", required_argument, NULL, 'c'},
					   {"resource", required_argument, NULL, 'r'},
					   {"provider", required_argument, NULL, 'p'},
					   {"out", required_argument, NULL, 'o'},
					   {"sim-dir", required_argument, NULL, O_SIMDIR},
					   {"sim-flaw", required_argument, NULL, O_FLAW},
					   {"timeout-ms", required_argument, NULL, O_TIMEOUT},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	struct kbs_client_opts o = {0};
	const char *out = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "u:c:r:p:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'u': o.url = optarg; break;
		case 'c': o.ca_path = optarg; break;
		case 'r': o.resource = optarg; break;
		case 'p': o.provider = optarg; break;
		case 'o': out = optarg; break;
		case O_SIMDIR: o.sim_dir = optarg; break;
		case O_FLAW: o.sim_flaw = optarg; break;
		case O_TIMEOUT:
			if (parse_uint(optarg, 600000, &o.timeout_ms) || o.timeout_ms < 100)
				return die_usage("get", "--timeout-ms wants 100..600000");
			break;
		case 'h':
			printf("usage: %s get --url https://HOST:PORT --ca CA.pem --resource R\n"
			       "         --provider tsm|sim [--sim-dir DIR] [--sim-flaw FLAW]\n"
			       "         [--out FILE] [--timeout-ms MS]\n"
			       "Run the whole attestation flow and print the released secret:\n"
			       "a fresh P-256 TEE key, a quote whose REPORTDATA binds the broker's\n"
			       "nonce and that key, then the JWE unwrapped.  The secret goes to\n"
			       "standard output, or to FILE (created 0600) with --out.\n"
			       "  --provider tsm       Linux configfs-tsm inside a TD\n"
			       "  --provider sim       the simulated TD in --sim-dir (tests)\n"
			       "  --sim-flaw FLAW      make the sim quote wrong on purpose: debug-td,\n"
			       "                       other-mrtd, out-of-date-tcb, out-of-date-module,\n"
			       "                       revoked-pck,\n"
			       "                       wrong-qe, bad-signature (tests of refusals)\n",
			       prog);
			return 0;
		default:
			return die_usage("get", "unknown option");
		}
	}
	if (!o.url || !o.ca_path || !o.resource || !o.provider)
		return die_usage("get", "--url, --ca, --resource and --provider are required");
	if (strcmp(o.provider, "sim") == 0 && !o.sim_dir)
		return die_usage("get", "--provider sim needs --sim-dir");
	signal(SIGPIPE, SIG_IGN);
	uint8_t *s = NULL;
	size_t n = 0;
	int r = kbs_client_get_resource(&o, &s, &n);
	if (r)
		return fail(o.resource, r);
	if (out) {
		r = cc_file_write_atomic(out, s, n, 0600);
		cc_secure_free(s);
		if (r)
			return fail(out, r);
		fprintf(stderr, "wrote %zu bytes to %s\n", n, out);
		return 0;
	}
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(1, s + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = -errno;
			break;
		}
		off += (size_t)w;
	}
	cc_secure_free(s);
	return r ? fail("stdout", r) : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: %s COMMAND [OPTIONS]\n\n"
		   "commands:\n"
		   "  keygen --out FILE          create a master key file\n"
		   "  secret put|list|rm         manage sealed secrets (values from file/stdin)\n"
		   "  policy set|show|list|rm    release policies (attest policy JSON)\n"
		   "  audit                      query the audit log\n"
		   "  serve                      run the broker (HTTPS, TLS 1.3)\n"
		   "  get                        fetch a secret as a TD (the whole flow)\n\n"
		   "Run '%s COMMAND --help' for the options of a command.\n", prog, prog);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("cckbs %s\n", CCSERVE_VERSION);
		return 0;
	}
	argc--;
	argv++;
	if (strcmp(cmd, "keygen") == 0)
		return cmd_keygen(argc, argv);
	if (strcmp(cmd, "secret") == 0)
		return cmd_secret(argc, argv);
	if (strcmp(cmd, "policy") == 0)
		return cmd_policy(argc, argv);
	if (strcmp(cmd, "audit") == 0)
		return cmd_audit(argc, argv);
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc, argv);
	if (strcmp(cmd, "get") == 0)
		return cmd_get(argc, argv);
	fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
	usage(stderr);
	return 2;
}
