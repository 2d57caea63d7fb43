/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manager's loader over an engine: load a version directory, warm it up
 * from assets.extra/tf_serving_warmup_requests (a TFRecord file of
 * PredictionLog, as TF Serving reads it), unload.
 *
 * TFRecord framing: u64le length, u32le masked CRC-32C of the length bytes,
 * data, u32le masked CRC-32C of the data.  Both CRCs are checked.
 */
#include <errno.h>
#include <pthread.h>

#include "serve-internal.h"
#include "prediction_log.pb-c.h"
#include "classification.pb-c.h"
#include "regression.pb-c.h"
#include "inference.pb-c.h"
#include "tensor.pb-c.h"

#define WARMUP_FILE "assets.extra/tf_serving_warmup_requests"
#define WARMUP_MAX_BYTES (256u << 20)
#define WARMUP_MAX_RECORDS 1000   /* TF Serving's cap */

static uint32_t crc32c_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc32c_table[i] = c;
	}
}

uint32_t serve_crc32c(const uint8_t *p, size_t n)
{
	pthread_once(&crc_once, crc_init);
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++)
		c = crc32c_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static uint32_t masked(uint32_t crc)
{
	return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static const struct serve_signature *sig_by_name(const struct serve_servable *sv, const char *name)
{
	const char *want = name && name[0] ? name : "serving_default";
	size_t n = sv->engine->signature_count(sv->engine->ud, sv->model);
	for (size_t i = 0; i < n; i++) {
		const struct serve_signature *s = sv->engine->signature(sv->engine->ud, sv->model, i);
		if (s && !strcmp(s->name, want))
			return s;
	}
	return NULL;
}

static int replay_predict(const struct serve_servable *sv,
			  const Tensorflow__Serving__PredictRequest *rq, char *err, size_t errlen)
{
	const char *signame = rq->model_spec ? rq->model_spec->signature_name : NULL;
	const struct serve_signature *sig = sig_by_name(sv, signame);
	if (!sig) {
		snprintf(err, errlen, "warmup request names unknown signature \"%s\"",
			 signame && signame[0] ? signame : "serving_default");
		return -EINVAL;
	}
	struct serve_limits lim;
	serve_limits_default(&lim);
	struct serve_status st = { 0 };
	struct serve_tensor_list in = { .t = calloc(rq->n_inputs ? rq->n_inputs : 1,
						    sizeof(struct serve_tensor)) };
	if (!in.t)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < rq->n_inputs && rc == 0; i++) {
		if (!rq->inputs[i]->value) {
			snprintf(err, errlen, "warmup input \"%s\" has no tensor", rq->inputs[i]->key);
			rc = -EINVAL;
			break;
		}
		rc = serve_tensor_from_proto(rq->inputs[i]->value, rq->inputs[i]->key, &lim, &in.t[i],
					     &st);
		if (rc == 0)
			in.n++;
		else
			snprintf(err, errlen, "warmup: %s", st.msg);
	}
	const char **outs = NULL;
	if (rc == 0) {
		outs = calloc(sig->n_outputs ? sig->n_outputs : 1, sizeof(*outs));
		if (!outs)
			rc = -ENOMEM;
		for (size_t i = 0; outs && i < sig->n_outputs; i++)
			outs[i] = sig->outputs[i].name;
	}
	if (rc == 0) {
		struct serve_tensor_list out = { 0 };
		rc = sv->engine->run(sv->engine->ud, sv->model, sig->name, in.t, in.n, outs,
				     sig->n_outputs, &out, &st);
		if (rc < 0)
			snprintf(err, errlen, "warmup request failed: %s", st.msg);
		serve_tensor_list_clear(&out);
	}
	free(outs);
	serve_tensor_list_clear(&in);
	return rc;
}

/* A ClassifyLog / RegressLog / MultiInferenceLog task: the signature over
 * serialized tf.Example run on the record's Examples. */
