/* SPDX-License-Identifier: Apache-2.0 */
/* Public API: loading, metadata, plan cache and runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_MAX_FILE ((size_t)4 << 30)

const char *infer_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case INFER_E_FORMAT: return "malformed model file";
	case INFER_E_UNSUPPORTED: return "unsupported model feature";
	case INFER_E_INVALID_MODEL: return "inconsistent model graph";
	case INFER_E_NOT_FOUND: return "not found";
	case INFER_E_BAD_INPUT: return "bad input tensors";
	case INFER_E_LIMIT: return "size limit exceeded";
	case INFER_E_BACKEND: return "oneDNN error";
	case INFER_E_UNAVAILABLE: return "signature unavailable";
	default: return cc_strerror(err);
	}
}

size_t infer_dtype_size(enum infer_dtype dt)
{
	switch (dt) {
	case INFER_DT_FLOAT: case INFER_DT_INT32: case INFER_DT_UINT32: return 4;
	case INFER_DT_DOUBLE: case INFER_DT_INT64: case INFER_DT_UINT64: return 8;
	case INFER_DT_UINT8: case INFER_DT_INT8: case INFER_DT_BOOL: return 1;
	case INFER_DT_INT16: case INFER_DT_UINT16: case INFER_DT_HALF:
	case INFER_DT_BFLOAT16: return 2;
	default: return 0;
	}
}

const char *infer_dtype_name(enum infer_dtype dt)
{
	switch (dt) {
	case INFER_DT_FLOAT: return "DT_FLOAT";
	case INFER_DT_DOUBLE: return "DT_DOUBLE";
	case INFER_DT_INT32: return "DT_INT32";
	case INFER_DT_UINT8: return "DT_UINT8";
	case INFER_DT_INT16: return "DT_INT16";
	case INFER_DT_INT8: return "DT_INT8";
	case INFER_DT_STRING: return "DT_STRING";
	case INFER_DT_INT64: return "DT_INT64";
	case INFER_DT_BOOL: return "DT_BOOL";
	case INFER_DT_BFLOAT16: return "DT_BFLOAT16";
	case INFER_DT_UINT16: return "DT_UINT16";
	case INFER_DT_HALF: return "DT_HALF";
	case INFER_DT_UINT32: return "DT_UINT32";
	case INFER_DT_UINT64: return "DT_UINT64";
	default: return "DT_INVALID";
	}
}

/* ------------------------------------------------------------------------ */
/* Plain-directory file access                                              */

struct fs_dir {
	struct infer_fs fs;
	char *dir;
};

static bool safe_rel(const char *p)
{
	if (!p[0] || p[0] == '/')
		return false;
	const char *s = p;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		if ((l == 2 && !strncmp(s, "..", 2)) || l == 0)
			return false;
		s += l;
		if (*s)
			s++;
	}
	return true;
}

static int dir_read(void *ud, const char *path, size_t max, void **ret,
		    size_t *ret_len)
{
	struct fs_dir *d = ud;
	if (!safe_rel(path))
		return -EINVAL;
	size_t l = strlen(d->dir) + strlen(path) + 2;
	char *full = malloc(l);
	if (!full)
		return -ENOMEM;
	snprintf(full, l, "%s/%s", d->dir, path);
	uint8_t *data;
	size_t len;
	int r = cc_file_read(full, max, false, &data, &len);
	free(full);
	if (r)
		return r;
	*ret = data;
	*ret_len = len;
	return 0;
}

int infer_fs_dir(const char *dir, struct infer_fs **ret)
{
	struct fs_dir *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->dir = strdup(dir);
	if (!d->dir) {
		free(d);
		return -ENOMEM;
	}
	d->fs.userdata = d;
	d->fs.read = dir_read;
	d->fs.release = NULL;
	*ret = &d->fs;
	return 0;
}

void infer_fs_dir_free(struct infer_fs *fs)
{
	if (!fs)
		return;
	struct fs_dir *d = fs->userdata;
	free(d->dir);
	free(d);
}

