/*
 * sqlite persistence of the registry. One row per service version and one
 * per node; a change to a service name rewrites that name's rows in one
 * transaction, so the file always holds whole registrations. A file sqlite
 * cannot read back intact is "corrupt": it is kept aside for a human and
 * the registry starts from an empty file instead of dying. A version that
 * sqlite reads but that does not validate is "rejected": left out, and
 * deleted from the file once a copy of the file is kept. A file sqlite
 * can read but not write (a read-only mount, a full disk) is loaded
 * read-only: changes are refused, saying why, until it can be written.
 */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "log.h"
#include "registry/store-file.h"
#include "registry/store.h"
#include "svc.h"
#include "util.h"

enum store_stmt {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_DEL_NODES,
	STMT_DEL_VERSIONS,
	STMT_PUT_VERSION,
	STMT_PUT_NODE,
	STMT_SHIFT,
	STMT_COUNT
};

static const char *store_sql[STMT_COUNT] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_DEL_NODES] = "DELETE FROM node WHERE service = ?1",
	[STMT_DEL_VERSIONS] = "DELETE FROM version WHERE service = ?1",
	[STMT_PUT_VERSION] = "INSERT INTO version (service, version, "
	    "metadata, endpoints) VALUES (?1, ?2, ?3, ?4)",
	[STMT_PUT_NODE] = "INSERT INTO node (service, version, seq, id, "
	    "address, metadata, expires, remote) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	/* Not to 0, which is no deadline at all. */
	[STMT_SHIFT] = "UPDATE node SET expires = max(expires + ?1, 1) "
	    "WHERE expires != 0",
};

static const char store_schema[] =
	"CREATE TABLE IF NOT EXISTS version ("
	" service TEXT NOT NULL, version TEXT NOT NULL,"
	" metadata TEXT NOT NULL, endpoints TEXT NOT NULL,"
	" PRIMARY KEY (service, version)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS node ("
	" service TEXT NOT NULL, version TEXT NOT NULL, seq INTEGER NOT NULL,"
	" id TEXT NOT NULL,"
	" address TEXT NOT NULL, metadata TEXT NOT NULL,"
	" expires INTEGER NOT NULL, remote INTEGER NOT NULL,"
	" PRIMARY KEY (service, version, id)) WITHOUT ROWID;";

#define STORE_REJECTS_LOGGED	10	/* one line each, then a count */
#define STORE_RETRY_MS		1000	/* to open a read-only file for writing */
#define STORE_BUSY_MS		1000	/* a write waits for another's lock */

struct store {
	char		*path;
	ino_t		 wal_ino;	/* of its own -wal and -shm */
	ino_t		 shm_ino;
	sqlite3		*db;
	sqlite3_stmt	*stmt[STMT_COUNT];
	int		 corrupt;	/* the last failure was the file's */
	char		*rdonly;	/* why it was read only, or NULL */
	ino_t		 ino;		/* of the file then read */
	uint64_t	 retry_at;	/* of the next try to open it to write */
	sqlite3_value	**rejected;	/* service, version of each, as read */
	size_t		  nrejected;
};

/*
 * sqlite's text for an I/O error or a file it cannot open says not why
 * ("disk I/O error"): the system's does (a full disk, a directory).
 */
static int
store_fail(struct store *st, const char *what, char **cause)
{
	int	 code = sqlite3_errcode(st->db) & 0xff;
	int	 sys = sqlite3_system_errno(st->db);

	if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
		st->corrupt = 1;
	if ((code == SQLITE_IOERR || code == SQLITE_CANTOPEN ||
	    code == SQLITE_FULL) && sys != 0)
		xasprintf(cause, "%s: %s (%s)", what, sqlite3_errmsg(st->db),
		    strerror(sys));
	else
		xasprintf(cause, "%s: %s", what, sqlite3_errmsg(st->db));
	return -1;
}

