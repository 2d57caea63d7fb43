/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kbs store: sealing, master key handling, row binding, persistence,
 * migrations, crash safety of puts, policies and audit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kbs-internal.h"
#include "store-backend.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fx {
	char dir[64];
	char db[128];
	char key[128];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/kbs-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->db, sizeof f->db, "%s/kbs.db", f->dir);
	snprintf(f->key, sizeof f->key, "%s/master.key", f->dir);
	if (kbs_master_key_generate(f->key))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct kbs_store *open_store(struct fx *f, bool create)
{
	struct kbs_store *s = NULL;
	struct kbs_store_opts o = {.path = f->db, .master_key_path = f->key, .create = create};
	int r = kbs_store_open(&s, &o);
	if (r)
		fail_msg("open: %s", kbs_strerror(r));
	return s;
}

static void sql(struct fx *f, const char *q)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	char *msg = NULL;
	if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", q, msg);
	sqlite3_close(db);
}

static void test_put_get_persist(void **state)
{
	struct fx *f = *state;
	struct kbs_store *s = open_store(f, true);
	assert_int_equal(kbs_store_secret_put(s, "repo/key/vol", "s3cret-v1", 9), 0);
	assert_int_equal(kbs_store_secret_put(s, "repo/key/vol", "s3cret-v2", 9), 0);
	assert_int_equal(kbs_store_secret_put(s, "repo/key/other", "x", 1), 0);
	kbs_store_free(s);

	s = open_store(f, false);
	uint8_t *v = NULL;
	size_t n = 0;
	assert_int_equal(kbs_store_secret_get(s, "repo/key/vol", &v, &n), 0);
	assert_int_equal(n, 9);
	assert_memory_equal(v, "s3cret-v2", 9);
	assert_int_equal(cc_secure_size(v) >= n, 1);
	cc_secure_free(v);
	assert_int_equal(kbs_store_secret_get(s, "repo/key/none", &v, &n), KBS_E_NO_RESOURCE);
	assert_int_equal(kbs_store_secret_rm(s, "repo/key/other"), 0);
	assert_int_equal(kbs_store_secret_rm(s, "repo/key/other"), KBS_E_NO_RESOURCE);
	/* Bad names and sizes. */
	const char *bad[] = {"", "a/b", "a/b/c/d", "../b/c", "a/./c", "a b/c/d", "a/b/", "/a/b"};
	for (size_t i = 0; i < CC_ARRAY_SIZE(bad); i++)
		assert_int_equal(kbs_store_secret_put(s, bad[i], "x", 1), KBS_E_BADNAME);
	assert_int_equal(kbs_store_secret_put(s, "a/b/c", "x", 0), KBS_E_TOOBIG);
	uint8_t *big = calloc(1, KBS_SECRET_MAX + 1);
	assert_int_equal(kbs_store_secret_put(s, "a/b/c", big, KBS_SECRET_MAX + 1), KBS_E_TOOBIG);
	assert_int_equal(kbs_store_secret_put(s, "a/b/c", big, KBS_SECRET_MAX), 0);
	free(big);
	kbs_store_free(s);

	/* The database file holds no plaintext. */
	uint8_t *raw = NULL;
	size_t rl = 0;
	assert_int_equal(cc_file_read(f->db, 64u << 20, false, &raw, &rl), 0);
	assert_null(memmem(raw, rl, "s3cret", 6));
	free(raw);
	struct stat st;
	assert_int_equal(stat(f->db, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);
}

static void test_master_key(void **state)
{
	struct fx *f = *state;
	kbs_store_free(open_store(f, true));
	struct kbs_store *s = NULL;
	struct kbs_store_opts o = {.path = f->db, .master_key_path = f->key};
	/* A different key. */
	char other[160];
	snprintf(other, sizeof other, "%s/other.key", f->dir);
	assert_int_equal(kbs_master_key_generate(other), 0);
	o.master_key_path = other;
	assert_int_equal(kbs_store_open(&s, &o), KBS_E_MASTER_KEY);
	/* Hex form of the right key works. */
	uint8_t *k = NULL;
	size_t kl = 0;
	assert_int_equal(cc_file_read(f->key, 64, true, &k, &kl), 0);
	assert_int_equal(kl, 32);
	char hex[66];
	cc_hex_encode(k, 32, hex, sizeof hex);
	cc_secure_free(k);
	hex[64] = '\n';
	char hexpath[160];
	snprintf(hexpath, sizeof hexpath, "%s/hex.key", f->dir);
	assert_int_equal(cc_file_write_new(hexpath, hex, 65, 0600), 0);
	o.master_key_path = hexpath;
	assert_int_equal(kbs_store_open(&s, &o), 0);
	kbs_store_free(s);
	/* World-readable key file is refused. */
	assert_int_equal(chmod(hexpath, 0644), 0);
	assert_int_equal(kbs_store_open(&s, &o), KBS_E_MASTER_KEY);
	/* Wrong length. */
	char shortp[160];
	snprintf(shortp, sizeof shortp, "%s/short.key", f->dir);
	assert_int_equal(cc_file_write_new(shortp, "abc", 3, 0600), 0);
	o.master_key_path = shortp;
	assert_int_equal(kbs_store_open(&s, &o), KBS_E_MASTER_KEY);
	/* Missing store without create. */
	o.master_key_path = f->key;
	char nodb[160];
	snprintf(nodb, sizeof nodb, "%s/none.db", f->dir);
	o.path = nodb;
	assert_int_equal(kbs_store_open(&s, &o), -ENOENT);
}

static void test_row_binding(void **state)
{
	struct fx *f = *state;
	struct kbs_store *s = open_store(f, true);
	assert_int_equal(kbs_store_secret_put(s, "r/t/a", "AAAA", 4), 0);
	assert_int_equal(kbs_store_secret_put(s, "r/t/b", "BBBB", 4), 0);
	kbs_store_free(s);
	/* Copy a's sealed row over b: must not unseal as b. */
	sql(f, "UPDATE secrets SET sealed=(SELECT sealed FROM secrets WHERE name='r/t/a')"
	       " WHERE name='r/t/b'");
	s = open_store(f, false);
	uint8_t *v = NULL;
	size_t n = 0;
	assert_int_equal(kbs_store_secret_get(s, "r/t/b", &v, &n), KBS_E_CORRUPT);
	assert_null(v);
	assert_int_equal(kbs_store_secret_get(s, "r/t/a", &v, &n), 0);
	cc_secure_free(v);
	kbs_store_free(s);
	/* Flip a ciphertext bit of a. */
	sql(f, "UPDATE secrets SET sealed=substr(sealed,1,14)||x'ff'||substr(sealed,16)"
	       " WHERE name='r/t/a'");
	s = open_store(f, false);
	assert_int_equal(kbs_store_secret_get(s, "r/t/a", &v, &n), KBS_E_CORRUPT);
	kbs_store_free(s);
	/* Truncated row. */
	sql(f, "UPDATE secrets SET sealed=x'01' WHERE name='r/t/a'");
	s = open_store(f, false);
	assert_int_equal(kbs_store_secret_get(s, "r/t/a", &v, &n), KBS_E_CORRUPT);
	kbs_store_free(s);
}

static void test_schema(void **state)
{
	struct fx *f = *state;
	kbs_store_free(open_store(f, true));
	/* Roll back to version 1 (as an older build left it): migrates. */
	sql(f, "DROP INDEX audit_resource; PRAGMA user_version=1");
	kbs_store_free(open_store(f, false));
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name='audit_resource'",
					    -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* A newer schema is refused. */
	sql(f, "PRAGMA user_version=99");
	struct kbs_store *s = NULL;
	struct kbs_store_opts o = {.path = f->db, .master_key_path = f->key};
	assert_int_equal(kbs_store_open(&s, &o), KBS_E_SCHEMA);
	assert_int_equal(kbs_backend_sqlite_schema_version(), 2);
}

static void test_crash_during_put(void **state)
{
	struct fx *f = *state;
	struct kbs_store *s = open_store(f, true);
	assert_int_equal(kbs_store_secret_put(s, "c/r/x", "value-00000", 11), 0);
	kbs_store_free(s);
	for (int round = 0; round < 3; round++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct kbs_store *cs = NULL;
			struct kbs_store_opts o = {.path = f->db, .master_key_path = f->key};
			if (kbs_store_open(&cs, &o))
				_exit(1);
			char v[16];
			for (unsigned i = 1;; i++) {
				snprintf(v, sizeof v, "value-%05u", i % 100000);
				kbs_store_secret_put(cs, "c/r/x", v, 11);
			}
		}
		usleep(30000 + 20000 * round);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		s = open_store(f, false);
		uint8_t *v = NULL;
		size_t n = 0;
		assert_int_equal(kbs_store_secret_get(s, "c/r/x", &v, &n), 0);
		assert_int_equal(n, 11);
		assert_memory_equal(v, "value-", 6);
		cc_secure_free(v);
		kbs_store_free(s);
	}
}