int ir_fs_read(const struct ir_load_ctx *c, const char *path, void **ret,
	       size_t *ret_len)
{
	void *data = NULL;
	size_t len = 0;
	int r = c->fs->read(c->fs->userdata, path, c->max_file, &data, &len);
	if (r)
		return r;
	if (len > c->max_file) {
		ir_fs_release(c, data, len);
		return INFER_E_LIMIT;
	}
	*ret = data;
	*ret_len = len;
	return 0;
}

void ir_fs_release(const struct ir_load_ctx *c, void *data, size_t len)
{
	if (!data)
		return;
	if (c->fs->release)
		c->fs->release(c->fs->userdata, data, len);
	else
		free(data);
}

/* ------------------------------------------------------------------------ */
/* Model                                                                    */

struct plan_entry {
	struct ir_shape *shapes;
	struct infer_plan *plan;
	uint64_t last;
	int refs;
};

struct sig_rt {
	struct infer_signature_info info;
	struct infer_tensor_info *in, *out;
	struct infer_feature_info *feat;
	/* entries are allocated one by one: runs hold pointers to them while
	 * other threads add plans */
	struct plan_entry **plans;
	size_t n_plans;
};

struct infer_model {
	struct ir_model im;
	struct infer_engine *en;
	enum infer_format fmt;
	struct sig_rt *sigs;
	size_t n_sigs;
	int threads, max_conc;
	size_t max_plans;
	int64_t max_batch;
	size_t max_plan_bytes;
	uint64_t tick;
	pthread_mutex_t lock;
};

static void set_err(char *buf, size_t len, const char *m)
{
	if (buf && len)
		snprintf(buf, len, "%s", m);
}

int ir_check_signatures(struct ir_model *im, struct ir_err *e)
{
	int avail = 0;
	for (int i = 0; i < im->n_sigs; i++)
		if (!im->sigs[i].error)
			avail++;
	if (avail)
		return 0;
	if (!im->n_sigs)
		return ir_fail(e, INFER_E_INVALID_MODEL, "the model has no signatures");
	const char *m = im->sigs[0].error;
	bool unsup = strstr(m, "unsupported ops") != NULL;
	return ir_fail(e, unsup ? INFER_E_UNSUPPORTED : INFER_E_INVALID_MODEL,
		       "signature '%s': %s", im->sigs[0].name, m);
}

static void fill_info(struct infer_tensor_info *ti, const struct ir_sig_tensor *st)
{
	ti->name = st->key;
	ti->tensor_name = st->tensor_name;
	ti->dtype = st->dtype;
	ti->rank = st->shape.rank;
	for (int i = 0; i < IR_MAX_RANK; i++)
		ti->dims[i] = i < st->shape.rank ? st->shape.d[i] : -1;
}

static int sig_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ir_signature *)a)->name,
		      ((const struct ir_signature *)b)->name);
}

static int probe(const struct ir_load_ctx *lc, const char *name, void **ret,
		 size_t *ret_len)
{
	return ir_fs_read(lc, name, ret, ret_len);
}