static int
store_corrupt(struct store *st, char **cause, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
store_corrupt(struct store *st, char **cause, const char *fmt, ...)
{
	va_list	 ap;

	st->corrupt = 1;
	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	return -1;
}

static int
store_exec(struct store *st, const char *sql, char **cause)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, sql, cause);
	return 0;
}

static int
store_step(struct store *st, enum store_stmt which, char **cause)
{
	sqlite3_stmt	*stmt = st->stmt[which];
	int		 rc;

	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, store_sql[which], cause);
	return 0;
}

/* After a failed transaction: undo what it did, if it is still open. */
static void
store_rollback(struct store *st)
{
	char	*ignored = NULL;

	if (sqlite3_get_autocommit(st->db) == 0 &&
	    store_step(st, STMT_ROLLBACK, &ignored) == -1) {
		log_warnx("%s: rollback: %s", st->path, ignored);
		free(ignored);
	}
}

static int
store_pragma_int(struct store *st, const char *sql, int64_t *out,
    char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		store_fail(st, sql, cause);
		return -1;
	}
	if ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW) {
		store_fail(st, sql, cause);
		return -1;
	}
	return 0;
}

/* quick_check reads every page: a damaged file fails here, not later. */
static int
store_check(struct store *st, char **cause)
{
	sqlite3_stmt	*stmt;
	const char	*res;
	char		*p;
	int		 rc, ok;

	if (sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &stmt,
	    NULL) != SQLITE_OK)
		return store_fail(st, "quick_check", cause);
	rc = sqlite3_step(stmt);
	res = rc == SQLITE_ROW ?
	    (const char *)sqlite3_column_text(stmt, 0) : NULL;
	ok = res != NULL && strcmp(res, "ok") == 0;
	if (!ok && res != NULL) {
		/* sqlite's report spans lines; a log entry must not. */
		store_corrupt(st, cause, "integrity check: %.160s", res);
		for (p = *cause; *p != '\0'; p++)
			if (*p == '\n')
				*p = ' ';
	} else if (!ok)
		store_fail(st, "integrity check", cause);
	sqlite3_finalize(stmt);
	return ok ? 0 : -1;
}

static int
store_schema_init(struct store *st, char **cause)
{
	int64_t	 version;
	char	 sql[64];

	if (store_pragma_int(st, "PRAGMA user_version", &version,
	    cause) == -1)
		return -1;
	if (version == STORE_SCHEMA_VERSION)
		return 0;
	if (version != 0)
		return store_corrupt(st, cause, "schema version %lld is not %d",
		    (long long)version, STORE_SCHEMA_VERSION);
	if (store_exec(st, store_schema, cause) == -1)
		return -1;
	/* From the constant the check reads: one place to bump it. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
	    STORE_SCHEMA_VERSION);
	return store_exec(st, sql, cause);
}

/*
 * Our own statements on a file of our schema version: one that does not
 * compile (a table or column dropped) is the file's fault, not a reason
 * to fail and retry for ever.
 */
static int
store_prepare(struct store *st, char **cause)
{
	int	 i;

	for (i = 0; i < STMT_COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, store_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL) == SQLITE_OK)
			continue;
		if ((sqlite3_errcode(st->db) & 0xff) == SQLITE_ERROR)
			return store_corrupt(st, cause, "schema damaged: %s",
			    sqlite3_errmsg(st->db));
		return store_fail(st, store_sql[i], cause);
	}
	return 0;
}

static void
store_rejected_free(struct store *st)
{
	size_t	 i;

	for (i = 0; i < 2 * st->nrejected; i++)
		sqlite3_value_free(st->rejected[i]);
	free(st->rejected);
	st->rejected = NULL;
	st->nrejected = 0;
}

static struct store *
store_new(const char *path)
{
	struct store	*st;

	st = xcalloc(1, sizeof(*st));
	st->path = xstrdup(path);
	return st;
}

