/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Model manager: which versions of which models are served.
 *
 * Each configured model has a base path with numeric version directories.
 * A poll pass lists them, applies the version policy, loads the versions
 * that should be served and are not (through the caller's loader, which
 * also warms them up), and only then retires versions that should no longer
 * be served: a new version is AVAILABLE before the one it replaces starts
 * UNLOADING, so requests never find no version.  A retiring version stops
 * taking new requests at once and is unloaded when its last in-flight
 * request releases it.  A version that fails to load is reported (END with
 * its error) and does not disturb the others; it is retried up to
 * max_load_retries times on later polls.
 *
 * Locking: one mutex guards the tables; loads and unloads run outside it on
 * the polling thread (poll passes are serialised by poll_lock).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>

#include "serve-internal.h"

#define MAX_VERSIONS_PER_MODEL 4096
#define MAX_MODELS 1024

struct mversion {
	int64_t version;
	enum serve_version_state state;
	void *servable;
	unsigned refs;
	enum serve_code code;
	char msg[SERVE_STATUS_MSG_MAX];
	unsigned failures;
	bool present;   /* seen in the last scan */
};

struct mmodel {
	struct serve_model_config cfg;
	struct mversion **v;   /* each record stays put: requests point at it */
	size_t nv;
	bool removed;   /* no longer configured: unload everything */
};

struct serve_manager {
	struct serve_loader loader;
	pthread_mutex_t lock;
	pthread_cond_t released;
	pthread_mutex_t poll_lock;
	struct mmodel *models;
	size_t nmodels;
	unsigned max_load_retries;
	/* background polling */
	pthread_t thread;
	bool running;
	bool stop;
	pthread_cond_t wake;
	uint64_t poll_ms;
	uint64_t generation;   /* bumped by every completed poll pass */
};

/* ------------------------------------------------------------------------ */
/* Config helpers                                                           */

void serve_model_config_clear(struct serve_model_config *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->base_path);
	free(c->policy.specific);
	for (size_t i = 0; i < c->nlabels; i++)
		free(c->labels[i].label);
	free(c->labels);
	memset(c, 0, sizeof(*c));
}

int serve_model_config_copy(struct serve_model_config *dst, const struct serve_model_config *src)
{
	struct serve_model_config c = { 0 };
	c.policy = src->policy;
	c.policy.specific = NULL;
	if (!(c.name = strdup(src->name ? src->name : "")) ||
	    !(c.base_path = strdup(src->base_path ? src->base_path : "")))
		goto oom;
	if (src->policy.nspecific) {
		c.policy.specific = calloc(src->policy.nspecific, sizeof(int64_t));
		if (!c.policy.specific)
			goto oom;
		memcpy(c.policy.specific, src->policy.specific,
		       src->policy.nspecific * sizeof(int64_t));
	}
	if (src->nlabels) {
		c.labels = calloc(src->nlabels, sizeof(*c.labels));
		if (!c.labels)
			goto oom;
		for (size_t i = 0; i < src->nlabels; i++) {
			c.labels[i].version = src->labels[i].version;
			if (!(c.labels[i].label = strdup(src->labels[i].label)))
				goto oom;
			c.nlabels++;
		}
	}
	*dst = c;
	return 0;
oom:
	serve_model_config_clear(&c);
	return -ENOMEM;
}


