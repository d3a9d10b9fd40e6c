/*
 * The broker backend interface: what the broker core (broker/broker.c)
 * and an external message bus (the NATS plugin, plugins/broker-nats.c,
 * loaded with dlopen) offer each other. `builtin` is the core's own
 * shared-memory rings and no backend. It is a binary interface: a plugin
 * built against another BROKER_BACKEND_ABI is refused. doc/plugins.md has
 * the rules.
 *
 * With a backend every message goes through the bus, this process's own
 * included: the core publishes each envelope to it and subscribes once
 * per local topic and once per local queue group (the bus picks the
 * member process of a group).
 */
#ifndef MICRO_BROKER_BACKEND_H
#define MICRO_BROKER_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#define BROKER_BACKEND_ABI	1
/* The symbol a plugin exports: a const struct broker_backend. */
#define BROKER_BACKEND_SYMBOL	"microd_broker_backend"
/* [broker] address: at most this many (the configuration checks it). */
#define BROKER_ADDRESSES_MAX	16

/* publish: the bus is unreachable or not keeping up, try again later. */
#define BROKER_BACKEND_DOWN	(-2)

struct event_base;
/* A subscription, as the backend defines it. */
struct broker_backend_sub;

/*
 * A message for a subscription: data is the payload as received (the
 * go-micro envelope, normally), valid during the call only.
 */
typedef void	(*broker_backend_deliver_cb)(void *, const void *, size_t);

/* The core, as a backend sees it. The host outlives the backend. */
struct broker_host {
	uint32_t		 abi;		/* BROKER_BACKEND_ABI */
	struct event_base	*base;		/* the worker's loop */
	const char		*address;	/* [broker] address, "" unset */
	void			*core;		/* first argument below */

	/*
	 * One line for the daemon's log, level as enum log_level. Callable
	 * from any thread (one write per line).
	 */
	void	(*log)(void *, int level, const char *msg);
	/*
	 * The connection is lost for good and only a new process would
	 * serve again: the worker drains its sessions and exits, the master
	 * starts another. Callable from any thread; returns at once.
	 */
	void	(*restart)(void *);
};

struct broker_backend {
	uint32_t	 abi;		/* BROKER_BACKEND_ABI */
	const char	*name;		/* "nats" */

	/*
	 * The master, once, before it forks any worker (threads a backend
	 * runs must be known to libevent before the workers create their
	 * loops). May be NULL. -1 with a static message in *cause.
	 */
	int	 (*prepare)(const char **cause);
	/*
	 * A worker, once: connect asynchronously on host->base. An
	 * unreachable bus is not an error (keep trying; publish answers
	 * BROKER_BACKEND_DOWN meanwhile). Returns the state, or NULL with a
	 * static message in *cause for a bad configuration.
	 */
	void	*(*open)(const struct broker_host *, const char **cause);
	/* At the worker's exit: disconnect, free everything. May be NULL. */
	void	 (*close)(void *);
	/*
	 * Send data (the envelope) on topic: 0, -1 with *cause (refused),
	 * or BROKER_BACKEND_DOWN with *cause. Never blocks.
	 */
	int	 (*publish)(void *, const char *topic, const void *data,
		    size_t len, const char **cause);
	/*
	 * Every message on topic (queue NULL), or one member's share of
	 * queue group queue, to cb(arg, ...) on host->base's thread, in
	 * order, never after unsubscribe. Survives reconnections. NULL with
	 * a static message in *cause.
	 */
	struct broker_backend_sub *(*subscribe)(void *, const char *topic,
		    const char *queue, broker_backend_deliver_cb, void *arg,
		    const char **cause);
	void	 (*unsubscribe)(void *, struct broker_backend_sub *);
};

/*
 * The master: load the plugin PKGLIBDIR/broker-<name>.so and prepare it.
 * NULL with an allocated *cause.
 */
const struct broker_backend *broker_backend_load(const char *, char **);

/*
 * A worker: open be on base with the [broker] address, the host being
 * broker/backend.c. Returns the state, or NULL with a static *cause.
 */
void		*broker_backend_open(const struct broker_backend *,
		    struct event_base *, const char *, const char **);

#endif