static void
store_shut(struct store *st)
{
	int	 i;

	store_rejected_free(st);
	for (i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	free(st->rdonly);
	free(st->path);
	free(st);
}

/* Changes are refused with the latest cause, why (taken). */
static void
store_rdonly_why(struct store *st, char *why)
{
	free(st->rdonly);
	xasprintf(&st->rdonly, "%s: %s", st->path, why);
	free(why);
}

static int
store_connect(struct store *st, char **cause)
{
	if (store_file_writable(st->path, cause) == -1)
		return -1;
	if (sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		return store_fail(st, "open", cause);
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	if (store_exec(st, "PRAGMA journal_mode = WAL", cause) == -1 ||
	    store_exec(st, "PRAGMA synchronous = NORMAL", cause) == -1 ||
	    store_check(st, cause) == -1 ||
	    store_schema_init(st, cause) == -1 ||
	    store_prepare(st, cause) == -1)
		return -1;
	st->wal_ino = store_file_ino(st->path, "-wal");
	st->shm_ino = store_file_ino(st->path, "-shm");
	return 0;
}

/* Text that is not JSON becomes false, which no field accepts: corrupt. */
static json_t *
store_column_json(sqlite3_stmt *stmt, int col)
{
	const char	*text = (const char *)sqlite3_column_text(stmt, col);
	json_t		*v;

	if (text == NULL || (v = json_loads(text, JSON_DECODE_ANY,
	    NULL)) == NULL)
		return json_false();
	return v;
}

/*
 * One node row into nodes (as Service JSON) and expiry ([expires, remote]).
 * Text that is not UTF-8 or a deadline that is not a number does not
 * validate: -1, rather than a node silently left out.
 */
static int
store_node_row(sqlite3_stmt *ns, json_t *nodes, json_t *expiry)
{
	json_t	*node;

	if (sqlite3_column_type(ns, 3) != SQLITE_INTEGER ||
	    sqlite3_column_type(ns, 4) != SQLITE_INTEGER)
		return -1;
	if ((node = json_pack("{s:s?, s:s?, s:o}",
	    "id", (const char *)sqlite3_column_text(ns, 0),
	    "address", (const char *)sqlite3_column_text(ns, 1),
	    "metadata", store_column_json(ns, 2))) == NULL)
		return -1;
	json_array_append_new(nodes, node);
	json_array_append_new(expiry, json_pack("[I, I]",
	    (json_int_t)sqlite3_column_int64(ns, 3),
	    (json_int_t)sqlite3_column_int64(ns, 4)));
	return 0;
}

/* What reading one stored version came to. */
enum store_row {
	STORE_ROW_OK,
	STORE_ROW_REJECTED,	/* read, but it does not validate */
	STORE_ROW_FAILED,	/* sqlite could not read it */
};

/*
 * One version row and its live nodes as Service JSON, for svc_from_json,
 * in *row; else why in *cause.
 */
static enum store_row
store_row_json(struct store *st, sqlite3_stmt *vs, sqlite3_stmt *ns,
    json_t *expiry, json_t **row, char **cause)
{
	json_t	*nodes;
	int	 rc;

	nodes = json_array();
	sqlite3_reset(ns);
	sqlite3_bind_value(ns, 1, sqlite3_column_value(vs, 0));
	sqlite3_bind_value(ns, 2, sqlite3_column_value(vs, 1));
	while ((rc = sqlite3_step(ns)) == SQLITE_ROW) {
		if (store_node_row(ns, nodes, expiry) == -1) {
			json_decref(nodes);
			*cause = xstrdup("a node row is not valid");
			return STORE_ROW_REJECTED;
		}
	}
	if (rc != SQLITE_DONE) {
		json_decref(nodes);
		store_fail(st, "read", cause);
		return STORE_ROW_FAILED;
	}
	if ((*row = json_pack("{s:s?, s:s?, s:o, s:o, s:o}",
	    "name", (const char *)sqlite3_column_text(vs, 0),
	    "version", (const char *)sqlite3_column_text(vs, 1),
	    "metadata", store_column_json(vs, 2),
	    "endpoints", store_column_json(vs, 3), "nodes", nodes)) == NULL) {
		*cause = xstrdup("the version row is not valid");
		return STORE_ROW_REJECTED;
	}
	return STORE_ROW_OK;
}

/* A stored string fit for a log line. */
static const char *
store_printable(const unsigned char *text, char *buf, size_t len)
{
	return text == NULL ? "(not text)" :
	    util_printable((const char *)text, buf, len);
}

/* Leave out the version vs is on; its key is kept to delete it later. */
static void
store_reject(struct store *st, sqlite3_stmt *vs, const char *why)
{
	char		 name[SVC_NAME_MAX + 1], version[SVC_NAME_MAX + 1];
	sqlite3_value	**key;

	if (st->nrejected < STORE_REJECTS_LOGGED) {
		log_warnx("stored service %s version \"%s\" does not "
		    "validate, left out: %.200s",
		    store_printable(sqlite3_column_text(vs, 0), name,
		    sizeof(name)), store_printable(sqlite3_column_text(vs, 1),
		    version, sizeof(version)), why);
	}
	st->rejected = xrealloc(st->rejected, 2 * (st->nrejected + 1) *
	    sizeof(*st->rejected));
	key = st->rejected + 2 * st->nrejected++;
	if ((key[0] = sqlite3_value_dup(sqlite3_column_value(vs, 0))) == NULL ||
	    (key[1] = sqlite3_value_dup(sqlite3_column_value(vs, 1))) == NULL)
		fatalx("sqlite3_value_dup");
}

/* Stored nodes carry expires and remote, which the JSON form has not. */
static void
store_set_expiry(struct svc *s, const json_t *expiry)
{
	size_t	 i;

	for (i = 0; i < s->nnodes; i++) {
		s->nodes[i].expires = json_integer_value(
		    json_array_get(json_array_get(expiry, i), 0));
		s->nodes[i].relist = json_integer_value(
		    json_array_get(json_array_get(expiry, i), 1)) != 0;
	}
}

static int
store_read_version(struct store *st, sqlite3_stmt *vs, sqlite3_stmt *ns,
    struct store_loaded *out, char **cause)
{
	json_t		*row = NULL, *expiry;
	struct svc	*s = NULL;
	enum store_row	 rc;
	char		*why = NULL;

	expiry = json_array();
	rc = store_row_json(st, vs, ns, expiry, &row, &why);
	if (rc == STORE_ROW_FAILED) {
		json_decref(expiry);
		*cause = why;
		return -1;
	}
	if (rc == STORE_ROW_OK && (s = svc_from_json(row, 0, &why)) == NULL)
		rc = STORE_ROW_REJECTED;
	json_decref(row);
	if (rc == STORE_ROW_REJECTED) {
		store_reject(st, vs, why);
		free(why);
		json_decref(expiry);
		return 0;
	}
	store_set_expiry(s, expiry);
	json_decref(expiry);
	if (s->nnodes == 0)
		svc_free(s);
	else {
		if (out->n == out->cap) {	/* doubling: loads are large */
			out->cap = out->cap != 0 ? 2 * out->cap : 64;
			out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
		}
		out->v[out->n++] = s;
	}
	return 0;
}

static int
store_read(struct store *st, uint64_t now, struct store_loaded *out,
    char **cause)
{
	sqlite3_stmt	*vs = NULL, *ns = NULL;
	int		 rc = SQLITE_OK;

	if (sqlite3_prepare_v2(st->db, "SELECT service, version, metadata, "
	    "endpoints FROM version ORDER BY service, version", -1, &vs,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, "SELECT id, address, metadata, "
	    "expires, remote FROM node WHERE service = ?1 AND version = ?2 "
	    "AND (expires = 0 OR expires > ?3) ORDER BY seq", -1, &ns,
	    NULL) != SQLITE_OK) {
		sqlite3_finalize(vs);
		return store_fail(st, "read", cause);
	}
	sqlite3_bind_int64(ns, 3, (sqlite3_int64)now);
	while ((rc = sqlite3_step(vs)) == SQLITE_ROW) {
		if (store_read_version(st, vs, ns, out, cause) == -1)
			break;
	}
	sqlite3_finalize(vs);
	sqlite3_finalize(ns);
	if (rc == SQLITE_ROW)
		return -1;
	if (rc != SQLITE_DONE)
		return store_fail(st, "read", cause);
	return 0;
}

/* Expired rows go at load so the file never grows with dead nodes. */
static int
store_purge(struct store *st, uint64_t now, struct store_loaded *out,
    char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if (sqlite3_prepare_v2(st->db, "DELETE FROM node WHERE expires != 0 "
	    "AND expires <= ?1", -1, &stmt, NULL) != SQLITE_OK)
		return store_fail(st, "purge", cause);
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)now);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, "purge", cause);
	out->expired = sqlite3_changes(st->db);
	return store_exec(st, "DELETE FROM version WHERE NOT EXISTS "
	    "(SELECT 1 FROM node WHERE node.service = version.service "
	    "AND node.version = version.version)", cause);
}

