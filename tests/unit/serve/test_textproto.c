/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ccserve/serve.h"
#include "model_server_config.pb-c.h"
#include "monitoring_config.pb-c.h"
#include "session_bundle_config.pb-c.h"
#include "ssl_config.pb-c.h"
#include "struct.pb-c.h"
#include "tensor.pb-c.h"

static char errbuf[512];

static ProtobufCMessage *parse_ok(const ProtobufCMessageDescriptor *d, const char *text)
{
	ProtobufCMessage *m = NULL;
	int rc = serve_textproto_parse(d, text, strlen(text), &m, errbuf, sizeof(errbuf));
	if (rc != 0)
		fail_msg("parse failed: %s", errbuf);
	assert_non_null(m);
	return m;
}

static void parse_bad(const ProtobufCMessageDescriptor *d, const char *text, const char *want)
{
	ProtobufCMessage *m = NULL;
	int rc = serve_textproto_parse(d, text, strlen(text), &m, errbuf, sizeof(errbuf));
	assert_int_equal(rc, CC_E_SYNTAX);
	assert_null(m);
	if (!strstr(errbuf, want))
		fail_msg("error \"%s\" does not mention \"%s\"", errbuf, want);
}

static const char *testdata(const char *name, char *buf, size_t n)
{
	const char *root = getenv("CCSERVE_SHARED_TESTDATA");
	snprintf(buf, n, "%s/tfserving/%s", root ? root : CCSERVE_SHARED_TESTDATA_FALLBACK, name);
	return buf;
}

static void test_shared_model_config(void **state)
{
	(void)state;
	char path[4096];
	ProtobufCMessage *m = NULL;
	int rc = serve_textproto_parse_file(&tensorflow__serving__model_server_config__descriptor,
					    testdata("good_model_config.txt", path, sizeof(path)), &m,
					    errbuf, sizeof(errbuf));
	if (rc)
		fail_msg("%s", errbuf);
	Tensorflow__Serving__ModelServerConfig *c = (void *)m;
	assert_int_equal(c->config_case,
			 TENSORFLOW__SERVING__MODEL_SERVER_CONFIG__CONFIG_MODEL_CONFIG_LIST);
	assert_int_equal(c->model_config_list->n_config, 2);
	assert_string_equal(c->model_config_list->config[0]->name, "half_plus_two");
	assert_string_equal(c->model_config_list->config[0]->base_path, "${TEST_HALF_PLUS_TWO_DIR}");
	assert_string_equal(c->model_config_list->config[1]->name, "half_plus_three");
	assert_string_equal(c->model_config_list->config[1]->model_platform, "tensorflow");
	protobuf_c_message_free_unpacked(m, NULL);
}

static void test_shared_batching_and_monitoring(void **state)
{
	(void)state;
	char path[4096];
	ProtobufCMessage *m = NULL;
	int rc = serve_textproto_parse_file(&tensorflow__serving__batching_parameters__descriptor,
					    testdata("batching_config.txt", path, sizeof(path)), &m,
					    errbuf, sizeof(errbuf));
	if (rc)
		fail_msg("%s", errbuf);
	Tensorflow__Serving__BatchingParameters *b = (void *)m;
	assert_non_null(b->max_batch_size);
	assert_int_equal(b->max_batch_size->value, 128);
	assert_int_equal(b->batch_timeout_micros->value, 0);
	assert_int_equal(b->max_enqueued_batches->value, 1000000);
	assert_int_equal(b->num_batch_threads->value, 8);
	assert_null(b->thread_pool_name);
	protobuf_c_message_free_unpacked(m, NULL);

	rc = serve_textproto_parse_file(&tensorflow__serving__monitoring_config__descriptor,
					testdata("monitoring_config.txt", path, sizeof(path)), &m,
					errbuf, sizeof(errbuf));
	if (rc)
		fail_msg("%s", errbuf);
	Tensorflow__Serving__MonitoringConfig *mc = (void *)m;
	assert_true(mc->prometheus_config->enable);
	assert_string_equal(mc->prometheus_config->path, "/monitoring/prometheus/metrics");
	protobuf_c_message_free_unpacked(m, NULL);
}

static void test_policies_labels_lists(void **state)
{
	(void)state;
	ProtobufCMessage *m = parse_ok(&tensorflow__serving__model_server_config__descriptor,
		"# comment\n"
		"model_config_list {\n"
		"  config { name: 'a' base_path: \"/m/a\" model_platform: \"tensorflow\"\n"
		"    model_version_policy { specific { versions: 1 versions: [2, 0x3] } }\n"
		"    version_labels { key: 'stable' value: 1 }\n"
		"    version_labels { key: \"canary\" value: 3 };\n"
		"  }\n"
		"  config < name: \"b\" base_path: \"/m/b\" model_version_policy: { latest { num_versions: 2 } } >,\n"
		"  config { name: \"c\" model_version_policy { all {} } }\n"
		"}\n");
	Tensorflow__Serving__ModelServerConfig *c = (void *)m;
	Tensorflow__Serving__ModelConfigList *l = c->model_config_list;
	assert_int_equal(l->n_config, 3);
	Tensorflow__Serving__FileSystemStoragePathSourceConfig__ServableVersionPolicy *p =
		l->config[0]->model_version_policy;
	assert_int_equal(p->policy_choice_case,
			 TENSORFLOW__SERVING__FILE_SYSTEM_STORAGE_PATH_SOURCE_CONFIG__SERVABLE_VERSION_POLICY__POLICY_CHOICE_SPECIFIC);
	assert_int_equal(p->specific->n_versions, 3);
	assert_int_equal(p->specific->versions[2], 3);
	assert_int_equal(l->config[0]->n_version_labels, 2);
	assert_string_equal(l->config[0]->version_labels[1]->key, "canary");
	assert_int_equal(l->config[0]->version_labels[1]->value, 3);
	assert_int_equal(l->config[1]->model_version_policy->latest->num_versions, 2);
	assert_non_null(l->config[2]->model_version_policy->all);
	protobuf_c_message_free_unpacked(m, NULL);
}

