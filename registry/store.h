/*
 * The registry's sqlite persistence (state_dir/registry.db, WAL). Schema
 * and recovery rules: doc/registry.md. Only the registry worker opens it.
 */
#ifndef MICRO_REGISTRY_STORE_H
#define MICRO_REGISTRY_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION	1	/* PRAGMA user_version */

struct store;
struct svc;
struct svc_set;

/* What store_open() read back: every stored version with live nodes. */
struct store_loaded {
	struct svc	**v;
	size_t		  n;
	size_t		  cap;		/* of v */
	size_t		  expired;	/* nodes dropped at load */
};

/*
 * Open or create the database and read it. A file that sqlite cannot read,
 * that fails its integrity check or has another schema version is moved
 * aside as "<path>.corrupt-<unix ms>" (with its -wal and -shm files),
 * logged, and replaced by an empty database; a -wal whose header is
 * damaged (sqlite would drop what it holds without a word) is moved aside
 * alone as "<path>.corrupt-<unix ms>-wal". A file that sqlite reads but
 * cannot open to write (a read-only mount, a full disk) is read, nothing
 * dropped from it, and logged once: changes are refused until store_keep
 * can open it to write. A version whose rows do
 * not validate is left out and logged, and deleted from the file once a
 * copy of it is kept as "<path>.rejected-<unix ms>" (else it stays in
 * it). Nodes whose expiry (wall-clock ms) is at or before now are dropped.
 * Returns NULL with *cause when the file can be neither read nor
 * replaced by an empty database.
 */
struct store	*store_open(const char *, uint64_t, struct store_loaded *,
		    char **);
void		 store_close(struct store *);
void		 store_loaded_free(struct store_loaded *);

/*
 * If the path no longer names the file open (deleted, or another file
 * moved in its place, which a restart would read): copy what the file
 * holds to a new file there, once what is there now is moved aside as
 * "<path>.replaced-<unix ms>" (with a -wal and -shm found there, unless
 * they are the open file's own: those go, what they hold is in the copy),
 * and go on with the copy. If the file was read only, try instead (at
 * most every second) to open it to write. store_put, store_shift and
 * store_close do it first. Returns -1 with *cause if the copy cannot be
 * done (it is tried again at the next call).
 */
int		 store_keep(struct store *, char **);
/* Whether changes are refused for now: the file is read only (store_open). */
int		 store_read_only(const struct store *);

/*
 * Replace everything stored under one service name by the versions of the
 * set (none: the name is deleted), in one transaction. Node deadlines are
 * stored plus wall_offset: the caller's clock to the wall clock, which
 * the file keeps (store_open's now and the deadlines it returns are wall
 * clock). Returns -1 with *cause and the database unchanged on failure,
 * STORE_READ_ONLY with *cause while the file was read only (store_open).
 */
#define STORE_READ_ONLY	(-2)	/* logged once, by store_open */
int		 store_put(struct store *, const char *, const struct svc_set *,
		    uint64_t, char **);

/*
 * The wall clock moved delta ms against the caller's clock (the
 * wall_offset of store_put grew by delta): move every stored deadline with
 * it, in one statement. Returns -1 with *cause and the database unchanged
 * on failure, STORE_READ_ONLY with *cause while the file is read only.
 */
int		 store_shift(struct store *, int64_t, char **);

#endif