/* A statement run once with its parameters bound to values. */
static int
store_run(struct store *st, const char *sql, sqlite3_value *const *args,
    int nargs, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 i, rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return store_fail(st, sql, cause);
	for (i = 0; i < nargs; i++)
		sqlite3_bind_value(stmt, i + 1, args[i]);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, sql, cause);
	return 0;
}

static int
store_delete_rejected(struct store *st, char **cause)
{
	size_t	 i;

	if (store_step(st, STMT_BEGIN, cause) == -1)
		return -1;
	for (i = 0; i < st->nrejected; i++) {
		if (store_run(st, "DELETE FROM node WHERE service = ?1 AND "
		    "version = ?2", st->rejected + 2 * i, 2, cause) == -1 ||
		    store_run(st, "DELETE FROM version WHERE service = ?1 AND "
		    "version = ?2", st->rejected + 2 * i, 2, cause) == -1)
			return -1;
	}
	return store_step(st, STMT_COMMIT, cause);
}

/*
 * Delete the versions left out from the file, once a copy of the file as
 * it was is kept for a human. Without the copy nothing is deleted: the
 * rows stay, and are left out again at the next start.
 */
static void
store_drop_rejected(struct store *st)
{
	const char	*path = st->path;
	char		 to[1024], *sql, *cause = NULL;

	if (st->nrejected == 0)
		return;
	snprintf(to, sizeof(to), "%s.rejected-%llu", path,
	    (unsigned long long)util_wall_ms());
	if ((sql = sqlite3_mprintf("VACUUM INTO %Q", to)) == NULL)
		fatalx("sqlite3_mprintf");
	if (store_exec(st, sql, &cause) == -1)
		log_warnx("%s: %zu service versions left out stay in it: "
		    "no copy of it could be kept: %s", path, st->nrejected,
		    cause);
	else if (store_delete_rejected(st, &cause) == -1) {
		store_rollback(st);
		log_warnx("%s: %zu service versions left out stay in it: %s",
		    path, st->nrejected, cause);
	} else
		log_warnx("%s: %zu service versions left out deleted from it; "
		    "the file as it was is kept as %s", path, st->nrejected,
		    to);
	sqlite3_free(sql);
	free(cause);
	store_rejected_free(st);
}