int infer_model_load(const struct infer_fs *fs, const struct infer_model_opts *opts,
		     char *errbuf, size_t errlen, struct infer_model **ret)
{
	static const struct infer_model_opts defaults = { 0 };
	if (!opts)
		opts = &defaults;
	if (errbuf && errlen)
		errbuf[0] = 0;
	if (!fs || !fs->read || !ret) {
		set_err(errbuf, errlen, "invalid arguments");
		return -EINVAL;
	}
	struct ir_err e = { errbuf, errlen };
	struct ir_load_ctx lc = { fs, opts->max_file_size ? opts->max_file_size :
				       DEFAULT_MAX_FILE, opts->tags, &e };
	struct infer_model *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	int threads = opts->threads;
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 && n < 4096 ? (int)n : 1;
	}
	m->threads = threads;
	m->max_conc = opts->max_concurrency > 0 ? opts->max_concurrency : 1;
	m->max_plans = opts->max_plans ? (opts->max_plans > 1024 ? 1024 : opts->max_plans) : 8;
	m->max_batch = opts->max_batch > 0 ? opts->max_batch : 1024;
	m->max_plan_bytes = opts->max_plan_bytes ? opts->max_plan_bytes : ((size_t)16 << 30);
	void *data = NULL;
	size_t len = 0;
	int r;
	enum infer_format fmt = opts->format;
	if (fmt == INFER_FORMAT_AUTO || fmt == INFER_FORMAT_SAVED_MODEL) {
		r = probe(&lc, opts->file && fmt == INFER_FORMAT_SAVED_MODEL ? opts->file :
			  "saved_model.pb", &data, &len);
		if (!r)
			fmt = INFER_FORMAT_SAVED_MODEL;
		else if (r != -ENOENT || fmt == INFER_FORMAT_SAVED_MODEL) {
			ir_fail(&e, r, "cannot read saved_model.pb: %s", infer_strerror(r));
			goto fail;
		}
	}
	if (!data && (fmt == INFER_FORMAT_AUTO || fmt == INFER_FORMAT_ONNX)) {
		r = probe(&lc, opts->file ? opts->file : "model.onnx", &data, &len);
		if (!r)
			fmt = INFER_FORMAT_ONNX;
		else if (r != -ENOENT || fmt == INFER_FORMAT_ONNX) {
			ir_fail(&e, r, "cannot read %s: %s", opts->file ? opts->file : "model.onnx",
				infer_strerror(r));
			goto fail;
		}
	}
	if (!data && (fmt == INFER_FORMAT_AUTO || fmt == INFER_FORMAT_GRAPHDEF)) {
		static const char *const names[] = { "frozen_graph.pb", "model.pb", "graph.pb" };
		for (size_t i = 0; i < CC_ARRAY_SIZE(names) && !data; i++) {
			const char *nm = opts->file ? opts->file : names[i];
			r = probe(&lc, nm, &data, &len);
			if (!r)
				fmt = INFER_FORMAT_GRAPHDEF;
			else if (r != -ENOENT) {
				ir_fail(&e, r, "cannot read %s: %s", nm, infer_strerror(r));
				goto fail;
			}
			if (opts->file)
				break;
		}
	}
	if (!data) {
		r = ir_fail(&e, INFER_E_NOT_FOUND,
			    "no model found (saved_model.pb, model.onnx, frozen_graph.pb, model.pb)");
		goto fail;
	}
	m->fmt = fmt;
	if (fmt == INFER_FORMAT_SAVED_MODEL)
		r = tf_import_saved_model(&lc, data, len, &m->im);
	else if (fmt == INFER_FORMAT_GRAPHDEF)
		r = tf_import_graphdef(&lc, data, len, &m->im);
	else
		r = onnx_import(&lc, data, len, &m->im);
	ir_fs_release(&lc, data, len);
	data = NULL;
	if (r)
		goto fail;
	if ((r = ir_check_signatures(&m->im, &e)))
		goto fail;
	if ((r = ir_optimize(&m->im.g, &e)))
		goto fail;
	if ((r = engine_new(threads, opts->precision, &m->en, &e)))
		goto fail;
	qsort(m->im.sigs, (size_t)m->im.n_sigs, sizeof(struct ir_signature), sig_cmp);
	m->n_sigs = (size_t)m->im.n_sigs;
	m->sigs = calloc(m->n_sigs + 1, sizeof(*m->sigs));
	if (!m->sigs) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < m->n_sigs; i++) {
		const struct ir_signature *s = &m->im.sigs[i];
		struct sig_rt *rt = &m->sigs[i];
		rt->in = calloc((size_t)s->n_in + 1, sizeof(*rt->in));
		rt->out = calloc((size_t)s->n_out + 1, sizeof(*rt->out));
		rt->plans = calloc(m->max_plans, sizeof(*rt->plans));
		if (!rt->in || !rt->out || !rt->plans) {
			r = -ENOMEM;
			goto fail;
		}
		for (int k = 0; k < s->n_in; k++)
			fill_info(&rt->in[k], &s->in[k]);
		for (int k = 0; k < s->n_out; k++)
			fill_info(&rt->out[k], &s->out[k]);
		rt->info = (struct infer_signature_info){
			s->name, s->method, (size_t)s->n_in, rt->in, (size_t)s->n_out,
			rt->out, s->error == NULL, s->error, 0, NULL
		};
		if (s->ex) {
			rt->feat = calloc((size_t)s->ex->n, sizeof(*rt->feat));
			if (!rt->feat) {
				r = -ENOMEM;
				goto fail;
			}
			for (int k = 0; k < s->ex->n; k++) {
				const struct ir_sig_tensor *ft = &s->ex->in[k];
				struct infer_feature_info *fi = &rt->feat[k];
				fi->name = ft->key;
				fi->dtype = ft->dtype;
				fi->rank = ft->shape.rank - 1;
				for (int d = 0; d < IR_MAX_RANK; d++)
					fi->dims[d] = d < fi->rank ? ft->shape.d[d + 1] : -1;
				fi->required = s->ex->def[k] == NULL;
			}
			rt->info.n_features = (size_t)s->ex->n;
			rt->info.features = rt->feat;
		}
	}
	cc_log(CC_LOG_DEBUG, "infer", "loaded model: %zu signatures", m->n_sigs);
	*ret = m;
	return 0;