static int replay_examples(const struct serve_servable *sv, const Tensorflow__Serving__ModelSpec *ms,
			   const Tensorflow__Serving__Input *in, bool classify, char *err,
			   size_t errlen)
{
	const char *signame = ms ? ms->signature_name : NULL;
	const struct serve_signature *sig = sig_by_name(sv, signame);
	const char *out = classify ? "scores" : "outputs";
	if (!sig) {
		snprintf(err, errlen, "warmup request names unknown signature \"%s\"",
			 signame && signame[0] ? signame : "serving_default");
		return -EINVAL;
	}
	if (!sig->takes_examples || !sv->engine->run_examples) {
		snprintf(err, errlen, "warmup: signature \"%s\" does not take serialized tf.Example",
			 sig->name);
		return -ENOTSUP;
	}
	struct serve_status st = { 0 };
	struct serve_ex_batch b;
	int rc = serve_ex_batch_from_input(in, &b, &st);
	if (rc < 0) {
		snprintf(err, errlen, "warmup: %s", st.msg);
		return rc;
	}
	struct serve_tensor_list o = { 0 };
	rc = sv->engine->run_examples(sv->engine->ud, sv->model, sig->name, b.ex, b.n,
				      b.has_ctx ? &b.ctx : NULL, &out, 1, &o, &st);
	if (rc < 0)
		snprintf(err, errlen, "warmup request failed: %s", st.msg);
	serve_tensor_list_clear(&o);
	serve_ex_batch_clear(&b);
	return rc;
}

int serve_warmup_replay(const struct serve_servable *sv, const uint8_t *data, size_t len,
			char *err, size_t errlen)
{
	struct cc_reader r;
	cc_reader_init(&r, data, len);
	int count = 0;
	while (cc_reader_remaining(&r) > 0) {
		uint64_t n;
		uint32_t lcrc, dcrc;
		const uint8_t *lenbytes = r.data + r.off;
		const uint8_t *rec;
		if (cc_read_u64le(&r, &n) < 0 || cc_read_u32le(&r, &lcrc) < 0) {
			snprintf(err, errlen, "warmup file: truncated record header");
			return CC_E_TRUNCATED;
		}
		if (masked(serve_crc32c(lenbytes, 8)) != lcrc) {
			snprintf(err, errlen, "warmup file: record %d: length CRC mismatch", count);
			return CC_E_SYNTAX;
		}
		if (n > cc_reader_remaining(&r) || cc_read_bytes(&r, (size_t)n, &rec) < 0 ||
		    cc_read_u32le(&r, &dcrc) < 0) {
			snprintf(err, errlen, "warmup file: record %d truncated", count);
			return CC_E_TRUNCATED;
		}
		if (masked(serve_crc32c(rec, (size_t)n)) != dcrc) {
			snprintf(err, errlen, "warmup file: record %d: data CRC mismatch", count);
			return CC_E_SYNTAX;
		}
		if (count >= WARMUP_MAX_RECORDS) {
			snprintf(err, errlen, "warmup file: more than %d records", WARMUP_MAX_RECORDS);
			return CC_E_TOOBIG;
		}
		Tensorflow__Serving__PredictionLog *pl =
			tensorflow__serving__prediction_log__unpack(NULL, (size_t)n, rec);
		if (!pl) {
			snprintf(err, errlen, "warmup file: record %d is not a PredictionLog", count);
			return CC_E_SYNTAX;
		}
		int rc = 0;
		switch (pl->log_type_case) {
		case TENSORFLOW__SERVING__PREDICTION_LOG__LOG_TYPE_PREDICT_LOG:
			if (!pl->predict_log->request) {
				snprintf(err, errlen, "warmup record %d: PredictLog without request", count);
				rc = -EINVAL;
			} else {
				rc = replay_predict(sv, pl->predict_log->request, err, errlen);
			}
			break;
		case TENSORFLOW__SERVING__PREDICTION_LOG__LOG_TYPE_PREDICT_STREAMED_LOG:
			for (size_t i = 0; i < pl->predict_streamed_log->n_request && rc == 0; i++)
				rc = replay_predict(sv, pl->predict_streamed_log->request[i], err, errlen);
			break;
		case TENSORFLOW__SERVING__PREDICTION_LOG__LOG_TYPE_CLASSIFY_LOG:
			if (!pl->classify_log->request) {
				snprintf(err, errlen, "warmup record %d: ClassifyLog without request", count);
				rc = -EINVAL;
			} else {
				rc = replay_examples(sv, pl->classify_log->request->model_spec,
						     pl->classify_log->request->input, true, err, errlen);
			}
			break;
		case TENSORFLOW__SERVING__PREDICTION_LOG__LOG_TYPE_REGRESS_LOG:
			if (!pl->regress_log->request) {
				snprintf(err, errlen, "warmup record %d: RegressLog without request", count);
				rc = -EINVAL;
			} else {
				rc = replay_examples(sv, pl->regress_log->request->model_spec,
						     pl->regress_log->request->input, false, err, errlen);
			}
			break;
		case TENSORFLOW__SERVING__PREDICTION_LOG__LOG_TYPE_MULTI_INFERENCE_LOG: {
			const Tensorflow__Serving__MultiInferenceRequest *mq =
				pl->multi_inference_log->request;
			if (!mq || !mq->n_tasks) {
				snprintf(err, errlen, "warmup record %d: MultiInferenceLog without tasks",
					 count);
				rc = -EINVAL;
			}
			for (size_t i = 0; mq && i < mq->n_tasks && rc == 0; i++) {
				const char *m = mq->tasks[i]->method_name ? mq->tasks[i]->method_name : "";
				bool cls = !strcmp(m, "tensorflow/serving/classify");
				if (!cls && strcmp(m, "tensorflow/serving/regress")) {
					snprintf(err, errlen, "warmup record %d: unsupported method_name %.100s",
						 count, m);
					rc = -ENOTSUP;
					break;
				}
				rc = replay_examples(sv, mq->tasks[i]->model_spec, mq->input, cls, err,
						     errlen);
			}
			break;
		}
		default:
			snprintf(err, errlen, "warmup record %d: no request in the PredictionLog", count);
			rc = -EINVAL;
			break;
		}
		tensorflow__serving__prediction_log__free_unpacked(pl, NULL);
		if (rc < 0)
			return rc;
		count++;
	}
	return count;
}