/* Read the file, drop from it what did not validate and what expired. */
static int
store_load(struct store *st, uint64_t now, struct store_loaded *out,
    char **cause)
{
	if (store_read(st, now, out, cause) == -1)
		return -1;
	store_drop_rejected(st);
	return store_purge(st, now, out, cause);
}

/*
 * sqlite reads a WAL database whose -shm it cannot create (in a read-only
 * directory) only as immutable, which it is when there is no -wal.
 */
static int
store_connect_rdonly(struct store *st)
{
	char	*uri;
	int	 rc;

	if (store_file_ino(st->path, "-wal") != 0)
		return sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READONLY,
		    NULL);
	uri = store_file_uri(st->path, "immutable=1");
	rc = sqlite3_open_v2(uri, &st->db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_URI, NULL);
	free(uri);
	return rc;
}

/*
 * The file cannot be opened to write (why, taken if it is read), but it
 * may be read: the registry is loaded from it, with nothing dropped from
 * it, and changes are refused until store_keep can open it to write.
 * Nothing is written meanwhile, so the file then still holds what was
 * loaded; no connection is kept, which would keep a read-only mount busy
 * (and sqlite shares a -shm opened read-only with a later connection).
 */
static struct store *
store_open_rdonly(const char *path, uint64_t now, struct store_loaded *out,
    char *why)
{
	struct store	*st;
	int64_t		 version = 0;
	char		*ignored = NULL;

	st = store_new(path);
	if (store_connect_rdonly(st) != SQLITE_OK ||
	    store_check(st, &ignored) == -1 ||
	    store_pragma_int(st, "PRAGMA user_version", &version,
	    &ignored) == -1 || version != STORE_SCHEMA_VERSION ||
	    store_read(st, now, out, &ignored) == -1) {
		free(ignored);
		store_shut(st);
		store_loaded_free(out);
		return NULL;
	}
	store_rejected_free(st);	/* left out again next time */
	sqlite3_close(st->db);
	st->db = NULL;
	st->ino = store_file_ino(path, "");
	store_rdonly_why(st, why);
	st->retry_at = util_now_ms() + STORE_RETRY_MS;
	log_warnx("%s; loaded read-only: changes are refused until it can be "
	    "written", st->rdonly);
	return st;
}