fail:
	if (data)
		ir_fs_release(&lc, data, len);
	infer_model_free(m);
	if (r == -ENOMEM)
		set_err(errbuf, errlen, "out of memory");
	return r;
}

int infer_model_load_path(const char *path, const struct infer_model_opts *opts,
			  char *errbuf, size_t errlen, struct infer_model **ret)
{
	struct stat st;
	if (!path || stat(path, &st)) {
		int r = path ? -errno : -EINVAL;
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: %s", path ? path : "(null)",
				 infer_strerror(r));
		return r;
	}
	struct infer_model_opts o = opts ? *opts : (struct infer_model_opts){ 0 };
	char *dir = NULL;
	if (S_ISDIR(st.st_mode)) {
		dir = strdup(path);
	} else {
		const char *slash = strrchr(path, '/');
		dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
		if (dir && !dir[0]) {
			free(dir);
			dir = strdup("/");
		}
		const char *base = slash ? slash + 1 : path;
		o.file = base;
		size_t bl = strlen(base);
		if (!strcmp(base, "saved_model.pb"))
			o.format = INFER_FORMAT_SAVED_MODEL;
		else if (bl > 5 && !strcmp(base + bl - 5, ".onnx"))
			o.format = INFER_FORMAT_ONNX;
		else if (o.format == INFER_FORMAT_AUTO)
			o.format = INFER_FORMAT_GRAPHDEF;
	}
	if (!dir)
		return -ENOMEM;
	struct infer_fs *fs;
	int r = infer_fs_dir(dir, &fs);
	free(dir);
	if (r)
		return r;
	r = infer_model_load(fs, &o, errbuf, errlen, ret);
	infer_fs_dir_free(fs);
	return r;
}

void infer_model_free(struct infer_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; m->sigs && i < m->n_sigs; i++) {
		for (size_t k = 0; k < m->sigs[i].n_plans; k++) {
			plan_free(m->sigs[i].plans[k]->plan);
			free(m->sigs[i].plans[k]->shapes);
			free(m->sigs[i].plans[k]);
		}
		free(m->sigs[i].plans);
		free(m->sigs[i].in);
		free(m->sigs[i].out);
		free(m->sigs[i].feat);
	}
	free(m->sigs);
	engine_free(m->en);
	ir_model_free(&m->im);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

enum infer_format infer_model_format(const struct infer_model *m)
{
	return m->fmt;
}

size_t infer_model_signature_count(const struct infer_model *m)
{
	return m->n_sigs;
}

const struct infer_signature_info *infer_model_signature(const struct infer_model *m,
							 size_t i)
{
	return i < m->n_sigs ? &m->sigs[i].info : NULL;
}

static int find_sig(const struct infer_model *m, const char *name)
{
	if (!name || !name[0])
		name = "serving_default";
	for (size_t i = 0; i < m->n_sigs; i++)
		if (!strcmp(m->sigs[i].info.name, name))
			return (int)i;
	return -1;
}

const struct infer_signature_info *
infer_model_find_signature(const struct infer_model *m, const char *name)
{
	int i = find_sig(m, name);
	return i < 0 ? NULL : &m->sigs[i].info;
}

