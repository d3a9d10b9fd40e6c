/*
 * The registry in the shm segment: service name -> one immutable record
 * holding a flat node table (for selection without parsing) and the
 * service's JSON text, an array of go-micro Service objects (one per
 * version), exactly what GET /registry?service=NAME returns. shm does not
 * parse JSON: the registry worker hands it nodes and text.
 *
 * One writer (the registry worker), any number of lock-free readers.
 */
#ifndef MICRO_SHM_REGISTRY_H
#define MICRO_SHM_REGISTRY_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "shm/shm.h"

struct shm_writer;

#define SHM_NAME_MAX		1024	/* service name bytes */
#define SHM_NODES_MAX		4096	/* nodes in one record */
#define SHM_FIELD_MAX		1024	/* node id, address, version bytes */

/* Node flags. */
#define SHM_NODE_MUCP		0x0001	/* metadata protocol == "mucp" */

/* A node handed to the writer: NUL-terminated strings, copied. */
struct shm_node_in {
	const char	*id;
	const char	*address;	/* "host:port" */
	const char	*version;	/* the version of its Service object */
	uint32_t	 flags;
};

/*
 * A node as read: NUL-terminated strings inside the segment, valid until
 * shm_read_end. Nodes keep the order the writer gave them, so an index is
 * a stable handle for round-robin and least-outstanding selection as long
 * as shm_service.seq is unchanged.
 */
struct shm_node {
	const char	*id;
	const char	*address;
	const char	*version;
	uint32_t	 flags;
};

/* A looked-up service, valid until shm_read_end. */
struct shm_service {
	const char	*name;		/* NUL-terminated */
	size_t		 name_len;
	size_t		 nnodes;
	const char	*json;		/* json_len bytes: use the length */
	size_t		 json_len;
	uint64_t	 seq;		/* writer sequence: changes on update */
	const void	*rec;		/* the record, opaque */
};

/*
 * Writer (the registry worker only). Open claims the writer role (refused
 * while another live process holds it) and repairs what a killed
 * predecessor left: unreferenced records are retired, counters recounted.
 */
struct shm_writer *shm_writer_open(struct shm *, const char **cause);
void		 shm_writer_close(struct shm_writer *);
/*
 * The master, once it reaped process pid: if that was the writer, the
 * segment has none now. A dead writer's pid could otherwise be reused by
 * an unrelated process and lock every successor out.
 */
void		 shm_writer_reaped(struct shm *, pid_t);
/*
 * Insert or replace a service. Returns -1 with *cause on bad input, a
 * record larger than shm_stats.max_record (see shm_put_size), a full
 * segment or index (logged and counted in shm_stats.full_errors), or a
 * reader that did not leave within the bounded wait.
 */
int		 shm_writer_put(struct shm_writer *, const char *name, size_t len,
		    const struct shm_node_in *, size_t nnodes,
		    const char *json, size_t json_len, const char **cause);
/*
 * The bytes the record of such a put takes: past shm_stats.max_record
 * (a share of the segment's size) it is refused whatever the segment
 * holds, which a caller can tell its client before changing anything.
 */
size_t		 shm_put_size(size_t len, const struct shm_node_in *,
		    size_t nnodes, size_t json_len);
/* Returns 0, or -1 if the name is not there. */
int		 shm_writer_delete(struct shm_writer *, const char *name,
		    size_t len);
int		 shm_writer_set_sync(struct shm_writer *, const struct shm_sync *,
		    const char **cause);
/* Stamp the header so readers know the writer is alive. */
void		 shm_writer_heartbeat(struct shm_writer *);

/*
 * Readers, only between shm_read_begin and shm_read_end. Lookup returns 0
 * and fills the view, or -1 when the name is not registered.
 */
int		 shm_lookup(struct shm *, const char *name, size_t len,
		    struct shm_service *);
void		 shm_service_node(const struct shm_service *, size_t,
		    struct shm_node *);
/* Recompute the record checksum: 0 if intact (tests, tools). */
int		 shm_service_check(const struct shm_service *);
/* Every service, in index order; stop early when cb returns non-zero. */
int		 shm_foreach(struct shm *,
		    int (*cb)(const struct shm_service *, void *), void *);

/*
 * Pick a node at random among those of version (NULL: any). *state is the
 * caller's PRNG state (any non-zero seed). Returns the node index or -1.
 */
ssize_t		 shm_select_random(const struct shm_service *,
		    const char *version, uint64_t *state);

#endif