struct store *
store_open(const char *path, uint64_t now, struct store_loaded *out,
    char **cause)
{
	struct store	*st;
	char		*why = NULL, to[1024];
	int		 corrupt, moved;

	memset(out, 0, sizeof(*out));
	if (store_file_wal_check(path, cause) == -1)
		return NULL;
	st = store_new(path);
	if (store_connect(st, &why) == 0 &&
	    store_load(st, now, out, &why) == 0)
		return st;
	corrupt = st->corrupt;
	store_shut(st);
	store_loaded_free(out);
	/* Permissions, a full disk, a lock: the file may be fine. */
	if (!corrupt) {
		if ((st = store_open_rdonly(path, now, out, why)) != NULL)
			return st;
		goto fail;
	}
	log_warnx("%s is corrupt: %s", path, why);
	free(why);
	why = NULL;
	moved = store_file_move_aside(path, "corrupt", to, sizeof(to));
	if (moved == -1) {
		xasprintf(cause, "%s is corrupt and cannot be moved aside",
		    path);
		return NULL;
	}
	if (moved != 0)
		log_warnx("%s moved aside as %s; starting with an empty "
		    "registry", path, to);
	st = store_new(path);
	if (store_connect(st, &why) == 0)
		return st;
	store_shut(st);
fail:
	xasprintf(cause, "%s: %s", path, why);
	free(why);
	return NULL;
}

/*
 * The path no longer names the file open (deleted, or another file moved
 * in its place): every change would go to a file no one finds again.
 */
static int
store_moved(struct store *st)
{
	int	 moved = 0;

	if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_HAS_MOVED,
	    &moved) != SQLITE_OK)
		return 0;
	return moved;
}

static void
store_swap(struct store *a, struct store *b)
{
	struct store	 t = *a;

	*a = *b;
	*b = t;
}

/*
 * What the open file holds, whole, at its path: written beside it, then
 * renamed over it, so that a process killed meanwhile leaves no half copy
 * there for the next start to take for the registry.
 */