static int el_load(void *ud, const char *model, const char *path, int64_t version, void **ret,
		   char *err, size_t errlen)
{
	struct serve_engine_loader *el = ud;
	struct serve_servable *sv = calloc(1, sizeof(*sv));
	if (!sv || !(sv->name = strdup(model))) {
		free(sv);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	sv->engine = el->engine;
	sv->version = version;
	int rc = el->engine->load(el->engine->ud, path, &sv->model, err, errlen);
	if (rc < 0) {
		free(sv->name);
		free(sv);
		return rc;
	}
	if (el->warmup) {
		char wpath[4200];
		snprintf(wpath, sizeof(wpath), "%s/%s", path, WARMUP_FILE);
		uint8_t *data = NULL;
		size_t len = 0;
		if (el->store)
			rc = el->store->read(el->store->ud, wpath, WARMUP_MAX_BYTES, &data, &len);
		else
			rc = cc_file_read(wpath, WARMUP_MAX_BYTES, false, &data, &len);
		if (rc == 0) {
			uint64_t t0 = cc_mono_ns();
			rc = serve_warmup_replay(sv, data, len, err, errlen);
			free(data);
			if (rc < 0) {
				el->engine->unload(el->engine->ud, sv->model);
				free(sv->name);
				free(sv);
				return rc;
			}
			serve_metrics_warmup(el->metrics, model, cc_mono_ns() - t0);
			cc_log(CC_LOG_INFO, SERVE_LOG, "model \"%s\" version %" PRId64
			       ": %d warmup requests replayed", model, version, rc);
		} else if (rc != -ENOENT) {
			snprintf(err, errlen, "cannot read %s: %s", WARMUP_FILE, cc_strerror(rc));
			el->engine->unload(el->engine->ud, sv->model);
			free(sv->name);
			free(sv);
			return rc;
		}
	}
	*ret = sv;
	return 0;
}

static void el_unload(void *ud, void *servable)
{
	struct serve_engine_loader *el = ud;
	struct serve_servable *sv = servable;
	el->engine->unload(el->engine->ud, sv->model);
	free(sv->name);
	free(sv);
}

static void el_load_time(void *ud, const char *model, uint64_t ns)
{
	struct serve_engine_loader *el = ud;
	serve_metrics_load(el->metrics, model, ns);
}

void serve_engine_loader_init(struct serve_engine_loader *el, struct serve_loader *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->ud = el;
	ret->load = el_load;
	ret->unload = el_unload;
	ret->on_load_time = el_load_time;
	ret->list = el->store ? el->store->list : serve_list_dir_local;
	ret->list_ud = el->store ? el->store->ud : NULL;
	ret->max_load_retries = 5;
}
