/*
 * The Consul registry backend's state, shared by registry-consul.c (the
 * catalog loop and the plumbing), consul-watch.c (one blocking query loop
 * per service name, sharing CONSUL_WATCH_SLOTS connections) and
 * consul-local.c (this host's registrations).
 */
#ifndef MICRO_PLUGINS_CONSUL_H
#define MICRO_PLUGINS_CONSUL_H

#include <sys/queue.h>
#include <sys/time.h>

#include <stdint.h>

#include <jansson.h>

#include "plugins/curlev.h"
#include "registry/backend.h"

/*
 * Blocking query wait, in seconds. Consul answers within wait + a random
 * wait/16, so a query still silent a few seconds after that has hung (a
 * stalled agent, a half-open connection) and is ended (consul_query_path).
 */
#define CONSUL_WAIT_S		60
/*
 * The wait while other watches queue for a connection (below): short, so
 * connections turn over and every name is seen within a few rounds.
 */
#define CONSUL_WAIT_SHARED_S	2
/*
 * The total timeout of everything that is not a blocking wait (register,
 * check pass, deregister, a plain query): the agent answers these from
 * memory, so a few seconds of silence means it is stalled.
 */
#define CONSUL_REQUEST_MS	5000L
/*
 * Connections open to the agent at most. Consul refuses a client more than
 * limits.http_max_conns_per_client (default 200) connections, and other
 * programs on this host share that budget with us.
 */
#define CONSUL_CONNS_MAX	64
/*
 * Of those, kept free of health watches: the catalog loop and this host's
 * registrations and TTL passes must never wait behind blocking queries.
 */
#define CONSUL_CONNS_SPARE	16
#define CONSUL_WATCH_SLOTS	(CONSUL_CONNS_MAX - CONSUL_CONNS_SPARE)

struct consul_local;

struct consul_watch {
	struct consul		*c;
	char			*name;
	uint64_t		 index;
	uint64_t		 start_ms;
	uint64_t		 backoff_ms;
	struct curlev_xfer	*xfer;
	struct event		*ev;
	json_t			*services;	/* delivered last, accepted */
	json_t			*refused;	/* node ID: why left out */
	int			 relist;	/* first answer still due */
	int			 relist_tries;	/* failed since it began */
	int			 queued;	/* waiting for a slot */
	TAILQ_ENTRY(consul_watch) queue;
	struct consul_watch	*next;
};

TAILQ_HEAD(consul_watch_queue, consul_watch);

struct consul {
	const struct registry_host *host;
	struct curlev		*cev;
	char			*base;		/* http://agent:port */
	struct curlev_xfer	*catalog;
	struct event		*catalog_ev;
	uint64_t		 catalog_start;
	uint64_t		 index;
	uint64_t		 backoff_ms;
	int			 connected;
	int			 relisting;
	size_t			 relist_due;	/* loops with relist set */
	char			*error;
	struct consul_watch	*watches;
	int			 watch_running;	/* of CONSUL_WATCH_SLOTS */
	struct consul_watch_queue watch_queue;
	struct consul_local	*locals;
};

void	 consul_log(struct consul *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/*
 * A started request (token and TLS applied) ended after timeout_ms, or
 * NULL (logged).
 */
struct curlev_xfer *consul_request(struct consul *, const char *,
	    const char *, const char *, long, curlev_done_cb, void *);
/*
 * PUT each of the n paths, all at once, bounded together by one deadline:
 * only at shutdown. Returns how many the agent accepted.
 */
size_t	 consul_put_all_now(struct consul *, char **, size_t);
/*
 * base followed by part, percent-encoded (a service name, a node id: any
 * '#', '?', '%' or '/' in it is data), allocated.
 */
char	*consul_path(const char *, const char *);
/*
 * path with ?index=&wait= for a blocking query after index (as is for
 * index 0), allocated, and the total timeout it deserves in *timeout_ms.
 */
char	*consul_query_path(const char *, uint64_t, unsigned, long *);
/* 1 for a 200; else 0 with the reason in *error (replaced). */
int	 consul_answer_ok(struct consul *, struct curlev_xfer *, CURLcode,
	    long, char **);
uint64_t consul_answer_index(struct curlev_xfer *, uint64_t);
void	 consul_loop_delay(uint64_t, uint64_t, struct timeval *);
uint64_t consul_backoff_next(uint64_t);

/* consul-watch.c */
/* The loop of a name the catalog lists, which has none yet. */
struct consul_watch *consul_watch_new(struct consul *, const char *);
/* forget=1: tell the core its nodes are gone. */
void	 consul_watch_free(struct consul_watch *, int);
/* At close: every watch, the core is not told. */
void	 consul_watch_free_all(struct consul *);
/* A full listing starts: every loop's next answer is part of it. */
void	 consul_watch_relist(struct consul *);
void	 consul_watch_check_relist(struct consul *);

/* consul-local.c; put and del are the backend's (arg is the consul). */
void	 consul_local_put(void *, const char *, uint64_t);
void	 consul_local_del(void *, const char *);
void	 consul_local_resync(struct consul *);
/* Deregister (bounded wait) and free. */
void	 consul_local_free(struct consul *);

#endif
