/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite store backend.  One database file in WAL mode.  Two connections:
 * the admin connection (secrets, policies, meta) commits with
 * synchronous=FULL so a put that returned survives power loss; the audit
 * connection uses synchronous=NORMAL (WAL keeps the file consistent; the last
 * records before a power cut may be lost) so audit appends on the request
 * path don't pay an fsync each.  The schema is versioned with PRAGMA
 * user_version and migrated forward in one transaction per step.
 */
#include "kbs-internal.h"
#include "store-backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

struct sqlite_be {
	struct kbs_backend base;
	sqlite3 *db;      /* admin */
	sqlite3 *adb;     /* audit */
	pthread_mutex_t lock;
	pthread_mutex_t alock;
};

/* Each step moves user_version from i to i+1. */
static const char *const migrations[] = {
	/* 0 -> 1: base schema */
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE secrets(name TEXT PRIMARY KEY, sealed BLOB NOT NULL,"
	"  size INTEGER NOT NULL, updated INTEGER NOT NULL);"
	"CREATE TABLE policies(name TEXT PRIMARY KEY, policy TEXT NOT NULL,"
	"  updated INTEGER NOT NULL);"
	"CREATE TABLE audit(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  time_ms INTEGER NOT NULL, peer TEXT, event TEXT NOT NULL,"
	"  resource TEXT, measurement TEXT, decision TEXT NOT NULL,"
	"  reason TEXT NOT NULL, detail TEXT);"
	"CREATE INDEX audit_time ON audit(time_ms);",
	/* 1 -> 2: audit queries by resource */
	"CREATE INDEX audit_resource ON audit(resource, time_ms);",
};

int kbs_backend_sqlite_schema_version(void)
{
	return (int)CC_ARRAY_SIZE(migrations);
}

static int sq_err(sqlite3 *db, const char *what)
{
	cc_log(CC_LOG_ERROR, KBS_LOG, "store: %s: %s", what,
	       db ? sqlite3_errmsg(db) : "out of memory");
	return KBS_E_STORE;
}

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "store: %s", msg ? msg : "error");
		sqlite3_free(msg);
		return KBS_E_STORE;
	}
	return 0;
}

static int user_version(sqlite3 *db, int *ret)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return sq_err(db, "read schema version");
	int r = KBS_E_STORE;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*ret = sqlite3_column_int(st, 0);
		r = 0;
	}
	sqlite3_finalize(st);
	return r;
}

static int migrate(sqlite3 *db)
{
	int v = 0;
	int r = user_version(db, &v);
	if (r)
		return r;
	int target = kbs_backend_sqlite_schema_version();
	if (v > target) {
		cc_log(CC_LOG_ERROR, KBS_LOG,
		       "store: schema version %d is newer than this build's %d", v,
		       target);
		return KBS_E_SCHEMA;
	}
	while (v < target) {
		if ((r = exec(db, "BEGIN IMMEDIATE")))
			return r;
		/* Re-read under the write lock: another process may have migrated. */
		if ((r = user_version(db, &v))) {
			exec(db, "ROLLBACK");
			return r;
		}
		if (v >= target) {
			exec(db, "ROLLBACK");
			break;
		}
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", v + 1);
		if ((r = exec(db, migrations[v])) || (r = exec(db, pragma))) {
			exec(db, "ROLLBACK");
			return r;
		}
		if ((r = exec(db, "COMMIT"))) {
			exec(db, "ROLLBACK");
			return r;
		}
		cc_log(CC_LOG_INFO, KBS_LOG, "store: schema migrated to version %d",
		       v + 1);
		v++;
	}
	return 0;
}

static int open_conn(const char *path, bool create, bool full, sqlite3 **ret)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX |
		    SQLITE_OPEN_NOFOLLOW | (create ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		int r = sq_err(db, "open");
		sqlite3_close(db);
		return r;
	}
	sqlite3_busy_timeout(db, 5000);
	sqlite3_extended_result_codes(db, 1);
	int r = exec(db, "PRAGMA journal_mode=WAL");
	if (!r)
		r = exec(db, full ? "PRAGMA synchronous=FULL"
				  : "PRAGMA synchronous=NORMAL");
	if (!r)
		r = exec(db, "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON");
	if (r) {
		sqlite3_close(db);
		return r;
	}
	*ret = db;
	return 0;
}