static int
store_copy(struct store *st, char **cause)
{
	char	 tmp[1024], *sql;
	int	 rv;

	snprintf(tmp, sizeof(tmp), "%s.copy", st->path);
	unlink(tmp);		/* a killed one's; VACUUM INTO wants none */
	if ((sql = sqlite3_mprintf("VACUUM INTO %Q", tmp)) == NULL)
		fatalx("sqlite3_mprintf");
	rv = store_exec(st, sql, cause);
	sqlite3_free(sql);
	if (rv == 0 && rename(tmp, st->path) == -1) {
		xasprintf(cause, "rename %s: %s", tmp, strerror(errno));
		rv = -1;
	}
	if (rv == -1)
		unlink(tmp);
	return rv;
}

/*
 * Copy what the file open holds to a new file at the path, once what is
 * there now is moved aside, and go on with the copy. The open file's own
 * -wal and -shm, if they are still there, go: a new file would take them
 * for its own, and what they hold is in the copy.
 */
static int
store_renew(struct store *st, char **cause)
{
	struct store	*next;
	char		 to[1024];
	int		 moved;

	store_file_unlink_own(st->path, "-wal", st->wal_ino);
	store_file_unlink_own(st->path, "-shm", st->shm_ino);
	if ((moved = store_file_move_aside(st->path, "replaced", to,
	    sizeof(to))) == -1) {
		xasprintf(cause, "what is there now cannot be moved aside");
		return -1;
	}
	if (store_copy(st, cause) == -1)
		return -1;
	next = store_new(st->path);
	if (store_connect(next, cause) == -1) {
		store_shut(next);
		unlink(st->path);	/* the copy, written again next time */
		return -1;
	}
	store_swap(st, next);
	store_shut(next);
	log_warnx("%s was deleted or replaced while in use: the registry is "
	    "written to a new file there%s%s", st->path,
	    moved != 0 ? "; what was there is kept as " : "",
	    moved != 0 ? to : "");
	return 0;
}

/*
 * Connecting writes nothing: it succeeds while another process holds the
 * write lock, and every change would then wait the busy timeout out and
 * fail. A write transaction is begun and undone instead, without waiting
 * for the lock: tried every second, a wait would stall the loop.
 */
static int
store_probe_write(struct store *st, char **cause)
{
	int	 rv;

	sqlite3_busy_timeout(st->db, 0);
	rv = store_step(st, STMT_BEGIN, cause);
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	if (rv == 0)
		store_rollback(st);
	return rv;
}

/*
 * Read only: try to open the file to write, at most every STORE_RETRY_MS,
 * unless it is no longer the file read, which holds what was registered
 * before it was read.
 */
static void
store_retry(struct store *st)
{
	struct store	*next;
	char		*why;
	uint64_t	 now = util_now_ms();

	if (now < st->retry_at)
		return;
	st->retry_at = now + STORE_RETRY_MS;
	if (store_file_ino(st->path, "") != st->ino) {
		store_rdonly_why(st, xstrdup("deleted or replaced since it "
		    "was read; a restart reads what is there now"));
		return;
	}
	next = store_new(st->path);
	if (store_connect(next, &why) == -1 ||
	    store_probe_write(next, &why) == -1) {
		store_shut(next);
		store_rdonly_why(st, why);
		return;
	}
	store_swap(st, next);
	store_shut(next);
	log_warnx("%s opened to write again: changes are stored", st->path);
}

int
store_keep(struct store *st, char **cause)
{
	char	*why;

	if (st->rdonly != NULL) {
		store_retry(st);
		return 0;
	}
	if (!store_moved(st) || store_renew(st, &why) == 0)
		return 0;
	xasprintf(cause, "%s was deleted or replaced while in use and cannot "
	    "be written anew: %s", st->path, why);
	free(why);
	return -1;
}

void
store_close(struct store *st)
{
	char	*cause;

	if (st == NULL)
		return;
	if (store_keep(st, &cause) == -1) {
		log_warnx("%s", cause);
		free(cause);
	}
	store_shut(st);
}

