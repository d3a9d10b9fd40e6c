/*
 * The registry backend interface: what the registry core (registry/core.c)
 * and a backend (the built-in "local", the etcd and Consul plugins loaded
 * with dlopen) offer each other. It is a binary interface: a plugin built
 * against another REGISTRY_BACKEND_ABI is refused. doc/registry.md has
 * the rules; everything here runs on the registry worker's event loop.
 *
 * The core owns the registry: registrations made through this microd are
 * applied, persisted and published by the core first, then handed to the
 * backend to write to its store (put/del, asynchronous, never blocking).
 * A backend that watches a shared store delivers what the store holds back
 * through the host callbacks; nodes registered here are never overridden
 * by what the store says about them.
 */
#ifndef MICRO_REGISTRY_BACKEND_H
#define MICRO_REGISTRY_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#define REGISTRY_BACKEND_ABI	1
/* The symbol a plugin exports: a const struct registry_backend. */
#define REGISTRY_BACKEND_SYMBOL	"microd_registry_backend"
/* [registry] address: at most this many (the configuration checks it). */
#define REGISTRY_ADDRESSES_MAX	16

struct event_base;

/* The [registry] settings a backend may use; strings are "" when unset. */
struct registry_backend_conf {
	const char	*address;	/* comma-separated (util_list_next) */
	const char	*prefix;	/* key prefix, "" for the default */
	const char	*username;
	const char	*password;
	const char	*token;
	const char	*tls_ca;
	const char	*tls_cert;
	const char	*tls_key;
	uint64_t	 ttl_ms;	/* default registration TTL */
};

/* A backend's view of its store. */
struct registry_sync {
	int		 connected;
	uint64_t	 revision;	/* etcd revision, Consul index */
	const char	*error;		/* last error, NULL if none */
};

/*
 * The core, as a backend sees it. Strings passed in are copied before the
 * call returns.
 */
struct registry_host {
	uint32_t		 abi;		/* REGISTRY_BACKEND_ABI */
	struct event_base	*base;
	const struct registry_backend_conf *conf;
	void			*core;		/* first argument below */

	/*
	 * The store holds this Service JSON (one version, any number of
	 * nodes; a go-micro value, 2016 "port" form accepted): add or
	 * replace those nodes, which leave any other version of the
	 * service they were in. Nodes registered here, and the metadata
	 * and endpoints of a version holding one, stay as registered.
	 * Returns -1 if the JSON does not validate or does not fit (too
	 * many nodes, too large for shm): nothing is taken, and the
	 * backend removes what it delivered of those nodes before, which
	 * would be served at their old values otherwise.
	 */
	int	(*update)(void *, const char *json, size_t len);
	/* The store no longer holds node id of service name. */
	void	(*remove)(void *, const char *name, const char *id);
	/*
	 * A full listing follows (after a reconnect or compaction): updates
	 * until relist_end replace everything the store said before.
	 */
	void	(*relist_begin)(void *);
	void	(*relist_end)(void *);
	/* Connection state, shown by microctl status and micro-top. */
	void	(*sync)(void *, const struct registry_sync *);
	/* One line for the daemon's log; level as enum log_level. */
	void	(*log)(void *, int level, const char *msg);
};

struct registry_backend {
	uint32_t	 abi;		/* REGISTRY_BACKEND_ABI */
	const char	*name;		/* "local", "etcd", "consul" */

	/*
	 * Start: connect, list, watch, all asynchronously on host->base. The
	 * host outlives the backend. Returns the backend's state, or NULL
	 * with a static message in *cause for a bad configuration.
	 */
	void	*(*open)(const struct registry_host *, const char **cause);
	/*
	 * The three below may be NULL when there is nothing to do. Stop at
	 * once: cancel everything in flight, free the state. Not called
	 * when the registry worker exits handing over to a new one for the
	 * same store (a reload): this host's registrations stay there.
	 */
	void	 (*close)(void *);
	/*
	 * Write a registration made here: the Service JSON (one version,
	 * the registered nodes) with its TTL (0: none). The backend keeps
	 * it alive in the store (lease, TTL check) until del.
	 */
	void	 (*put)(void *, const char *json, uint64_t ttl_ms);
	/* Remove the listed nodes of a registration made here. */
	void	 (*del)(void *, const char *json);
};

/* The built-in backend (registry/backend-local.c). */
extern const struct registry_backend registry_backend_local;

/*
 * The backend called name: built in, or the plugin
 * PKGLIBDIR/registry-<name>.so. Returns NULL with an allocated *cause.
 */
const struct registry_backend *registry_backend_find(const char *, char **);

#endif