bool infer_model_op_stat(const struct infer_model *m, size_t i, const char **ret_op,
			 size_t *ret_count)
{
	if (i >= m->im.n_hist)
		return false;
	*ret_op = m->im.hist_op[i];
	*ret_count = m->im.hist_n[i];
	return true;
}

int infer_model_threads(const struct infer_model *m)
{
	return m->threads;
}

/* Finds or builds the plan for shapes; returns it with a reference. */
static int get_plan(struct infer_model *m, int si, const struct ir_signature *s,
		    const struct ir_shape *shapes, struct plan_entry **ret, bool *temp,
		    struct ir_err *e)
{
	struct sig_rt *rt = &m->sigs[si];
	*temp = false;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < rt->n_plans; i++) {
		bool eq = true;
		for (int k = 0; k < s->n_in && eq; k++)
			eq = ir_shape_eq(&rt->plans[i]->shapes[k], &shapes[k]);
		if (eq) {
			rt->plans[i]->refs++;
			rt->plans[i]->last = ++m->tick;
			*ret = rt->plans[i];
			pthread_mutex_unlock(&m->lock);
			return 0;
		}
	}
	struct infer_plan *p = NULL;
	int r = plan_build(m->en, &m->im, s, shapes, m->max_conc, m->max_plan_bytes, &p, e);
	if (r) {
		pthread_mutex_unlock(&m->lock);
		return r;
	}
	struct ir_shape *sc = malloc(((size_t)s->n_in + 1) * sizeof(*sc));
	if (!sc) {
		plan_free(p);
		pthread_mutex_unlock(&m->lock);
		return -ENOMEM;
	}
	memcpy(sc, shapes, (size_t)s->n_in * sizeof(*sc));
	struct plan_entry *ne = calloc(1, sizeof(*ne));
	if (!ne) {
		plan_free(p);
		free(sc);
		pthread_mutex_unlock(&m->lock);
		return -ENOMEM;
	}
	*ne = (struct plan_entry){ sc, p, ++m->tick, 1 };
	size_t slot = rt->n_plans;
	if (rt->n_plans >= m->max_plans) {
		/* evict the least recently used idle plan */
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < rt->n_plans; i++)
			if (!rt->plans[i]->refs &&
			    (best == SIZE_MAX || rt->plans[i]->last < rt->plans[best]->last))
				best = i;
		if (best == SIZE_MAX) {
			/* all busy: a plan for this call only */
			*temp = true;
			*ret = ne;
			pthread_mutex_unlock(&m->lock);
			return 0;
		}
		plan_free(rt->plans[best]->plan);
		free(rt->plans[best]->shapes);
		free(rt->plans[best]);
		slot = best;
	} else {
		rt->n_plans++;
	}
	rt->plans[slot] = ne;
	*ret = ne;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static void put_plan(struct infer_model *m, struct plan_entry *pe, bool temp)
{
	if (temp) {
		plan_free(pe->plan);
		free(pe->shapes);
		free(pe);
		return;
	}
	pthread_mutex_lock(&m->lock);
	pe->refs--;
	pthread_mutex_unlock(&m->lock);
}