static void be_close(struct kbs_backend *b)
{
	struct sqlite_be *be = (struct sqlite_be *)b;
	if (!be)
		return;
	sqlite3_close(be->db);
	sqlite3_close(be->adb);
	pthread_mutex_destroy(&be->lock);
	pthread_mutex_destroy(&be->alock);
	free(be);
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return sq_err(db, "prepare");
	return 0;
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return (s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT)
		  : sqlite3_bind_null(st, i)) == SQLITE_OK ? 0 : KBS_E_STORE;
}

/* Run a statement that returns no rows; the caller holds the lock. */
static int step_done(sqlite3 *db, sqlite3_stmt *st, int *ret_changes)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : sq_err(db, "write");
	if (!r && ret_changes)
		*ret_changes = sqlite3_changes(db);
	sqlite3_finalize(st);
	return r;
}

/* The text column of the one row a keyed SELECT finds, as a new string in
 * *ret (caller frees); `absent` when there is no such row. */
static int get_text(struct sqlite_be *be, const char *sql, const char *key,
		    int absent, char **ret)
{
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&be->lock);
	int r = prep(be->db, sql, &st);
	if (!r)
		r = bind_text(st, 1, key);
	if (!r) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *v = (const char *)sqlite3_column_text(st, 0);
			*ret = strdup(v ? v : "");
			r = *ret ? 0 : -ENOMEM;
		} else {
			r = rc == SQLITE_DONE ? absent : sq_err(be->db, "read");
		}
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&be->lock);
	return r;
}

static int be_meta_get(struct kbs_backend *b, const char *key, char **ret)
{
	return get_text((struct sqlite_be *)b, "SELECT value FROM meta WHERE key=?1",
			key, -ENOENT, ret);
}

static int be_meta_set(struct kbs_backend *b, const char *key, const char *val)
{
	struct sqlite_be *be = (struct sqlite_be *)b;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&be->lock);
	int r = prep(be->db, "INSERT OR REPLACE INTO meta(key,value) VALUES(?1,?2)", &st);
	if (!r && !(r = bind_text(st, 1, key)) && !(r = bind_text(st, 2, val)))
		r = step_done(be->db, st, NULL);
	else
		sqlite3_finalize(st);
	pthread_mutex_unlock(&be->lock);
	return r;
}

static int be_secret_put(struct kbs_backend *b, const char *name,
			 const uint8_t *sealed, size_t len, size_t plain_size,
			 int64_t updated_s)
{
	struct sqlite_be *be = (struct sqlite_be *)b;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&be->lock);
	/* One statement is one transaction: the row is old or new, never torn. */
	int r = prep(be->db,
		     "INSERT OR REPLACE INTO secrets(name,sealed,size,updated)"
		     " VALUES(?1,?2,?3,?4)", &st);
	if (!r && !(r = bind_text(st, 1, name)) &&
	    sqlite3_bind_blob(st, 2, sealed, (int)len, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_int64(st, 3, (sqlite3_int64)plain_size) == SQLITE_OK &&
	    sqlite3_bind_int64(st, 4, updated_s) == SQLITE_OK)
		r = step_done(be->db, st, NULL);
	else {
		sqlite3_finalize(st);
		if (!r)
			r = KBS_E_STORE;
	}
	pthread_mutex_unlock(&be->lock);
	return r;
}

static int be_secret_get(struct kbs_backend *b, const char *name, uint8_t **ret,
			 size_t *ret_len)
{
	struct sqlite_be *be = (struct sqlite_be *)b;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&be->lock);
	int r = prep(be->db, "SELECT sealed FROM secrets WHERE name=?1", &st);
	if (!r)
		r = bind_text(st, 1, name);
	if (!r) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const void *p = sqlite3_column_blob(st, 0);
			int n = sqlite3_column_bytes(st, 0);
			uint8_t *c = malloc(n > 0 ? (size_t)n : 1);
			if (!c) {
				r = -ENOMEM;
			} else {
				if (n > 0)
					memcpy(c, p, (size_t)n);
				*ret = c;
				*ret_len = (size_t)(n > 0 ? n : 0);
			}
		} else {
			r = rc == SQLITE_DONE ? KBS_E_NO_RESOURCE : sq_err(be->db, "read");
		}
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&be->lock);
	return r;
}

