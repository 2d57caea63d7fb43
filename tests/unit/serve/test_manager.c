/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ccserve/serve.h"

static char base[256];
static int loads, unloads;

static int fake_load(void *ud, const char *model, const char *path, int64_t version, void **ret,
		     char *err, size_t errlen)
{
	(void)ud;
	(void)model;
	char f[512];
	snprintf(f, sizeof(f), "%s/fail", path);
	if (access(f, F_OK) == 0) {
		snprintf(err, errlen, "bad model in %s", path);
		return -EINVAL;
	}
	int64_t *s = malloc(sizeof(*s));
	*s = version;
	*ret = s;
	loads++;
	return 0;
}

static void fake_unload(void *ud, void *s)
{
	(void)ud;
	free(s);
	unloads++;
}

static void mkver(const char *name, bool fail)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", base, name);
	assert_int_equal(mkdir(p, 0700), 0);
	if (fail) {
		snprintf(p, sizeof(p), "%s/%s/fail", base, name);
		FILE *f = fopen(p, "w");
		assert_non_null(f);
		fclose(f);
	}
}

static int64_t latest(struct serve_manager *m, const char *name)
{
	struct serve_model_request rq = { .name = name };
	struct serve_servable_ref ref;
	struct serve_status st;
	if (serve_manager_acquire(m, &rq, &ref, &st) < 0)
		return -1;
	int64_t v = *(int64_t *)ref.servable;
	assert_int_equal(v, ref.version);
	serve_manager_release(&ref);
	return v;
}

static void rmrf(const char *p)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p);
	assert_int_equal(system(cmd), 0);
}

