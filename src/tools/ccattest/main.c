/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccattest: TDX quotes and their verification.
 *   dump, verify, quote, sim init, collateral fetch, policy check
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ccserve/attest.h>
#include <ccserve/util.h>

#include "ccserve-config.h"
#include "tool.h"

enum { EXIT_REJECT = 1, EXIT_USAGE = 2, EXIT_ERROR = 3 };

static const char *prog = "ccattest";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s COMMAND [OPTIONS]\n"
		"\n"
		"commands:\n"
		"  dump QUOTE                     print every field of a TDX quote\n"
		"  verify QUOTE --collateral C    verify a quote (DCAP) and judge it by a policy\n"
		"  quote --provider P             produce a quote (tsm inside a TD, sim for tests)\n"
		"  sim init DIR                   create a simulated TD's test PKI and collateral\n"
		"  collateral fetch --pccs URL QUOTE   fetch collateral from a PCS/PCCS\n"
		"  policy check FILE              validate a policy file\n"
		"\n"
		"Run '%s COMMAND --help' for the options of a command.\n",
		prog, prog);
}

static int read_input(const char *path, uint8_t **ret, size_t *ret_len)
{
	if (strcmp(path, "-") == 0) {
		struct cc_buf b;
		cc_buf_init(&b, 4u * ATTEST_QUOTE_MAX, false);
		uint8_t tmp[4096];
		size_t n;
		while ((n = fread(tmp, 1, sizeof(tmp), stdin)) > 0) {
			int r = cc_buf_append(&b, tmp, n);
			if (r < 0) {
				cc_buf_free(&b);
				return r;
			}
		}
		if (ferror(stdin)) {
			cc_buf_free(&b);
			return -EIO;
		}
		*ret = cc_buf_steal(&b, ret_len);
		if (!*ret) {
			*ret = calloc(1, 1);
			*ret_len = 0;
		}
		return *ret ? 0 : -ENOMEM;
	}
	return cc_file_read(path, 4u * ATTEST_QUOTE_MAX, false, ret, ret_len);
}

static int load_quote(const char *path, struct attest_quote **ret)
{
	uint8_t *b;
	size_t n;
	int r = read_input(path, &b, &n);
	if (r < 0) {
		fprintf(stderr, "%s: cannot read quote '%s': %s\n", prog, path,
			r == CC_E_TOOBIG ? "file too large" : attest_strerror(r));
		return r;
	}
	r = attest_quote_parse_any(b, n, ret);
	free(b);
	if (r < 0)
		fprintf(stderr, "%s: '%s' is not a valid TDX quote: %s\n", prog, path, attest_strerror(r));
	return r;
}

/* ---- dump ---- */

static int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'h':
			printf("usage: %s dump [--json] QUOTE\n\n"
			       "Print every field of a TDX quote (v4 or v5).  QUOTE is a file with the\n"
			       "quote in binary, hex or base64, or '-' for standard input.\n"
			       "  --json   print JSON (measurements as lower-case hex)\n", prog);
			return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "%s dump: expected one QUOTE argument\n", prog);
		return EXIT_USAGE;
	}
	struct attest_quote *q;
	if (load_quote(argv[optind], &q) < 0)
		return EXIT_ERROR;
	if (json)
		dump_quote_json(stdout, q);
	else
		dump_quote(stdout, q);
	attest_quote_free(q);
	return 0;
}

/* ---- verify ---- */