static bool version_in(const int64_t *v, size_t n, int64_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

static int cmp_status_desc(const void *a, const void *b)
{
	int64_t x = ((const struct serve_version_status *)a)->version;
	int64_t y = ((const struct serve_version_status *)b)->version;
	return (x < y) - (x > y);
}

struct vdir_ctx {
	int64_t want;
	char name[256];
	bool found;
};

static int vdir_each(void *ctx, const char *name, bool is_dir)
{
	struct vdir_ctx *c = ctx;
	if (!is_dir || c->found || !name[0] || strlen(name) >= sizeof(c->name))
		return 0;
	uint64_t v = 0;
	size_t digits = 0;
	for (const char *p = name; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		if (v || *p != '0')
			digits++;
		if (digits > 18)
			return 0;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if ((int64_t)v == c->want) {
		memcpy(c->name, name, strlen(name) + 1);
		c->found = true;
	}
	return 0;
}

int serve_version_dir(serve_list_dir_fn list, void *ud, const char *base_path, int64_t version,
		      char *buf, size_t bufsz)
{
	struct vdir_ctx c = { .want = version };
	int rc = list(ud, base_path, vdir_each, &c);
	if (rc < 0)
		return rc;
	if (!c.found)
		return -ENOENT;
	int n = snprintf(buf, bufsz, "%s/%s", base_path, c.name);
	if (n < 0 || (size_t)n >= bufsz)
		return CC_E_SHORTBUF;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Version directories and policies                                         */

struct scan_ctx {
	int64_t *v;
	size_t n;
	int err;
};

static int scan_each(void *ctx, const char *name, bool is_dir)
{
	struct scan_ctx *s = ctx;
	if (!is_dir || !name[0])
		return 0;
	/* TF Serving takes any all-digit name (leading zeros allowed). */
	uint64_t v = 0;
	size_t digits = 0;
	for (const char *p = name; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		if (v || *p != '0')
			digits++;
		if (digits > 18)
			return 0;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (s->n >= MAX_VERSIONS_PER_MODEL) {
		s->err = CC_E_TOOBIG;
		return s->err;
	}
	if ((s->n & (s->n - 1)) == 0) {
		size_t cap = s->n ? s->n * 2 : 8;
		int64_t *nv = realloc(s->v, cap * sizeof(*nv));
		if (!nv) {
			s->err = -ENOMEM;
			return s->err;
		}
		s->v = nv;
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == (int64_t)v)
			return 0;   /* "1" and "01" are the same version */
	s->v[s->n++] = (int64_t)v;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int serve_scan_versions(serve_list_dir_fn list, void *ud, const char *base_path, int64_t **ret,
			size_t *ret_n)
{
	struct scan_ctx s = { 0 };
	int rc = list(ud, base_path, scan_each, &s);
	if (rc == 0 && s.err)
		rc = s.err;
	if (rc < 0) {
		free(s.v);
		return rc;
	}
	if (s.n)
		qsort(s.v, s.n, sizeof(*s.v), cmp_i64);
	*ret = s.v;
	*ret_n = s.n;
	return 0;
}

int serve_list_dir_local(void *ud, const char *path,
			 int (*each)(void *ctx, const char *name, bool is_dir), void *ctx)
{
	(void)ud;
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		bool is_dir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
			struct stat st;
			is_dir = fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
		}
		rc = each(ctx, de->d_name, is_dir);
		if (rc < 0)
			break;
	}
	closedir(d);
	return rc;
}

int serve_policy_select(const struct serve_version_policy *p, const int64_t *avail, size_t navail,
			int64_t **ret, size_t *ret_n)
{
	int64_t *out = calloc(navail ? navail : 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	size_t n = 0;
	switch (p->kind) {
	case SERVE_POLICY_ALL:
		memcpy(out, avail, navail * sizeof(*out));
		n = navail;
		break;
	case SERVE_POLICY_SPECIFIC:
		for (size_t i = 0; i < navail; i++)
			for (size_t j = 0; j < p->nspecific; j++)
				if (avail[i] == p->specific[j]) {
					out[n++] = avail[i];
					break;
				}
		break;
	case SERVE_POLICY_LATEST:
	default: {
		size_t k = p->latest_n ? p->latest_n : 1;
		if (k > navail)
			k = navail;
		memcpy(out, avail + (navail - k), k * sizeof(*out));
		n = k;
		break;
	}
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Manager                                                                  */

int serve_manager_new(struct serve_manager **ret, const struct serve_loader *loader)
{
	if (!loader || !loader->load || !loader->unload || !loader->list)
		return -EINVAL;
	struct serve_manager *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->loader = *loader;
	m->max_load_retries = loader->max_load_retries;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->poll_lock, NULL);
	pthread_cond_init(&m->released, NULL);
	pthread_cond_init(&m->wake, NULL);
	*ret = m;
	return 0;
}

static struct mmodel *find_model(struct serve_manager *m, const char *name)
{
	for (size_t i = 0; i < m->nmodels; i++)
		if (!m->models[i].removed && !strcmp(m->models[i].cfg.name, name))
			return &m->models[i];
	return NULL;
}

int serve_manager_set_config(struct serve_manager *m, const struct serve_model_config *cfgs,
			     size_t n, struct serve_status *st)
{
	if (n > MAX_MODELS)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT, "more than %d models",
					MAX_MODELS),
		       -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!cfgs[i].name || !cfgs[i].name[0])
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"model config %zu has no name", i),
			       -EINVAL;
		if (!cfgs[i].base_path || !cfgs[i].base_path[0])
			return serve_status_set(st, SERVE_INVALID_ARGUMENT,
						"model \"%s\" has no base_path", cfgs[i].name),
			       -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(cfgs[i].name, cfgs[j].name))
				return serve_status_set(st, SERVE_INVALID_ARGUMENT,
							"model \"%s\" configured twice", cfgs[i].name),
				       -EINVAL;
		for (size_t a = 0; a < cfgs[i].nlabels; a++)
			for (size_t b = 0; b < a; b++)
				if (!strcmp(cfgs[i].labels[a].label, cfgs[i].labels[b].label))
					return serve_status_set(st, SERVE_INVALID_ARGUMENT,
								"model \"%s\": label \"%s\" given twice",
								cfgs[i].name, cfgs[i].labels[a].label),
					       -EINVAL;
	}
	pthread_mutex_lock(&m->lock);
	/* Existing models keep their loaded versions; new configuration
	 * (policy, labels, base path) applies at the next poll. */
	size_t total = m->nmodels + n;
	struct mmodel *nm = realloc(m->models, (total ? total : 1) * sizeof(*nm));
	if (!nm) {
		pthread_mutex_unlock(&m->lock);
		return -ENOMEM;
	}
	m->models = nm;
	for (size_t i = 0; i < m->nmodels; i++) {
		bool keep = false;
		for (size_t j = 0; j < n; j++)
			if (!m->models[i].removed && !strcmp(m->models[i].cfg.name, cfgs[j].name))
				keep = true;
		if (!keep)
			m->models[i].removed = true;
	}
	int rc = 0;
	for (size_t j = 0; j < n && rc == 0; j++) {
		struct mmodel *mm = find_model(m, cfgs[j].name);
		struct serve_model_config c;
		rc = serve_model_config_copy(&c, &cfgs[j]);
		if (rc < 0)
			break;
		if (mm) {
			serve_model_config_clear(&mm->cfg);
			mm->cfg = c;
		} else {
			memset(&m->models[m->nmodels], 0, sizeof(struct mmodel));
			m->models[m->nmodels].cfg = c;
			m->nmodels++;
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (rc < 0)
		serve_status_set(st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
	return rc;
}

static struct mversion *find_version(struct mmodel *mm, int64_t v)
{
	for (size_t i = 0; i < mm->nv; i++)
		if (mm->v[i]->version == v)
			return mm->v[i];
	return NULL;
}

/* Unload one version: stop new requests, wait for the last one, free it.
 * Called and returns with m->lock held; the version record itself never
 * moves (the model table may, while the lock is dropped). */
static void retire(struct serve_manager *m, struct mversion *v)
{
	v->state = SERVE_VERSION_UNLOADING;
	while (v->refs)
		pthread_cond_wait(&m->released, &m->lock);
	void *s = v->servable;
	v->servable = NULL;
	pthread_mutex_unlock(&m->lock);
	if (s)
		m->loader.unload(m->loader.ud, s);
	pthread_mutex_lock(&m->lock);
	v->state = SERVE_VERSION_END;
	v->code = SERVE_OK;
	v->msg[0] = '\0';
}

static int poll_model(struct serve_manager *m, size_t mi)
{
	pthread_mutex_lock(&m->lock);
	struct mmodel *mm = &m->models[mi];
	char *base = strdup(mm->cfg.base_path);
	char *name = strdup(mm->cfg.name);
	struct serve_version_policy pol = mm->cfg.policy;
	int64_t *spec = NULL;
	bool removed = mm->removed;
	if (pol.nspecific && (spec = calloc(pol.nspecific, sizeof(int64_t))))
		memcpy(spec, pol.specific, pol.nspecific * sizeof(int64_t));
	pol.specific = spec;
	pthread_mutex_unlock(&m->lock);
	if (!base || !name || (pol.nspecific && !spec)) {
		free(base);
		free(name);
		free(spec);
		return -ENOMEM;
	}

	int64_t *avail = NULL, *want = NULL;
	size_t navail = 0, nwant = 0;
	int rc = 0;
	if (!removed) {
		rc = serve_scan_versions(m->loader.list, m->loader.list_ud, base, &avail, &navail);
		if (rc < 0) {
			cc_log(CC_LOG_WARN, SERVE_LOG, "model \"%s\": cannot list \"%s\": %s", name,
			       base, cc_strerror(rc));
			/* Keep serving what is loaded; not a system error. */
			rc = rc == -ENOMEM ? rc : 0;
			goto out;
		}
		rc = serve_policy_select(&pol, avail, navail, &want, &nwant);
		if (rc < 0)
			goto out;
	}

	/* 1. Load what should be served and is not. */
	for (size_t i = 0; i < nwant; i++) {
		pthread_mutex_lock(&m->lock);
		mm = &m->models[mi];
		struct mversion *v = find_version(mm, want[i]);
		if (!v) {
			if (mm->nv >= MAX_VERSIONS_PER_MODEL) {
				pthread_mutex_unlock(&m->lock);
				break;
			}
			struct mversion **nv = realloc(mm->v, (mm->nv + 1) * sizeof(*nv));
			if (nv)
				mm->v = nv;
			v = nv ? calloc(1, sizeof(*v)) : NULL;
			if (!v) {
				pthread_mutex_unlock(&m->lock);
				rc = -ENOMEM;
				goto out;
			}
			mm->v[mm->nv++] = v;
			v->version = want[i];
			v->state = SERVE_VERSION_START;
		}
		bool try = v->state == SERVE_VERSION_START ||
			   (v->state == SERVE_VERSION_END && v->code != SERVE_OK &&
			    v->failures <= m->max_load_retries) ||
			   (v->state == SERVE_VERSION_END && v->code == SERVE_OK);
		if (!try) {
			pthread_mutex_unlock(&m->lock);
			continue;
		}
		v->state = SERVE_VERSION_LOADING;
		int64_t ver = v->version;
		pthread_mutex_unlock(&m->lock);

		char path[4096];
		int n = snprintf(path, sizeof(path), "%s/%" PRId64, base, ver);
		/* The directory may carry leading zeros: ask the lister for its
		 * real name through a second scan only when needed. */
		void *servable = NULL;
		char err[SERVE_STATUS_MSG_MAX] = "";
		int lrc;
		if (n < 0 || (size_t)n >= sizeof(path)) {
			lrc = -ENAMETOOLONG;
			snprintf(err, sizeof(err), "path too long");
		} else {
			char real[4096];
			lrc = serve_version_dir(m->loader.list, m->loader.list_ud, base, ver, real,
						sizeof(real));
			if (lrc == 0) {
				uint64_t t0 = cc_mono_ns();
				lrc = m->loader.load(m->loader.ud, name, real, ver, &servable, err,
						     sizeof(err));
				if (lrc == 0)
					cc_log(CC_LOG_INFO, SERVE_LOG,
					       "model \"%s\" version %" PRId64 " loaded in %.1f ms", name,
					       ver, (double)(cc_mono_ns() - t0) / 1e6);
				if (m->loader.on_load_time)
					m->loader.on_load_time(m->loader.ud, name, cc_mono_ns() - t0);
			} else {
				snprintf(err, sizeof(err), "version directory vanished");
			}
		}
		pthread_mutex_lock(&m->lock);
		mm = &m->models[mi];
		v = find_version(mm, ver);
		if (!v) {
			/* Cannot happen (only this thread removes records). */
			pthread_mutex_unlock(&m->lock);
			if (servable)
				m->loader.unload(m->loader.ud, servable);
			continue;
		}
		if (lrc == 0) {
			v->servable = servable;
			v->state = SERVE_VERSION_AVAILABLE;
			v->code = SERVE_OK;
			v->msg[0] = '\0';
			v->failures = 0;
		} else {
			v->state = SERVE_VERSION_END;
			v->code = SERVE_UNKNOWN;
			v->failures++;
			snprintf(v->msg, sizeof(v->msg), "%s", err[0] ? err : cc_strerror(lrc));
			cc_log(CC_LOG_ERROR, SERVE_LOG, "model \"%s\" version %" PRId64
			       " failed to load: %s", name, ver, v->msg);
		}
		pthread_mutex_unlock(&m->lock);
	}

	/* 2. Retire what should no longer be served (after the loads above). */
	pthread_mutex_lock(&m->lock);
	mm = &m->models[mi];
	for (size_t vi = 0; vi < mm->nv; vi++) {
		bool wanted = false;
		for (size_t i = 0; i < nwant; i++)
			if (want[i] == mm->v[vi]->version)
				wanted = true;
		if (!wanted && mm->v[vi]->state == SERVE_VERSION_AVAILABLE) {
			/* Never leave a model with nothing to serve because
			 * its replacement failed: keep the old version until
			 * a wanted one is available. */
			bool other = false;
			for (size_t k = 0; k < mm->nv; k++)
				if (k != vi && mm->v[k]->state == SERVE_VERSION_AVAILABLE) {
					for (size_t i = 0; i < nwant; i++)
						if (want[i] == mm->v[k]->version)
							other = true;
				}
			if (other || removed || navail == 0 || !version_in(avail, navail, mm->v[vi]->version)) {
				cc_log(CC_LOG_INFO, SERVE_LOG, "model \"%s\" version %" PRId64 " unloading",
				       name, mm->v[vi]->version);
				retire(m, mm->v[vi]);
				mm = &m->models[mi];
			}
		}
	}
	pthread_mutex_unlock(&m->lock);
out:
	free(avail);
	free(want);
	free(base);
	free(name);
	free(spec);
	return rc;
}

int serve_manager_poll(struct serve_manager *m)
{
	pthread_mutex_lock(&m->poll_lock);
	pthread_mutex_lock(&m->lock);
	size_t n = m->nmodels;
	pthread_mutex_unlock(&m->lock);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		int r = poll_model(m, i);
		if (r < 0 && rc == 0)
			rc = r;
	}
	pthread_mutex_lock(&m->lock);
	m->generation++;
	pthread_cond_broadcast(&m->released);
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(&m->poll_lock);
	return rc;
}

static void *poll_thread(void *arg)
{
	struct serve_manager *m = arg;
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (m->poll_ms % 1000) * 1000000u;
		ts.tv_sec += (time_t)(m->poll_ms / 1000 + ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		pthread_cond_timedwait(&m->wake, &m->lock, &ts);
		if (m->stop)
			break;
		pthread_mutex_unlock(&m->lock);
		serve_manager_poll(m);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int serve_manager_start(struct serve_manager *m, uint64_t poll_ms)
{
	if (m->running || poll_ms == 0)
		return poll_ms == 0 ? 0 : -EALREADY;
	m->poll_ms = poll_ms;
	m->stop = false;
	int rc = pthread_create(&m->thread, NULL, poll_thread, m);
	if (rc)
		return -rc;
	m->running = true;
	return 0;
}

void serve_manager_wake(struct serve_manager *m)
{
	pthread_mutex_lock(&m->lock);
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
}

void serve_manager_free(struct serve_manager *m)
{
	if (!m)
		return;
	if (m->running) {
		pthread_mutex_lock(&m->lock);
		m->stop = true;
		pthread_cond_broadcast(&m->wake);
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->thread, NULL);
	}
	pthread_mutex_lock(&m->poll_lock);
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nmodels; i++) {
		struct mmodel *mm = &m->models[i];
		for (size_t vi = 0; vi < mm->nv; vi++)
			if (mm->v[vi]->servable)
				retire(m, mm->v[vi]);
		for (size_t vi = 0; vi < mm->nv; vi++)
			free(mm->v[vi]);
		free(mm->v);
		serve_model_config_clear(&mm->cfg);
	}
	free(m->models);
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(&m->poll_lock);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->poll_lock);
	pthread_cond_destroy(&m->released);
	pthread_cond_destroy(&m->wake);
	free(m);
}

int serve_manager_acquire(struct serve_manager *m, const struct serve_model_request *req,
			  struct serve_servable_ref *ret, struct serve_status *st)
{
	pthread_mutex_lock(&m->lock);
	struct mmodel *mm = find_model(m, req->name);
	struct mversion *pick = NULL;
	int rc = 0;
	if (mm && req->label && req->label[0]) {
		bool found = false;
		for (size_t i = 0; i < mm->cfg.nlabels; i++)
			if (!strcmp(mm->cfg.labels[i].label, req->label)) {
				pick = find_version(mm, mm->cfg.labels[i].version);
				found = true;
				if (!pick || pick->state != SERVE_VERSION_AVAILABLE) {
					rc = serve_status_set(st, SERVE_NOT_FOUND,
							      "Servable not found for request: "
							      "Specific(%s, %" PRId64 ")",
							      req->name, mm->cfg.labels[i].version);
					pick = NULL;
				}
				break;
			}
		if (!found)
			rc = serve_status_set(st, SERVE_INVALID_ARGUMENT,
					      "Unrecognized servable version label: %s", req->label);
	} else if (mm && req->has_version) {
		pick = find_version(mm, req->version);
		if (!pick || pick->state != SERVE_VERSION_AVAILABLE) {
			pick = NULL;
			rc = serve_status_set(st, SERVE_NOT_FOUND,
					      "Servable not found for request: Specific(%s, %" PRId64 ")",
					      req->name, req->version);
		}
	} else if (mm) {
		for (size_t i = 0; i < mm->nv; i++)
			if (mm->v[i]->state == SERVE_VERSION_AVAILABLE &&
			    (!pick || mm->v[i]->version > pick->version))
				pick = mm->v[i];
		if (!pick)
			rc = serve_status_set(st, SERVE_NOT_FOUND,
					      "Servable not found for request: Latest(%s)", req->name);
	} else if (req->has_version) {
		rc = serve_status_set(st, SERVE_NOT_FOUND,
				      "Servable not found for request: Specific(%s, %" PRId64 ")",
				      req->name, req->version);
	} else {
		rc = serve_status_set(st, SERVE_NOT_FOUND,
				      "Servable not found for request: Latest(%s)", req->name);
	}
	if (pick) {
		pick->refs++;
		ret->servable = pick->servable;
		ret->version = pick->version;
		ret->priv = pick;
		ret->mgr = m;
	}
	pthread_mutex_unlock(&m->lock);
	return pick ? 0 : (rc ? -EINVAL : -ENOENT);
}

void serve_manager_release(struct serve_servable_ref *ref)
{
	if (!ref || !ref->priv)
		return;
	struct serve_manager *m = ref->mgr;
	struct mversion *v = ref->priv;
	pthread_mutex_lock(&m->lock);
	if (v->refs)
		v->refs--;
	if (v->refs == 0)
		pthread_cond_broadcast(&m->released);
	pthread_mutex_unlock(&m->lock);
	ref->priv = NULL;
	ref->servable = NULL;
}

int serve_manager_status(struct serve_manager *m, const struct serve_model_request *req,
			 struct serve_version_status **ret, size_t *ret_n, struct serve_status *st)
{
	pthread_mutex_lock(&m->lock);
	struct mmodel *mm = find_model(m, req->name);
	int64_t want = req->version;
	bool has = req->has_version;
	int rc = 0;
	if (mm && req->label && req->label[0]) {
		bool found = false;
		for (size_t i = 0; i < mm->cfg.nlabels; i++)
			if (!strcmp(mm->cfg.labels[i].label, req->label)) {
				want = mm->cfg.labels[i].version;
				has = found = true;
			}
		if (!found) {
			rc = serve_status_set(st, SERVE_INVALID_ARGUMENT,
					      "Unrecognized servable version label: %s", req->label);
			goto out;
		}
	}
	size_t n = 0;
	if (mm)
		for (size_t i = 0; i < mm->nv; i++)
			if (!has || mm->v[i]->version == want)
				n++;
	if (!mm || n == 0) {
		if (has)
			rc = serve_status_set(st, SERVE_NOT_FOUND,
					      "Could not find version %" PRId64 " of model %s", want,
					      req->name);
		else
			rc = serve_status_set(st, SERVE_NOT_FOUND,
					      "Could not find any versions of model %s", req->name);
		goto out;
	}
	struct serve_version_status *out = calloc(n, sizeof(*out));
	if (!out) {
		rc = -ENOMEM;
		goto out;
	}
	size_t k = 0;
	/* Newest first, as TF Serving lists them. */
	for (size_t i = mm->nv; i-- > 0;)
		if (!has || mm->v[i]->version == want) {
			out[k].version = mm->v[i]->version;
			out[k].state = mm->v[i]->state;
			out[k].status.code = mm->v[i]->code;
			snprintf(out[k].status.msg, sizeof(out[k].status.msg), "%s", mm->v[i]->msg);
			k++;
		}
	qsort(out, n, sizeof(*out), cmp_status_desc);
	*ret = out;
	*ret_n = n;
out:
	pthread_mutex_unlock(&m->lock);
	return rc ? -EINVAL : 0;
}

size_t serve_manager_models(struct serve_manager *m, char ***ret)
{
	pthread_mutex_lock(&m->lock);
	size_t n = 0;
	char **names = calloc(m->nmodels ? m->nmodels : 1, sizeof(char *));
	if (names)
		for (size_t i = 0; i < m->nmodels; i++)
			if (!m->models[i].removed && (names[n] = strdup(m->models[i].cfg.name)))
				n++;
	pthread_mutex_unlock(&m->lock);
	*ret = names;
	return names ? n : 0;
}