static void test_versions_and_swap(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/serve-mgr-XXXXXX");
	assert_non_null(mkdtemp(base));
	mkver("1", false);
	mkver("00002", false);
	mkver("notaversion", false);

	struct serve_loader ld = { .load = fake_load, .unload = fake_unload,
				   .list = serve_list_dir_local, .max_load_retries = 1 };
	struct serve_manager *m;
	assert_int_equal(serve_manager_new(&m, &ld), 0);
	struct serve_label labels[] = { { "stable", 1 }, { "canary", 2 } };
	struct serve_model_config cfg = { .name = "m", .base_path = base,
					  .policy = { .kind = SERVE_POLICY_LATEST } };
	struct serve_status st;
	assert_int_equal(serve_manager_set_config(m, &cfg, 1, &st), 0);
	assert_int_equal(serve_manager_poll(m), 0);
	assert_int_equal(latest(m, "m"), 2);
	assert_int_equal(loads, 1);

	/* Unknown model / version / label. */
	struct serve_model_request rq = { .name = "nope" };
	struct serve_servable_ref ref;
	assert_true(serve_manager_acquire(m, &rq, &ref, &st) < 0);
	assert_int_equal(st.code, SERVE_NOT_FOUND);
	assert_string_equal(st.msg, "Servable not found for request: Latest(nope)");
	rq = (struct serve_model_request){ .name = "m", .has_version = true, .version = 1 };
	assert_true(serve_manager_acquire(m, &rq, &ref, &st) < 0);
	assert_string_equal(st.msg, "Servable not found for request: Specific(m, 1)");
	rq = (struct serve_model_request){ .name = "m", .label = "stable" };
	assert_true(serve_manager_acquire(m, &rq, &ref, &st) < 0);
	assert_int_equal(st.code, SERVE_INVALID_ARGUMENT);

	/* Hold version 2 while version 3 appears: 3 loads first, 2 retires
	 * only once released. */
	rq = (struct serve_model_request){ .name = "m" };
	assert_int_equal(serve_manager_acquire(m, &rq, &ref, &st), 0);
	assert_int_equal(ref.version, 2);
	mkver("3", false);
	serve_manager_release(&ref);
	assert_int_equal(serve_manager_poll(m), 0);
	assert_int_equal(latest(m, "m"), 3);
	assert_int_equal(unloads, 1);

	/* A failing version 4 is reported and 3 stays served. */
	mkver("4", true);
	assert_int_equal(serve_manager_poll(m), 0);
	assert_int_equal(latest(m, "m"), 3);
	struct serve_version_status *vs;
	size_t n;
	rq = (struct serve_model_request){ .name = "m" };
	assert_int_equal(serve_manager_status(m, &rq, &vs, &n, &st), 0);
	assert_true(n >= 3);
	assert_int_equal(vs[0].version, 4);
	assert_int_equal(vs[0].state, SERVE_VERSION_END);
	assert_int_equal(vs[0].status.code, SERVE_UNKNOWN);
	assert_non_null(strstr(vs[0].status.msg, "bad model"));
	assert_int_equal(vs[1].version, 3);
	assert_int_equal(vs[1].state, SERVE_VERSION_AVAILABLE);
	assert_int_equal(vs[2].state, SERVE_VERSION_END);
	free(vs);
	rq = (struct serve_model_request){ .name = "m", .has_version = true, .version = 9 };
	assert_true(serve_manager_status(m, &rq, &vs, &n, &st) < 0);
	assert_string_equal(st.msg, "Could not find version 9 of model m");
	rq = (struct serve_model_request){ .name = "x" };
	assert_true(serve_manager_status(m, &rq, &vs, &n, &st) < 0);
	assert_string_equal(st.msg, "Could not find any versions of model x");

	/* Policy all + labels. */
	cfg.policy.kind = SERVE_POLICY_ALL;
	cfg.labels = labels;
	cfg.nlabels = 2;
	assert_int_equal(serve_manager_set_config(m, &cfg, 1, &st), 0);
	assert_int_equal(serve_manager_poll(m), 0);
	rq = (struct serve_model_request){ .name = "m", .label = "stable" };
	assert_int_equal(serve_manager_acquire(m, &rq, &ref, &st), 0);
	assert_int_equal(ref.version, 1);
	serve_manager_release(&ref);
	rq = (struct serve_model_request){ .name = "m", .label = "canary" };
	assert_int_equal(serve_manager_acquire(m, &rq, &ref, &st), 0);
	assert_int_equal(ref.version, 2);
	serve_manager_release(&ref);
	rq = (struct serve_model_request){ .name = "m", .label = "nolabel" };
	assert_true(serve_manager_acquire(m, &rq, &ref, &st) < 0);
	assert_string_equal(st.msg, "Unrecognized servable version label: nolabel");

	/* Specific: only 2. */
	int64_t only[] = { 2 };
	cfg.policy.kind = SERVE_POLICY_SPECIFIC;
	cfg.policy.specific = only;
	cfg.policy.nspecific = 1;
	cfg.labels = NULL;
	cfg.nlabels = 0;
	assert_int_equal(serve_manager_set_config(m, &cfg, 1, &st), 0);
	assert_int_equal(serve_manager_poll(m), 0);
	assert_int_equal(latest(m, "m"), 2);

	/* Version directory removed: unloaded. */
	char p[512];
	snprintf(p, sizeof(p), "%s/00002", base);
	rmrf(p);
	assert_int_equal(serve_manager_poll(m), 0);
	assert_int_equal(latest(m, "m"), -1);

	/* Invalid configs. */
	struct serve_model_config two[2] = { cfg, cfg };
	assert_true(serve_manager_set_config(m, two, 2, &st) < 0);
	assert_non_null(strstr(st.msg, "twice"));
	struct serve_model_config nobase = { .name = "z" };
	assert_true(serve_manager_set_config(m, &nobase, 1, &st) < 0);

	/* Model removed from the config: unloaded at the next poll. */
	mkver("5", false);
	assert_int_equal(serve_manager_poll(m), 0);
	struct serve_model_config other = { .name = "o", .base_path = "/nonexistent" };
	assert_int_equal(serve_manager_set_config(m, &other, 1, &st), 0);
	assert_int_equal(serve_manager_poll(m), 0);
	assert_int_equal(latest(m, "m"), -1);
	assert_int_equal(loads, unloads);
	serve_manager_free(m);
	rmrf(base);
}

static void test_policy_select(void **state)
{
	(void)state;
	int64_t avail[] = { 1, 3, 7 };
	int64_t *out;
	size_t n;
	struct serve_version_policy p = { .kind = SERVE_POLICY_LATEST, .latest_n = 2 };
	assert_int_equal(serve_policy_select(&p, avail, 3, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 3);
	assert_int_equal(out[1], 7);
	free(out);
	p.latest_n = 10;
	assert_int_equal(serve_policy_select(&p, avail, 3, &out, &n), 0);
	assert_int_equal(n, 3);
	free(out);
	assert_int_equal(serve_policy_select(&p, avail, 0, &out, &n), 0);
	assert_int_equal(n, 0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions_and_swap),
		cmocka_unit_test(test_policy_select),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