static int check_shape(const struct infer_model *m, const struct ir_sig_tensor *st,
		       const struct ir_shape *sh, struct ir_err *e)
{
	if (sh->rank < 0 || sh->rank > IR_MAX_RANK)
		return ir_fail(e, INFER_E_BAD_INPUT, "input '%s': bad rank", st->key);
	/* TensorFlow feeds a tensor of any shape (TF Serving answers
	 * {"instances": [1.0, 2.0]} on an input declared [-1, 1]); whether the
	 * graph can run on it is decided when the plan is built.  ONNX Runtime
	 * checks the rank. */
	if (st->shape.rank >= 0 && st->shape.rank != sh->rank) {
		if (m->fmt == INFER_FORMAT_ONNX)
			return ir_fail(e, INFER_E_BAD_INPUT, "input '%s' needs rank %d, got %d",
				       st->key, st->shape.rank, sh->rank);
		if (sh->rank > 0 && sh->d[0] > m->max_batch)
			return ir_fail(e, INFER_E_LIMIT,
				       "input '%s': batch %lld above the limit %lld", st->key,
				       (long long)sh->d[0], (long long)m->max_batch);
		for (int i = 0; i < sh->rank; i++)
			if (sh->d[i] < 0 || sh->d[i] > IR_MAX_DIM)
				return ir_fail(e, INFER_E_BAD_INPUT,
					       "input '%s': bad dimension %d", st->key, i);
		return 0;
	}
	for (int i = 0; i < sh->rank; i++) {
		if (sh->d[i] < 0 || sh->d[i] > IR_MAX_DIM)
			return ir_fail(e, INFER_E_BAD_INPUT, "input '%s': bad dimension %d",
				       st->key, i);
		if (st->shape.rank >= 0 && st->shape.d[i] >= 0 && st->shape.d[i] != sh->d[i])
			return ir_fail(e, INFER_E_BAD_INPUT,
				       "input '%s': dimension %d is %lld, the model needs %lld",
				       st->key, i, (long long)sh->d[i],
				       (long long)st->shape.d[i]);
	}
	if (sh->rank > 0 && sh->d[0] > m->max_batch &&
	    (st->shape.rank < 0 || st->shape.d[0] < 0))
		return ir_fail(e, INFER_E_LIMIT, "input '%s': batch %lld above the limit %lld",
			       st->key, (long long)sh->d[0], (long long)m->max_batch);
	return 0;
}

int infer_model_run(struct infer_model *m, const char *sig,
		    const struct infer_tensor *inputs, size_t n_inputs,
		    struct infer_tensor *outputs, size_t n_outputs, char *errbuf,
		    size_t errlen)
{
	struct ir_err e = { errbuf, errlen };
	if (errbuf && errlen)
		errbuf[0] = 0;
	if (!m || (n_inputs && !inputs) || (n_outputs && !outputs))
		return ir_fail(&e, -EINVAL, "invalid arguments");
	int si = find_sig(m, sig);
	if (si < 0)
		return ir_fail(&e, INFER_E_NOT_FOUND, "no signature '%s'",
			       sig && sig[0] ? sig : "serving_default");
	const struct ir_signature *s = &m->im.sigs[si];
	if (s->error)
		return ir_fail(&e, INFER_E_UNAVAILABLE, "signature '%s' is unavailable: %s",
			       s->name, s->error);
	if (s->ex)
		return ir_fail(&e, INFER_E_BAD_INPUT,
			       "signature '%s' takes serialized tf.Example (input '%s'); run it "
			       "with infer_model_run_examples()", s->name, s->in[0].key);
	return model_run_view(m, si, s, inputs, n_inputs, outputs, n_outputs, &e);
}

int model_find_sig(const struct infer_model *m, const char *name,
		   const struct ir_signature **ret)
{
	int si = find_sig(m, name);
	*ret = si < 0 ? NULL : &m->im.sigs[si];
	return si;
}

int64_t model_max_batch(const struct infer_model *m)
{
	return m->max_batch;
}