static void test_scalars_and_escapes(void **state)
{
	(void)state;
	ProtobufCMessage *m = parse_ok(&tensorflow__serving__sslconfig__descriptor,
		"server_key: \"-----BEGIN\\nKEY\\x41\\101\\\"\" 'more'\n"
		"client_verify: true");
	Tensorflow__Serving__SSLConfig *s = (void *)m;
	assert_string_equal(s->server_key, "-----BEGIN\nKEYAA\"more");
	assert_true(s->client_verify);
	protobuf_c_message_free_unpacked(m, NULL);

	m = parse_ok(&tensorflow__tensor_proto__descriptor,
		"dtype: DT_FLOAT tensor_shape { dim { size: 2 } dim { size: -1 name: 'x' } }\n"
		"float_val: [1.5, -2e3, inf, -inf, 3f] double_val: 0.25 int64_val: -9223372036854775808\n"
		"bool_val: [true, f, 1] uint64_val: 18446744073709551615 tensor_content: '\\000\\001'");
	Tensorflow__TensorProto *t = (void *)m;
	assert_int_equal(t->dtype, TENSORFLOW__DATA_TYPE__DT_FLOAT);
	assert_int_equal(t->tensor_shape->dim[1]->size, -1);
	assert_int_equal(t->n_float_val, 5);
	assert_true(t->float_val[1] == -2000.0f);
	assert_true(t->float_val[4] == 3.0f);
	assert_int_equal(t->int64_val[0], INT64_MIN);
	assert_int_equal(t->n_bool_val, 3);
	assert_false(t->bool_val[1]);
	assert_int_equal(t->uint64_val[0], UINT64_MAX);
	assert_int_equal(t->tensor_content.len, 2);
	assert_int_equal(t->tensor_content.data[1], 1);
	protobuf_c_message_free_unpacked(m, NULL);

	m = parse_ok(&tensorflow__tensor_proto__descriptor, "dtype: 7");
	assert_int_equal(((Tensorflow__TensorProto *)m)->dtype, TENSORFLOW__DATA_TYPE__DT_STRING);
	protobuf_c_message_free_unpacked(m, NULL);
}

static void test_errors(void **state)
{
	(void)state;
	const ProtobufCMessageDescriptor *sc = &tensorflow__serving__model_server_config__descriptor;
	parse_bad(sc, "model_config_list { config { nme: 'a' } }", "unknown field 'nme'");
	parse_bad(sc, "model_config_list { config { name: 'a' name: 'b' } }", "more than once");
	parse_bad(sc, "model_config_list { config { name: 'a }", "unterminated string");
	parse_bad(sc, "model_config_list { config { name: 'a' }", "missing '}'");
	parse_bad(sc, "model_config_list { } model_config_list { }", "more than once");
	parse_bad(sc, "model_config_list { config { model_version_policy { all {} latest {} } } }",
		  "oneof");
	parse_bad(sc, "model_config_list { config { name 'a' } }", "expected ':'");
	parse_bad(sc, "model_config_list { config { name: \"\\q\" } }", "unknown escape");
	parse_bad(sc, "model_config_list { config { model_type: BANANA } }", "unknown enum value");
	parse_bad(sc, "model_config_list { config { version_labels { key: 'a' value: 1x } } }",
		  "bad integer");
	parse_bad(sc, "[ext] {}", "not supported");
	parse_bad(sc, "model_config_list { config { name: 'a\\0b' } }", "NUL");
	parse_bad(&tensorflow__serving__sslconfig__descriptor, "client_verify: yes", "true or false");
	parse_bad(&tensorflow__tensor_proto__descriptor, "int_val: 2147483648", "int32 range");
	parse_bad(&tensorflow__tensor_proto__descriptor, "version_number: [1]", "not repeated");
	parse_bad(&tensorflow__tensor_proto__descriptor, "uint64_val: -1", "negative");
	parse_bad(&tensorflow__tensor_proto__descriptor, "float_val: 1.2.3", "bad number");
	/* Error positions name the line. */
	parse_bad(sc, "\n\n  bogus: 1", "line 3 col 3");

	/* Nesting is bounded (StructuredValue is recursive). */
	size_t depth = 200;
	char *deep = malloc(depth * 32 + 1);
	assert_non_null(deep);
	size_t off = 0;
	for (size_t i = 0; i < depth; i++)
		off += (size_t)snprintf(deep + off, 32, "list_value { values { ");
	deep[off] = '\0';
	ProtobufCMessage *m = NULL;
	assert_int_equal(serve_textproto_parse(&tensorflow__structured_value__descriptor, deep, off,
					       &m, errbuf, sizeof(errbuf)), CC_E_SYNTAX);
	assert_non_null(strstr(errbuf, "nesting deeper"));
	free(deep);

	/* Empty input is an empty message. */
	m = NULL;
	assert_int_equal(serve_textproto_parse(sc, "", 0, &m, errbuf, sizeof(errbuf)), 0);
	protobuf_c_message_free_unpacked(m, NULL);
	assert_int_equal(serve_textproto_parse(NULL, "", 0, &m, NULL, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_model_config),
		cmocka_unit_test(test_shared_batching_and_monitoring),
		cmocka_unit_test(test_policies_labels_lists),
		cmocka_unit_test(test_scalars_and_escapes),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
