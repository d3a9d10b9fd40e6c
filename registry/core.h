/*
 * The registry core: the authoritative in-memory registry of the registry
 * worker (service name -> its versions), persisted to sqlite, published to
 * the shm registry, expired by TTL, and kept in step with the backend
 * (registry/backend.h). It runs on one event loop in one process, the only
 * writer of the shm registry.
 */
#ifndef MICRO_REGISTRY_CORE_H
#define MICRO_REGISTRY_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "registry/backend.h"

#define REGISTRY_TTL_DEFAULT	UINT64_MAX	/* use conf.backend.ttl_ms */
#define REGISTRY_TTL_MAX_MS	(366ULL * 24 * 3600 * 1000)	/* a year */

struct event_base;
struct registry_core;
struct shm;

/* The strings in backend_conf must outlive the core. */
struct registry_core_conf {
	const char			*db_path;
	const struct registry_backend	*backend;
	struct registry_backend_conf	 backend_conf;
};

/*
 * Load the database into the shm registry (the registry answers lookups as
 * soon as this returns), start the expiry timer, the writer heartbeat and
 * the backend. slot is this process's shm slot. Returns NULL with *cause
 * when the shm writer role, the database or the backend cannot be had.
 */
struct registry_core *registry_core_open(const struct registry_core_conf *,
		    struct event_base *, struct shm *, unsigned, char **);
void		 registry_core_close(struct registry_core *);
/*
 * The next close leaves the backend as it is (this host's registrations
 * in etcd or Consul): a new registry worker for the same store takes
 * them over.
 */
void		 registry_core_hand_over(struct registry_core *);

/*
 * Apply a registration or a deregistration (Service JSON text). ttl_ms 0
 * means no expiry. A registered node leaves any other version of its
 * service it was in: the stores key a node by service and id. On
 * failure nothing changed and *cause is one line:
 * REGISTRY_REFUSED when the request is at fault (the JSON does not
 * validate, a version would pass SVC_NODES_MAX, the name more bytes than
 * one shm record takes, the ttl is too long),
 * REGISTRY_UNAVAILABLE while the database could only be read (logged
 * once, not per request), -1 when the change could not be persisted or
 * published.
 */
#define REGISTRY_REFUSED	(-2)
#define REGISTRY_UNAVAILABLE	(-3)
int		 registry_core_register(struct registry_core *, const char *,
		    size_t, uint64_t, char **);
int		 registry_core_deregister(struct registry_core *, const char *,
		    size_t, char **);

#endif