static int count_cb(void *ud, const struct kbs_audit_record *rec)
{
	(*(int *)ud)++;
	assert_non_null(rec->event);
	return 0;
}

static int list_cb(void *ud, const struct kbs_secret_info *i)
{
	return cc_buf_printf(ud, "%s%s", i->name, i->has_policy ? "+p;" : ";");
}

static void test_policy_audit(void **state)
{
	struct fx *f = *state;
	struct kbs_store *s = open_store(f, true);
	assert_int_equal(kbs_store_policy_set(s, "a/b/c", "[1]", 3), KBS_E_POLICY);
	assert_int_equal(kbs_store_policy_set(s, "a/b/c", "{", 1), KBS_E_POLICY);
	assert_int_equal(kbs_store_policy_set(s, "a/b/c", "{\"allow_debug\": false, \"mrtd\":[]}", 33), 0);
	char *p = NULL;
	size_t pl = 0;
	assert_int_equal(kbs_store_policy_get(s, "a/b/c", &p, &pl), 0);
	assert_string_equal(p, "{\"allow_debug\":false,\"mrtd\":[]}");
	free(p);
	assert_int_equal(kbs_store_policy_get(s, "a/b/d", &p, &pl), KBS_E_NO_POLICY);
	assert_int_equal(kbs_store_secret_put(s, "a/b/c", "x", 1), 0);
	assert_int_equal(kbs_store_secret_put(s, "a/b/d", "x", 1), 0);
	struct cc_buf listed;
	cc_buf_init(&listed, 4096, false);
	assert_int_equal(kbs_store_secret_list(s, list_cb, &listed), 0);
	assert_string_equal((char *)listed.data, "a/b/c+p;a/b/d;");
	cc_buf_free(&listed);
	for (int i = 0; i < 5; i++) {
		struct kbs_audit_record rec = {.time_ms = 1000 * i, .peer = "127.0.0.1:1",
					       .event = "release", .resource = i % 2 ? "a/b/c" : "a/b/d",
					       .decision = i % 2 ? "allow" : "deny", .reason = "ok"};
		assert_int_equal(kbs_store_audit_append(s, &rec), 0);
	}
	int n = 0;
	assert_int_equal(kbs_store_audit_query(s, NULL, count_cb, &n), 0);
	assert_int_equal(n, 5);
	n = 0;
	struct kbs_audit_filter flt = {.resource = "a/b/c"};
	assert_int_equal(kbs_store_audit_query(s, &flt, count_cb, &n), 0);
	assert_int_equal(n, 2);
	n = 0;
	struct kbs_audit_filter flt2 = {.since_ms = 2000, .decision = "deny", .limit = 1};
	assert_int_equal(kbs_store_audit_query(s, &flt2, count_cb, &n), 0);
	assert_int_equal(n, 1);
	char *line = NULL;
	struct kbs_audit_record rec = {.time_ms = 1700000000123, .event = "auth",
				       .decision = "deny", .reason = "x\"y", .detail = "a\nb"};
	assert_int_equal(kbs_audit_format_json(&rec, &line), 0);
	assert_string_equal(line, "{\"time\":\"2023-11-14T22:13:20.123Z\",\"event\":\"auth\","
				  "\"decision\":\"deny\",\"reason\":\"x\\\"y\",\"detail\":\"a\\nb\"}\n");
	free(line);
	kbs_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_master_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_row_binding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_during_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_audit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