int model_run_view(struct infer_model *m, int si, const struct ir_signature *s,
		   const struct infer_tensor *inputs, size_t n_inputs,
		   struct infer_tensor *outputs, size_t n_outputs, struct ir_err *ep)
{
	struct ir_err e = *ep;
	if (n_inputs != (size_t)s->n_in)
		return ir_fail(&e, INFER_E_BAD_INPUT, "signature '%s' takes %d inputs, got %zu",
			       s->name, s->n_in, n_inputs);
	if (s->n_in > 64 || s->n_out > 256)
		return ir_fail(&e, INFER_E_LIMIT, "too many signature inputs/outputs");
	struct ir_shape shapes[64];
	const void *in_data[64];
	for (int k = 0; k < s->n_in; k++) {
		const struct infer_tensor *t = NULL;
		for (size_t j = 0; j < n_inputs; j++)
			if (inputs[j].name && !strcmp(inputs[j].name, s->in[k].key)) {
				if (t)
					return ir_fail(&e, INFER_E_BAD_INPUT,
						       "input '%s' given twice", s->in[k].key);
				t = &inputs[j];
			}
		if (!t)
			return ir_fail(&e, INFER_E_BAD_INPUT, "input '%s' missing", s->in[k].key);
		if (t->dtype != s->in[k].dtype)
			return ir_fail(&e, INFER_E_BAD_INPUT, "input '%s' must be %s, got %s",
				       s->in[k].key, infer_dtype_name(s->in[k].dtype),
				       infer_dtype_name(t->dtype));
		shapes[k].rank = t->rank;
		for (int d = 0; d < t->rank && d < IR_MAX_RANK; d++)
			shapes[k].d[d] = t->dims[d];
		int r = check_shape(m, &s->in[k], &shapes[k], &e);
		if (r)
			return r;
		int64_t n = ir_shape_elems(&shapes[k]);
		size_t need;
		if (n < 0 || !cc_mul_ok((size_t)n, infer_dtype_size(t->dtype), &need))
			return ir_fail(&e, INFER_E_LIMIT, "input '%s' too large", s->in[k].key);
		if (t->size != need || (need && !t->data))
			return ir_fail(&e, INFER_E_BAD_INPUT,
				       "input '%s' has %zu bytes, its shape needs %zu",
				       s->in[k].key, t->size, need);
		in_data[k] = t->data;
	}
	/* which signature output each requested output is */
	int want[256];
	for (size_t j = 0; j < n_outputs; j++) {
		if (j >= 256)
			return ir_fail(&e, INFER_E_LIMIT, "too many outputs requested");
		want[j] = -1;
		if (!outputs[j].name) {
			if (j < (size_t)s->n_out)
				want[j] = (int)j;
		} else {
			for (int k = 0; k < s->n_out; k++)
				if (!strcmp(outputs[j].name, s->out[k].key))
					want[j] = k;
		}
		if (want[j] < 0)
			return ir_fail(&e, INFER_E_NOT_FOUND, "signature '%s' has no output '%s'",
				       s->name, outputs[j].name ? outputs[j].name : "(index)");
	}
	struct plan_entry *pe;
	bool temp;
	int r = get_plan(m, si, s, shapes, &pe, &temp, &e);
	if (r) {
		/* an input of another rank than declared that the graph cannot
		 * take is the request's fault */
		for (int k = 0; k < s->n_in && r != -ENOMEM && r != INFER_E_LIMIT; k++)
			if (s->in[k].shape.rank >= 0 && s->in[k].shape.rank != shapes[k].rank) {
				char cause[256];
				snprintf(cause, sizeof(cause), "%s", e.buf && e.len ? e.buf : "");
				return ir_fail(&e, INFER_E_BAD_INPUT,
					       "input '%s' has rank %d, the signature declares %d, "
					       "and the graph cannot run on it: %s", s->in[k].key,
					       shapes[k].rank, s->in[k].shape.rank, cause);
			}
		return r;
	}
	void *out_data[256] = { 0 };
	bool allocated[256] = { 0 };
	for (size_t j = 0; j < n_outputs; j++) {
		enum infer_dtype dt;
		struct ir_shape sh;
		plan_output(pe->plan, want[j], &dt, &sh);
		outputs[j].dtype = dt;
		outputs[j].rank = sh.rank;
		for (int d = 0; d < IR_MAX_RANK; d++)
			outputs[j].dims[d] = d < sh.rank ? sh.d[d] : 0;
		size_t need = (size_t)ir_shape_elems(&sh) * infer_dtype_size(dt);
		if (outputs[j].data) {
			if (outputs[j].size < need) {
				r = ir_fail(&e, INFER_E_BAD_INPUT,
					    "output '%s' needs %zu bytes, the buffer has %zu",
					    s->out[want[j]].key, need, outputs[j].size);
				goto out;
			}
		} else {
			outputs[j].data = malloc(need ? need : 1);
			if (!outputs[j].data) {
				r = -ENOMEM;
				goto out;
			}
			allocated[j] = true;
			outputs[j].size = need;
		}
		if (!outputs[j].name)
			outputs[j].name = s->out[want[j]].key;
	}
	/* out_data in signature order; a requested output listed twice gets
	 * copied after the run */
	for (size_t j = 0; j < n_outputs; j++)
		if (!out_data[want[j]])
			out_data[want[j]] = outputs[j].data;
	r = plan_run(pe->plan, in_data, out_data, &e);
	if (!r)
		for (size_t j = 0; j < n_outputs; j++)
			if (out_data[want[j]] != outputs[j].data) {
				enum infer_dtype dt;
				struct ir_shape sh;
				plan_output(pe->plan, want[j], &dt, &sh);
				size_t nb = (size_t)ir_shape_elems(&sh) * infer_dtype_size(dt);
				if (nb)
					memcpy(outputs[j].data, out_data[want[j]], nb);
			}
out:
	put_plan(m, pe, temp);
	if (r)
		for (size_t j = 0; j < n_outputs; j++)
			if (allocated[j]) {
				free(outputs[j].data);
				outputs[j].data = NULL;
				outputs[j].size = 0;
			}
	return r;
}

