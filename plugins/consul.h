/*
 * The Consul registry backend's state, shared by registry-consul.c (the
 * catalog loop and the plumbing), consul-watch.c (one blocking query loop
 * per service name) and consul-local.c (this host's registrations).
 */
#ifndef MICRO_PLUGINS_CONSUL_H
#define MICRO_PLUGINS_CONSUL_H

#include <sys/time.h>

#include <stdint.h>

#include <jansson.h>

#include "plugins/curlev.h"
#include "registry/backend.h"

#define CONSUL_WAIT	"60s"		/* blocking query wait */

struct consul_local;

struct consul_watch {
	struct consul		*c;
	char			*name;
	uint64_t		 index;
	uint64_t		 start_ms;
	uint64_t		 backoff_ms;
	struct curlev_xfer	*xfer;
	struct event		*ev;
	json_t			*ids;		/* node ids delivered */
	int			 relist;	/* first answer still due */
	struct consul_watch	*next;
};

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
	char			*error;
	struct consul_watch	*watches;
	struct consul_local	*locals;
};

void	 consul_log(struct consul *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/* A started request (token and TLS applied), or NULL (logged). */
struct curlev_xfer *consul_request(struct consul *, const char *,
	    const char *, const char *, curlev_done_cb, void *);
/* The same, run to its end at once (bounded): only at shutdown. */
int	 consul_request_now(struct consul *, const char *, const char *);
/* 1 for a 200; else 0 with the reason in *error (replaced). */
int	 consul_answer_ok(struct consul *, struct curlev_xfer *, CURLcode,
	    long, char **);
uint64_t consul_answer_index(struct curlev_xfer *, uint64_t);
void	 consul_loop_delay(uint64_t, uint64_t, struct timeval *);
uint64_t consul_backoff_next(uint64_t);

/* consul-watch.c */
struct consul_watch *consul_watch_get(struct consul *, const char *);
/* forget=1: tell the core its nodes are gone. */
void	 consul_watch_free(struct consul_watch *, int);
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