static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "collateral", required_argument, NULL, 'c' },
		{ "at", required_argument, NULL, 't' },
		{ "policy", required_argument, NULL, 'p' },
		{ "root", required_argument, NULL, 'r' },
		{ "report-data", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *coll = NULL, *at_s = NULL, *pol = NULL, *root = NULL, *rd = NULL;
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "c:t:p:r:d:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': coll = optarg; break;
		case 't': at_s = optarg; break;
		case 'p': pol = optarg; break;
		case 'r': root = optarg; break;
		case 'd': rd = optarg; break;
		case 'j': json = true; break;
		case 'h':
			printf("usage: %s verify QUOTE --collateral PATH [--at TIME] [--policy FILE]\n"
			       "                     [--root CERT] [--report-data HEX] [--json]\n\n"
			       "Verify a TDX quote with Intel DCAP rules and judge it by a policy.\n"
			       "Exit status: 0 accepted, 1 rejected (verification or policy), 2 usage,\n"
			       "3 could not run (unreadable files, bad policy).\n"
			       "  --collateral PATH  collateral directory (Intel PCS layout) or JSON bundle\n"
			       "  --at TIME          verification time, RFC 3339 (default: now)\n"
			       "  --policy FILE      release policy (default: UpToDate only, no debug TD)\n"
			       "  --root CERT        pin another root CA (PEM or DER) instead of Intel's\n"
			       "  --report-data HEX  require this REPORTDATA (64 bytes)\n"
			       "  --json             print the result as JSON\n", prog);
			return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !coll) {
		fprintf(stderr, "%s verify: expected QUOTE and --collateral PATH\n", prog);
		return EXIT_USAGE;
	}
	int64_t at = cc_wall_s();
	if (at_s && cc_time_parse(at_s, &at) < 0) {
		fprintf(stderr, "%s verify: --at '%s' is not an RFC 3339 time\n", prog, at_s);
		return EXIT_USAGE;
	}
	uint8_t rdata[64];
	if (rd) {
		size_t n;
		if (strlen(rd) != 128 || cc_hex_decode(rd, 128, rdata, 64, &n) < 0) {
			fprintf(stderr, "%s verify: --report-data must be 128 hex characters\n", prog);
			return EXIT_USAGE;
		}
	}
	int ret = EXIT_ERROR;
	struct attest_quote *q = NULL;
	struct attest_collateral *col = NULL;
	struct attest_verifier *v = NULL;
	struct attest_policy *p = NULL;
	int r;
	if (load_quote(argv[optind], &q) < 0)
		goto out;
	r = pol ? attest_policy_load(pol, &p) : attest_policy_new_default(&p);
	if (r < 0) {
		fprintf(stderr, "%s verify: policy '%s': %s\n", prog, pol ? pol : "(default)", attest_strerror(r));
		goto out;
	}
	if (rd)
		attest_policy_set_report_data(p, rdata);
	r = attest_collateral_load(coll, &col);
	if (r < 0) {
		fprintf(stderr, "%s verify: collateral '%s': %s\n", prog, coll, attest_strerror(r));
		goto out;
	}
	r = root ? attest_verifier_new_root_file(&v, root) : attest_verifier_new(&v, NULL);
	if (r < 0) {
		fprintf(stderr, "%s verify: root CA '%s': %s\n", prog, root ? root : "(Intel)", attest_strerror(r));
		goto out;
	}
	struct attest_result res;
	struct attest_policy_verdict verdict;
	memset(&verdict, 0, sizeof(verdict));
	r = attest_verify(v, q, col, at, &res);
	bool accepted = false;
	if (r == 0)
		accepted = attest_policy_eval(p, &res, &verdict) == 0;
	if (json) {
		char *s = result_json(&res, r, r == 0 ? &verdict : NULL);
		if (s)
			printf("%s\n", s);
		free(s);
	} else {
		if (r == 0 || r == ATTEST_E_TCB_NOT_SUPPORTED || r == ATTEST_E_TCB_REVOKED)
			dump_result(stdout, &res);
		if (r < 0) {
			printf("REJECTED: verification failed: %s\n", attest_strerror(r));
		} else if (!accepted) {
			printf("REJECTED by policy:\n");
			for (size_t i = 0; i < verdict.n_failed; i++)
				printf("  [%s] %s\n", verdict.failed[i], verdict.reason[i]);
		} else {
			printf("ACCEPTED: signatures, certificates and collateral valid; policy satisfied\n");
		}
	}
	ret = accepted ? 0 : EXIT_REJECT;
out:
	attest_policy_free(p);
	attest_verifier_free(v);
	attest_collateral_free(col);
	attest_quote_free(q);
	return ret;
}

/* ---- quote ---- */

