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
 * logged, and replaced by an empty database. A version whose rows do not
 * validate is left out and logged, and deleted from the file once a copy
 * of it is kept as "<path>.rejected-<unix ms>" (else it stays in it).
 * Nodes whose expiry (wall-clock ms) is at or before now are dropped.
 * Returns NULL with *cause only when not even an empty database can be
 * created.
 */
struct store	*store_open(const char *, uint64_t, struct store_loaded *,
		    char **);
void		 store_close(struct store *);
void		 store_loaded_free(struct store_loaded *);

/*
 * Replace everything stored under one service name by the versions of the
 * set (none: the name is deleted), in one transaction. Node deadlines are
 * stored plus wall_offset: the caller's clock to the wall clock, which
 * the file keeps (store_open's now and the deadlines it returns are wall
 * clock). Returns -1 with *cause and the database unchanged on failure.
 */
int		 store_put(struct store *, const char *, const struct svc_set *,
		    uint64_t, char **);

/*
 * The wall clock moved delta ms against the caller's clock (the
 * wall_offset of store_put grew by delta): move every stored deadline with
 * it, in one statement. Returns -1 with *cause and the database unchanged
 * on failure.
 */
int		 store_shift(struct store *, int64_t, char **);

#endif