void
store_loaded_free(struct store_loaded *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		svc_free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void
store_bind_json(sqlite3_stmt *stmt, int col, const json_t *v)
{
	sqlite3_bind_text(stmt, col, json_dumps(v, JSON_COMPACT), -1, free);
}

static int
store_put_version(struct store *st, const struct svc *s, uint64_t wall_offset,
    char **cause)
{
	sqlite3_stmt	*vs = st->stmt[STMT_PUT_VERSION];
	sqlite3_stmt	*ns = st->stmt[STMT_PUT_NODE];
	size_t		 i;

	sqlite3_bind_text(vs, 1, s->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(vs, 2, s->version, -1, SQLITE_STATIC);
	store_bind_json(vs, 3, s->metadata);
	store_bind_json(vs, 4, s->endpoints);
	if (store_step(st, STMT_PUT_VERSION, cause) == -1)
		return -1;
	for (i = 0; i < s->nnodes; i++) {
		sqlite3_bind_text(ns, 1, s->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(ns, 2, s->version, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ns, 3, (sqlite3_int64)i);
		sqlite3_bind_text(ns, 4, s->nodes[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_text(ns, 5, s->nodes[i].address, -1,
		    SQLITE_STATIC);
		store_bind_json(ns, 6, s->nodes[i].metadata);
		sqlite3_bind_int64(ns, 7, (sqlite3_int64)(s->nodes[i].expires != 0 ?
		    s->nodes[i].expires + wall_offset : 0));
		sqlite3_bind_int(ns, 8, s->nodes[i].relist != 0);
		if (store_step(st, STMT_PUT_NODE, cause) == -1)
			return -1;
	}
	return 0;
}

static int
store_put_tx(struct store *st, const char *name, const struct svc_set *set,
    uint64_t wall_offset, char **cause)
{
	size_t	 i;

	sqlite3_bind_text(st->stmt[STMT_DEL_NODES], 1, name, -1,
	    SQLITE_STATIC);
	if (store_step(st, STMT_DEL_NODES, cause) == -1)
		return -1;
	sqlite3_bind_text(st->stmt[STMT_DEL_VERSIONS], 1, name, -1,
	    SQLITE_STATIC);
	if (store_step(st, STMT_DEL_VERSIONS, cause) == -1)
		return -1;
	for (i = 0; i < set->n; i++) {
		if (store_put_version(st, set->v[i], wall_offset, cause) == -1)
			return -1;
	}
	return store_step(st, STMT_COMMIT, cause);
}

int
store_read_only(const struct store *st)
{
	return st->rdonly != NULL;
}

/* Before a change: the file must be the one open, and writable. */
static int
store_writing(struct store *st, char **cause)
{
	if (store_keep(st, cause) == -1)
		return -1;
	if (st->rdonly != NULL) {
		*cause = xstrdup(st->rdonly);
		return STORE_READ_ONLY;
	}
	return 0;
}

/*
 * A change failed: *cause names the file, and the file of the three
 * that can no longer be written says which and why better than sqlite
 * ("attempt to write a readonly database").
 */
static int
store_write_fail(struct store *st, char **cause)
{
	char	*why = *cause, *file;

	if (store_file_writable(st->path, &file) == -1) {
		free(why);
		why = file;
	}
	xasprintf(cause, "%s: %s", st->path, why);
	free(why);
	return -1;
}

int
store_put(struct store *st, const char *name, const struct svc_set *set,
    uint64_t wall_offset, char **cause)
{
	int	 rv;

	if ((rv = store_writing(st, cause)) != 0)
		return rv;
	if (store_step(st, STMT_BEGIN, cause) == -1)
		return store_write_fail(st, cause);
	if (store_put_tx(st, name, set, wall_offset, cause) == 0)
		return 0;
	store_rollback(st);
	return store_write_fail(st, cause);
}

int
store_shift(struct store *st, int64_t delta, char **cause)
{
	int	 rv;

	if ((rv = store_writing(st, cause)) != 0)
		return rv;
	sqlite3_bind_int64(st->stmt[STMT_SHIFT], 1, (sqlite3_int64)delta);
	if (store_step(st, STMT_SHIFT, cause) == -1)
		return store_write_fail(st, cause);
	return 0;
}