const struct ir_signature *sig_plan_view(const struct ir_signature *s,
					 struct ir_signature *view)
{
	if (!s->ex)
		return s;
	*view = *s;
	view->in = s->ex->in;
	view->n_in = s->ex->n;
	return view;
}

int infer_model_prepare(struct infer_model *m, const char *sig, int64_t batch,
			char *errbuf, size_t errlen)
{
	struct ir_err e = { errbuf, errlen };
	if (errbuf && errlen)
		errbuf[0] = 0;
	int si = find_sig(m, sig);
	if (si < 0)
		return ir_fail(&e, INFER_E_NOT_FOUND, "no signature '%s'", sig ? sig : "");
	const struct ir_signature *s = &m->im.sigs[si];
	if (s->error)
		return ir_fail(&e, INFER_E_UNAVAILABLE, "signature '%s' is unavailable: %s",
			       s->name, s->error);
	struct ir_signature view;
	s = sig_plan_view(s, &view);
	if (s->n_in > 64)
		return ir_fail(&e, INFER_E_LIMIT, "too many inputs");
	if (batch < 1 || batch > m->max_batch)
		return ir_fail(&e, INFER_E_LIMIT, "batch %lld out of range", (long long)batch);
	struct ir_shape shapes[64];
	for (int k = 0; k < s->n_in; k++) {
		shapes[k] = s->in[k].shape;
		if (shapes[k].rank < 0)
			return ir_fail(&e, INFER_E_BAD_INPUT, "input '%s' has an unknown rank",
				       s->in[k].key);
		for (int d = 0; d < shapes[k].rank; d++)
			if (shapes[k].d[d] < 0) {
				if (d)
					return ir_fail(&e, INFER_E_BAD_INPUT,
						       "input '%s' has an unknown dimension %d",
						       s->in[k].key, d);
				shapes[k].d[d] = batch;
			}
	}
	struct plan_entry *pe;
	bool temp;
	int r = get_plan(m, si, s, shapes, &pe, &temp, &e);
	if (r)
		return r;
	put_plan(m, pe, temp);
	return 0;
}

int infer_model_profile(struct infer_model *m, const char *sig, int64_t batch,
			int iterations, double *ret_conv_ms, double *ret_steps_ms,
			int *ret_n_conv, char *errbuf, size_t errlen)
{
	struct ir_err e = { errbuf, errlen };
	int r = infer_model_prepare(m, sig, batch, errbuf, errlen);
	if (r)
		return r;
	int si = find_sig(m, sig);
	const struct ir_signature *s = &m->im.sigs[si];
	struct ir_signature view;
	s = sig_plan_view(s, &view);
	struct ir_shape shapes[64];
	for (int k = 0; k < s->n_in; k++) {
		shapes[k] = s->in[k].shape;
		if (shapes[k].rank > 0 && shapes[k].d[0] < 0)
			shapes[k].d[0] = batch;
	}
	struct plan_entry *pe;
	bool temp;
	if ((r = get_plan(m, si, s, shapes, &pe, &temp, &e)))
		return r;
	r = plan_profile(pe->plan, iterations, ret_conv_ms, ret_steps_ms, ret_n_conv, &e);
	put_plan(m, pe, temp);
	return r;
}
