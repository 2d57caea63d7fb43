/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store backend interface.  A backend keeps rows; it never sees a
 * plaintext secret or the master key: sealing happens above it (store.c).
 * SQLite is the embedded default; a shared backend (PostgreSQL) for several
 * broker replicas implements the same operations.
 */
#ifndef CCSERVE_KBS_STORE_BACKEND_H
#define CCSERVE_KBS_STORE_BACKEND_H

#include <ccserve/kbs.h>

struct kbs_backend;

typedef int (*kbs_backend_secret_fn)(void *ud, const char *name, size_t size,
				     int64_t updated_s, bool has_policy);

struct kbs_backend_ops {
	const char *name;
	/* Store-wide values (store id, key check).  get: -ENOENT if absent. */
	int (*meta_get)(struct kbs_backend *be, const char *key, char **ret);
	int (*meta_set)(struct kbs_backend *be, const char *key, const char *val);
	/* Atomic insert-or-replace of one sealed row. */
	int (*secret_put)(struct kbs_backend *be, const char *name,
			  const uint8_t *sealed, size_t len, size_t plain_size,
			  int64_t updated_s);
	/* KBS_E_NO_RESOURCE if absent; *ret malloc'ed. */
	int (*secret_get)(struct kbs_backend *be, const char *name,
			  uint8_t **ret, size_t *ret_len);
	int (*secret_rm)(struct kbs_backend *be, const char *name);
	int (*secret_list)(struct kbs_backend *be, kbs_backend_secret_fn fn,
			   void *ud);
	int (*policy_put)(struct kbs_backend *be, const char *name,
			  const char *json, int64_t updated_s);
	int (*policy_get)(struct kbs_backend *be, const char *name, char **ret);
	int (*policy_rm)(struct kbs_backend *be, const char *name);
	int (*policy_list)(struct kbs_backend *be, kbs_policy_list_fn fn,
			   void *ud);
	int (*audit_append)(struct kbs_backend *be,
			    const struct kbs_audit_record *rec);
	int (*audit_query)(struct kbs_backend *be,
			   const struct kbs_audit_filter *f, kbs_audit_fn fn,
			   void *ud);
	void (*close)(struct kbs_backend *be);
};

struct kbs_backend {
	const struct kbs_backend_ops *ops;
};

/* SQLite backend (store_sqlite.c): one file, WAL, versioned schema. */
int kbs_backend_sqlite_open(const char *path, bool create,
			    struct kbs_backend **ret);
/* Schema version this build writes (for tests). */
int kbs_backend_sqlite_schema_version(void);

#endif