static const struct {
	const char *name;
	enum attest_sim_flaw flaw;
} flaws[] = {
	{ "none", ATTEST_SIM_NONE },
	{ "debug-td", ATTEST_SIM_DEBUG_TD },
	{ "other-mrtd", ATTEST_SIM_OTHER_MRTD },
	{ "revoked-pck", ATTEST_SIM_REVOKED_PCK },
	{ "wrong-qe", ATTEST_SIM_WRONG_QE },
	{ "out-of-date-tcb", ATTEST_SIM_OUT_OF_DATE_TCB },
	{ "bad-signature", ATTEST_SIM_BAD_SIGNATURE },
	{ "out-of-date-module", ATTEST_SIM_OUT_OF_DATE_MODULE },
};

static int cmd_quote(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "provider", required_argument, NULL, 'P' },
		{ "report-data", required_argument, NULL, 'd' },
		{ "sim-dir", required_argument, NULL, 's' },
		{ "tsm-root", required_argument, NULL, 'T' },
		{ "flaw", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ "hex", no_argument, NULL, 'x' },
		{ "mrtd", required_argument, NULL, 'M' },
		{ "rtmr", required_argument, NULL, 'R' },
		{ "td-attributes", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *prov = NULL, *rd = NULL, *out = NULL;
	struct attest_provider_opts po;
	memset(&po, 0, sizeof(po));
	uint8_t mrtd[48], rtmr[4][48], tdattr[8];
	bool rtmr_set[4] = { false };
	bool hex = false;
	size_t hn;
	int c;
	while ((c = getopt_long(argc, argv, "P:d:s:T:f:o:xM:R:A:h", opts, NULL)) != -1) {
		switch (c) {
		case 'M':
			if (strlen(optarg) != 96 || cc_hex_decode(optarg, 96, mrtd, 48, &hn) < 0) {
				fprintf(stderr, "%s quote: --mrtd must be 96 hex characters\n", prog);
				return EXIT_USAGE;
			}
			po.sim_mrtd = mrtd;
			break;
		case 'R': {
			int i = optarg[0] - '0';
			if (i < 0 || i > 3 || optarg[1] != ':' || strlen(optarg + 2) != 96 ||
			    cc_hex_decode(optarg + 2, 96, rtmr[i], 48, &hn) < 0) {
				fprintf(stderr, "%s quote: --rtmr takes N:HEX (N 0..3, 96 hex characters)\n", prog);
				return EXIT_USAGE;
			}
			rtmr_set[i] = true;
			break;
		}
		case 'A':
			if (strlen(optarg) != 16 || cc_hex_decode(optarg, 16, tdattr, 8, &hn) < 0) {
				fprintf(stderr, "%s quote: --td-attributes must be 16 hex characters\n", prog);
				return EXIT_USAGE;
			}
			po.sim_td_attributes = tdattr;
			break;
		case 'P': prov = optarg; break;
		case 'd': rd = optarg; break;
		case 's': po.sim_dir = optarg; break;
		case 'T': po.tsm_root = optarg; break;
		case 'o': out = optarg; break;
		case 'x': hex = true; break;
		case 'f': {
			bool found = false;
			for (size_t i = 0; i < CC_ARRAY_SIZE(flaws); i++)
				if (strcmp(flaws[i].name, optarg) == 0) {
					po.sim_flaw = flaws[i].flaw;
					found = true;
				}
			if (!found) {
				fprintf(stderr, "%s quote: unknown --flaw '%s'\n", prog, optarg);
				return EXIT_USAGE;
			}
			break;
		}
		case 'h':
			printf("usage: %s quote --provider tsm|sim --report-data HEX [--out FILE] [--hex]\n"
			       "                    [--sim-dir DIR] [--flaw NAME] [--tsm-root DIR]\n\n"
			       "Produce a TDX quote whose REPORTDATA is the given 64 bytes.\n"
			       "  --provider tsm     Linux configfs-tsm inside a TD\n"
			       "  --provider sim     software TD signed by the test PKI of --sim-dir\n"
			       "                     (default $CCATTEST_SIM_DIR); its quotes verify only\n"
			       "                     with 'verify --root DIR/root_ca.pem'\n"
			       "  --report-data HEX  128 hex characters\n"
			       "  --out FILE         write the binary quote to FILE (default: stdout)\n"
			       "  --hex              write hex text instead of binary\n"
			       "  --flaw NAME        sim only, for tests: none, debug-td, other-mrtd,\n"
			       "                     revoked-pck, wrong-qe, out-of-date-tcb, bad-signature,\n"
			       "                     out-of-date-module\n"
			       "  --mrtd HEX         sim only: MRTD (96 hex characters; default from sim.json)\n"
			       "  --rtmr N:HEX       sim only: RTMR N (0..3), repeatable\n"
			       "  --td-attributes HEX  sim only: TDATTRIBUTES (16 hex characters)\n"
			       "  --tsm-root DIR     configfs-tsm report directory\n"
			       "                     (default /sys/kernel/config/tsm/report)\n", prog);
			return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind != argc || !prov || !rd) {
		fprintf(stderr, "%s quote: expected --provider and --report-data\n", prog);
		return EXIT_USAGE;
	}
	if (!po.sim_dir)
		po.sim_dir = getenv("CCATTEST_SIM_DIR");
	for (int i = 0; i < 4; i++)
		if (rtmr_set[i])
			po.sim_rtmr[i] = rtmr[i];
	uint8_t rdata[64];
	size_t n;
	if (strlen(rd) != 128 || cc_hex_decode(rd, 128, rdata, 64, &n) < 0) {
		fprintf(stderr, "%s quote: --report-data must be 128 hex characters\n", prog);
		return EXIT_USAGE;
	}
	struct attest_provider *p;
	int r = attest_provider_new(prov, &po, &p);
	if (r < 0) {
		fprintf(stderr, "%s quote: provider '%s': %s\n", prog, prov, attest_strerror(r));
		return EXIT_ERROR;
	}
	uint8_t *qb = NULL;
	size_t qlen = 0;
	r = attest_provider_get_quote(p, rdata, &qb, &qlen);
	attest_provider_free(p);
	if (r < 0) {
		fprintf(stderr, "%s quote: %s\n", prog, attest_strerror(r));
		return EXIT_ERROR;
	}
	char *h = NULL;
	const void *data = qb;
	size_t dlen = qlen;
	if (hex) {
		if (cc_hex_encode_alloc(qb, qlen, &h) < 0) {
			free(qb);
			return EXIT_ERROR;
		}
		data = h;
		dlen = strlen(h);
	}
	if (out) {
		r = cc_file_write_atomic(out, data, dlen, 0644);
		if (r < 0)
			fprintf(stderr, "%s quote: cannot write '%s': %s\n", prog, out, attest_strerror(r));
	} else {
		r = fwrite(data, 1, dlen, stdout) == dlen ? 0 : -EIO;
		if (hex)
			putchar('\n');
	}
	free(h);
	free(qb);
	return r < 0 ? EXIT_ERROR : 0;
}

/* ---- sim init ---- */

static int cmd_sim(int argc, char **argv)
{
	static const struct option opts[] = { { "days", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	uint64_t days = 30;
	int c;
	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (cc_parse_u64(optarg, &days) < 0 || days == 0 || days > 3650) {
				fprintf(stderr, "%s sim init: --days must be 1..3650\n", prog);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			printf("usage: %s sim init DIR [--days N]\n\n"
			       "Create a simulated TD in DIR: a test PKI shaped like Intel's (root CA,\n"
			       "PCK platform CA, PCK certificates with SGX extensions, TCB signing\n"
			       "certificate), signed collateral in DIR/collateral (valid N days from now,\n"
			       "default 30) and DIR/collateral-expired.  Keys are test keys (files 0600).\n"
			       "Verify sim quotes with --root DIR/root_ca.pem --collateral DIR/collateral.\n", prog);
			return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 2 != argc || strcmp(argv[optind], "init") != 0) {
		fprintf(stderr, "%s sim: expected 'init DIR'\n", prog);
		return EXIT_USAGE;
	}
	int r = attest_sim_init(argv[optind + 1], (unsigned)days);
	if (r < 0) {
		fprintf(stderr, "%s sim init: '%s': %s\n", prog, argv[optind + 1],
			r == -EEXIST ? "already holds a sim PKI" : attest_strerror(r));
		return EXIT_ERROR;
	}
	printf("sim TD created in %s (pin %s/root_ca.pem)\n", argv[optind + 1], argv[optind + 1]);
	return 0;
}

/* ---- collateral fetch ---- */

static int cmd_collateral(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pccs", required_argument, NULL, 'u' },
		{ "out", required_argument, NULL, 'o' },
		{ "cache", required_argument, NULL, 'c' },
		{ "at", required_argument, NULL, 't' },
		{ "cacert", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *out = "collateral", *cache = NULL, *cacert = NULL;
	int64_t now = cc_wall_s();
	int c;
	while ((c = getopt_long(argc, argv, "u:o:c:t:C:h", opts, NULL)) != -1) {
		switch (c) {
		case 'C': cacert = optarg; break;
		case 't':
			if (cc_time_parse(optarg, &now) < 0) {
				fprintf(stderr, "%s collateral fetch: --at '%s' is not an RFC 3339 time\n", prog, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'u': url = optarg; break;
		case 'o': out = optarg; break;
		case 'c': cache = optarg; break;
		case 'h':
			printf("usage: %s collateral fetch --pccs URL [--out DIR] [--cache DIR] [--at TIME]\n"
			       "                           [--cacert FILE] QUOTE\n\n"
			       "Fetch the collateral for QUOTE's FMSPC from an Intel PCS v4 compatible\n"
			       "service and write it to DIR (Intel PCS layout, default ./collateral).\n"
			       "  --pccs URL    base URL, e.g. https://api.trustedservices.intel.com\n"
			       "  --out DIR     output directory (created)\n"
			       "  --cache DIR   reuse responses until their nextUpdate passes\n"
			       "  --at TIME     judge cache freshness at TIME (RFC 3339; default now)\n"
			       "  --cacert FILE trust this PEM CA bundle for https (e.g. a PCCS's own\n"
			       "                certificate) instead of the system store\n", prog);
			return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 2 != argc || strcmp(argv[optind], "fetch") != 0 || !url) {
		fprintf(stderr, "%s collateral: expected 'fetch --pccs URL QUOTE'\n", prog);
		return EXIT_USAGE;
	}
	struct attest_quote *q;
	if (load_quote(argv[optind + 1], &q) < 0)
		return EXIT_ERROR;
	struct attest_fetch_opts fo = { .base_url = url, .out_dir = out, .cache_dir = cache,
					.ca_file = cacert, .now = now };
	int r = attest_collateral_fetch_opts(&fo, q);
	attest_quote_free(q);
	if (r < 0) {
		fprintf(stderr, "%s collateral fetch: %s\n", prog, attest_strerror(r));
		return EXIT_ERROR;
	}
	printf("collateral written to %s\n", out);
	return 0;
}

/* ---- policy check ---- */

static int cmd_policy(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: %s policy check FILE\n\nValidate a release policy file.\n", prog);
		return 0;
	}
	if (argc != 3 || strcmp(argv[1], "check") != 0) {
		fprintf(stderr, "%s policy: expected 'check FILE'\n", prog);
		return EXIT_USAGE;
	}
	struct attest_policy *p;
	int r = attest_policy_load(argv[2], &p);
	if (r < 0) {
		fprintf(stderr, "%s policy: '%s': %s\n", prog, argv[2], attest_strerror(r));
		return EXIT_REJECT;
	}
	attest_policy_free(p);
	printf("policy '%s' is valid\n", argv[2]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("ccattest %s\n", CCSERVE_VERSION);
		return 0;
	}
	const char *lvl = getenv("CCATTEST_LOG");
	if (lvl) {
		enum cc_log_level l;
		if (cc_log_level_parse(lvl, &l) == 0)
			cc_log_set_level(l);
	}
	argc--;
	argv++;
	if (strcmp(cmd, "dump") == 0)
		return cmd_dump(argc, argv);
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(argc, argv);
	if (strcmp(cmd, "quote") == 0)
		return cmd_quote(argc, argv);
	if (strcmp(cmd, "sim") == 0)
		return cmd_sim(argc, argv);
	if (strcmp(cmd, "collateral") == 0)
		return cmd_collateral(argc, argv);
	if (strcmp(cmd, "policy") == 0)
		return cmd_policy(argc, argv);
	fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
	usage(stderr);
	return EXIT_USAGE;
}