static int rm_row(struct sqlite_be *be, const char *sql, const char *name,
		  int absent)
{
	sqlite3_stmt *st = NULL;
	int changes = 0;
	pthread_mutex_lock(&be->lock);
	int r = prep(be->db, sql, &st);
	if (!r && !(r = bind_text(st, 1, name)))
		r = step_done(be->db, st, &changes);
	else
		sqlite3_finalize(st);
	pthread_mutex_unlock(&be->lock);
	if (!r && changes == 0)
		r = absent;
	return r;
}

static int be_secret_rm(struct kbs_backend *b, const char *name)
{
	return rm_row((struct sqlite_be *)b, "DELETE FROM secrets WHERE name=?1",
		      name, KBS_E_NO_RESOURCE);
}

static int be_secret_list(struct kbs_backend *b, kbs_backend_secret_fn fn,
			  void *ud)
{
	struct sqlite_be *be = (struct sqlite_be *)b;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&be->lock);
	int r = prep(be->db,
		     "SELECT s.name, s.size, s.updated, p.name IS NOT NULL"
		     " FROM secrets s LEFT JOIN policies p ON p.name = s.name"
		     " ORDER BY s.name", &st);
	int rc = SQLITE_DONE;
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);
		r = fn(ud, n ? n : "", (size_t)sqlite3_column_int64(st, 1),
		       sqlite3_column_int64(st, 2), sqlite3_column_int(st, 3) != 0);
	}
	if (!r && rc != SQLITE_DONE)
		r = sq_err(be->db, "list");
	sqlite3_finalize(st);
	pthread_mutex_unlock(&be->lock);
	return r;
}

static int be_policy_put(struct kbs_backend *b, const char *name,
			 const char *json, int64_t updated_s)
{
	struct sqlite_be *be = (struct sqlite_be *)b;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&be->lock);
	int r = prep(be->db,
		     "INSERT OR REPLACE INTO policies(name,policy,updated)"
		     " VALUES(?1,?2,?3)", &st);
	if (!r && !(r = bind_text(st, 1, name)) && !(r = bind_text(st, 2, json)) &&
	    sqlite3_bind_int64(st, 3, updated_s) == SQLITE_OK)
		r = step_done(be->db, st, NULL);
	else {
		sqlite3_finalize(st);
		if (!r)
			r = KBS_E_STORE;
	}
	pthread_mutex_unlock(&be->lock);
	return r;
}

static int be_policy_get(struct kbs_backend *b, const char *name, char **ret)
{
	return get_text((struct sqlite_be *)b, "SELECT policy FROM policies WHERE name=?1",
			name, KBS_E_NO_POLICY, ret);
}

static int be_policy_rm(struct kbs_backend *b, const char *name)
{
	return rm_row((struct sqlite_be *)b, "DELETE FROM policies WHERE name=?1",
		      name, KBS_E_NO_POLICY);
}

static int be_policy_list(struct kbs_backend *b, kbs_policy_list_fn fn, void *ud)
{
	struct sqlite_be *be = (struct sqlite_be *)b;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&be->lock);
	int r = prep(be->db, "SELECT name, policy FROM policies ORDER BY name", &st);
	int rc = SQLITE_DONE;
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);
		const char *p = (const char *)sqlite3_column_text(st, 1);
		r = fn(ud, n ? n : "", p ? p : "");
	}
	if (!r && rc != SQLITE_DONE)
		r = sq_err(be->db, "list");
	sqlite3_finalize(st);
	pthread_mutex_unlock(&be->lock);
	return r;
}

