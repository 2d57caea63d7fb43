/* SPDX-License-Identifier: Apache-2.0 */
/* Parsed config protos into the manager's and batcher's structures. */
#include <errno.h>

#include "serve-internal.h"
#include "model_server_config.pb-c.h"
#include "session_bundle_config.pb-c.h"

void serve_config_models_free(struct serve_model_config *cfgs, size_t n)
{
	if (!cfgs)
		return;
	for (size_t i = 0; i < n; i++) {
		free(cfgs[i].platform);
		cfgs[i].platform = NULL;
		serve_model_config_clear(&cfgs[i]);
	}
	free(cfgs);
}

int serve_config_models(const Tensorflow__Serving__ModelServerConfig *c,
			struct serve_model_config **ret, size_t *ret_n, struct serve_status *st)
{
	if (c->config_case == TENSORFLOW__SERVING__MODEL_SERVER_CONFIG__CONFIG_CUSTOM_MODEL_CONFIG)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"custom_model_config is not supported"),
		       -EINVAL;
	if (c->config_case != TENSORFLOW__SERVING__MODEL_SERVER_CONFIG__CONFIG_MODEL_CONFIG_LIST ||
	    !c->model_config_list)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"the model server config has no model_config_list"),
		       -EINVAL;
	const Tensorflow__Serving__ModelConfigList *l = c->model_config_list;
	struct serve_model_config *out = calloc(l->n_config ? l->n_config : 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	size_t n = 0;

	for (size_t i = 0; i < l->n_config; i++) {
		const Tensorflow__Serving__ModelConfig *mc = l->config[i];
		struct serve_model_config *o = &out[n];
		const char *plat = mc->model_platform ? mc->model_platform : "";
		if (plat[0] && strcmp(plat, "tensorflow") && strcmp(plat, "onnx")) {
			serve_status_set(st, SERVE_INVALID_ARGUMENT,
					      "model \"%s\": unsupported model_platform \"%s\" "
					      "(tensorflow or onnx)", mc->name, plat);
			goto fail;
		}
		if (!(o->name = strdup(mc->name ? mc->name : "")) ||
		    !(o->base_path = strdup(mc->base_path ? mc->base_path : "")) ||
		    !(o->platform = strdup(plat)))
			goto oom;
		n++;
		const Tensorflow__Serving__FileSystemStoragePathSourceConfig__ServableVersionPolicy *p =
			mc->model_version_policy;
		o->policy.kind = SERVE_POLICY_LATEST;
		o->policy.latest_n = 1;
		if (p) {
			switch (p->policy_choice_case) {
			case TENSORFLOW__SERVING__FILE_SYSTEM_STORAGE_PATH_SOURCE_CONFIG__SERVABLE_VERSION_POLICY__POLICY_CHOICE_LATEST:
				o->policy.latest_n = p->latest->num_versions ? p->latest->num_versions : 1;
				break;
			case TENSORFLOW__SERVING__FILE_SYSTEM_STORAGE_PATH_SOURCE_CONFIG__SERVABLE_VERSION_POLICY__POLICY_CHOICE_ALL:
				o->policy.kind = SERVE_POLICY_ALL;
				break;
			case TENSORFLOW__SERVING__FILE_SYSTEM_STORAGE_PATH_SOURCE_CONFIG__SERVABLE_VERSION_POLICY__POLICY_CHOICE_SPECIFIC:
				o->policy.kind = SERVE_POLICY_SPECIFIC;
				if (p->specific->n_versions == 0) {
					serve_status_set(st, SERVE_INVALID_ARGUMENT,
							      "model \"%s\": specific version policy "
							      "lists no versions", o->name);
					goto fail;
				}
				o->policy.specific = calloc(p->specific->n_versions, sizeof(int64_t));
				if (!o->policy.specific)
					goto oom;
				memcpy(o->policy.specific, p->specific->versions,
				       p->specific->n_versions * sizeof(int64_t));
				o->policy.nspecific = p->specific->n_versions;
				break;
			default:
				break;
			}
		}
		if (mc->n_version_labels) {
			o->labels = calloc(mc->n_version_labels, sizeof(*o->labels));
			if (!o->labels)
				goto oom;
			for (size_t k = 0; k < mc->n_version_labels; k++) {
				const char *key = mc->version_labels[k]->key;
				if (!key || !key[0]) {
					serve_status_set(st, SERVE_INVALID_ARGUMENT,
							      "model \"%s\": empty version label", o->name);
					goto fail;
				}
				for (size_t j = 0; j < o->nlabels; j++)
					if (!strcmp(o->labels[j].label, key)) {
						serve_status_set(st, SERVE_INVALID_ARGUMENT,
								      "model \"%s\": label \"%s\" given twice",
								      o->name, key);
						goto fail;
					}
				if (!(o->labels[k].label = strdup(key)))
					goto oom;
				o->labels[k].version = mc->version_labels[k]->value;
				o->nlabels++;
			}
		}
	}
	*ret = out;
	*ret_n = n;
	return 0;
oom:
	serve_status_set(st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
	serve_config_models_free(out, l->n_config);
	return -ENOMEM;
fail:
	serve_config_models_free(out, l->n_config);
	return -EINVAL;
}

int serve_config_batching(const Tensorflow__Serving__BatchingParameters *b,
			  struct serve_batch_params *ret, struct serve_status *st)
{
	struct serve_batch_params p;
	serve_batch_params_default(&p);
	if (b->max_batch_size)
		p.max_batch_size = b->max_batch_size->value;
	if (b->batch_timeout_micros)
		p.batch_timeout_micros = b->batch_timeout_micros->value;
	if (b->max_enqueued_batches)
		p.max_enqueued_batches = b->max_enqueued_batches->value;
	if (b->num_batch_threads)
		p.num_batch_threads = b->num_batch_threads->value;
	p.pad_variable_length_inputs = b->pad_variable_length_inputs;
	if (p.max_batch_size <= 0 || p.max_batch_size > (1 << 20))
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"max_batch_size must be between 1 and %d", 1 << 20),
		       -EINVAL;
	if (p.batch_timeout_micros < 0 || p.batch_timeout_micros > 60000000)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"batch_timeout_micros must be between 0 and 60000000"),
		       -EINVAL;
	if (p.max_enqueued_batches <= 0)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"max_enqueued_batches must be positive"),
		       -EINVAL;
	/* The queue cap bounds memory: clamp absurd values (TF's examples
	 * use 1000000) to what a 2-core server can ever hold. */
	if (p.max_enqueued_batches > 100000)
		p.max_enqueued_batches = 100000;
	if (p.num_batch_threads <= 0 || p.num_batch_threads > 256)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"num_batch_threads must be between 1 and 256"),
		       -EINVAL;
	if (b->n_allowed_batch_sizes > CC_ARRAY_SIZE(p.allowed_batch_sizes))
		return serve_status_set(st, SERVE_INVALID_ARGUMENT, "too many allowed_batch_sizes"),
		       -EINVAL;
	for (size_t i = 0; i < b->n_allowed_batch_sizes; i++) {
		int64_t v = b->allowed_batch_sizes[i];
		if (v <= 0 || (i && v <= p.allowed_batch_sizes[i - 1]))
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"allowed_batch_sizes must be positive and increasing"),
			       -EINVAL;
		p.allowed_batch_sizes[i] = v;
	}
	p.n_allowed = b->n_allowed_batch_sizes;
	if (p.n_allowed && p.allowed_batch_sizes[p.n_allowed - 1] != p.max_batch_size)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"the last entry in allowed_batch_sizes must equal max_batch_size"),
		       -EINVAL;
	*ret = p;
	return 0;
}