static int be_audit_append(struct kbs_backend *b,
			   const struct kbs_audit_record *rec)
{
	struct sqlite_be *be = (struct sqlite_be *)b;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&be->alock);
	int r = prep(be->adb,
		     "INSERT INTO audit(time_ms,peer,event,resource,measurement,"
		     "decision,reason,detail) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)", &st);
	if (!r && sqlite3_bind_int64(st, 1, rec->time_ms) == SQLITE_OK &&
	    !bind_text(st, 2, rec->peer) && !bind_text(st, 3, rec->event) &&
	    !bind_text(st, 4, rec->resource) && !bind_text(st, 5, rec->measurement) &&
	    !bind_text(st, 6, rec->decision) && !bind_text(st, 7, rec->reason) &&
	    !bind_text(st, 8, rec->detail))
		r = step_done(be->adb, st, NULL);
	else {
		sqlite3_finalize(st);
		if (!r)
			r = KBS_E_STORE;
	}
	pthread_mutex_unlock(&be->alock);
	return r;
}

static int be_audit_query(struct kbs_backend *b, const struct kbs_audit_filter *f,
			  kbs_audit_fn fn, void *ud)
{
	struct sqlite_be *be = (struct sqlite_be *)b;
	sqlite3_stmt *st = NULL;
	pthread_mutex_lock(&be->alock);
	int r = prep(be->adb,
		     "SELECT time_ms,peer,event,resource,measurement,decision,reason,"
		     "detail FROM (SELECT * FROM audit WHERE time_ms >= ?1"
		     " AND (?2 IS NULL OR resource = ?2) AND (?3 IS NULL OR decision = ?3)"
		     " ORDER BY id DESC LIMIT ?4) ORDER BY id", &st);
	if (!r && (sqlite3_bind_int64(st, 1, f->since_ms) != SQLITE_OK ||
		   bind_text(st, 2, f->resource) || bind_text(st, 3, f->decision) ||
		   sqlite3_bind_int64(st, 4, f->limit) != SQLITE_OK))
		r = KBS_E_STORE;
	int rc = SQLITE_DONE;
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct kbs_audit_record rec = {
			.time_ms = sqlite3_column_int64(st, 0),
			.peer = (const char *)sqlite3_column_text(st, 1),
			.event = (const char *)sqlite3_column_text(st, 2),
			.resource = (const char *)sqlite3_column_text(st, 3),
			.measurement = (const char *)sqlite3_column_text(st, 4),
			.decision = (const char *)sqlite3_column_text(st, 5),
			.reason = (const char *)sqlite3_column_text(st, 6),
			.detail = (const char *)sqlite3_column_text(st, 7),
		};
		r = fn(ud, &rec);
	}
	if (!r && rc != SQLITE_DONE)
		r = sq_err(be->adb, "audit query");
	sqlite3_finalize(st);
	pthread_mutex_unlock(&be->alock);
	return r;
}

static const struct kbs_backend_ops sqlite_ops = {
	.name = "sqlite",
	.meta_get = be_meta_get,
	.meta_set = be_meta_set,
	.secret_put = be_secret_put,
	.secret_get = be_secret_get,
	.secret_rm = be_secret_rm,
	.secret_list = be_secret_list,
	.policy_put = be_policy_put,
	.policy_get = be_policy_get,
	.policy_rm = be_policy_rm,
	.policy_list = be_policy_list,
	.audit_append = be_audit_append,
	.audit_query = be_audit_query,
	.close = be_close,
};

int kbs_backend_sqlite_open(const char *path, bool create,
			    struct kbs_backend **ret)
{
	if (!path || !ret)
		return -EINVAL;
	struct stat stt;
	bool exists = stat(path, &stt) == 0;
	if (!exists && !create)
		return -ENOENT;
	if (exists && !S_ISREG(stt.st_mode))
		return -EINVAL;
	if (!exists) {
		/* Create with owner-only permissions before SQLite touches it. */
		int r = cc_file_write_new(path, "", 0, 0600);
		if (r && r != -EEXIST)
			return r;
	}
	struct sqlite_be *be = calloc(1, sizeof *be);
	if (!be)
		return -ENOMEM;
	be->base.ops = &sqlite_ops;
	pthread_mutex_init(&be->lock, NULL);
	pthread_mutex_init(&be->alock, NULL);
	int r = open_conn(path, false, true, &be->db);
	if (!r)
		r = migrate(be->db);
	if (!r)
		r = open_conn(path, false, false, &be->adb);
	if (r) {
		be_close(&be->base);
		return r;
	}
	*ret = &be->base;
	return 0;
}
