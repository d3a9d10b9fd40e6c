/*
 * What every worker process has, whatever its role: the event loop, its
 * inherited listener served by the shared HTTP layer, its shm slot, and the
 * channel to the master (ctlproto frames on a socketpair).
 */
#ifndef MICRO_WORKER_H
#define MICRO_WORKER_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "ctlproto.h"
#include "microd/conf.h"

struct bufferevent;
struct event_base;
struct http_request;
struct http_server;
struct micro_counters;
struct shm;
struct worker;

/* A message from the master that a role handles (see ctl_msg.cmd). */
struct worker_cmd {
	const char	*name;
	void		(*handle)(struct worker *, const struct ctl_msg *);
};

/*
 * An HTTP route: exact path, or prefix when path ends with '/'. A GET
 * route takes HEAD too (RFC 9110 9.1: the HTTP layer drops the body),
 * unless its reply never ends (a stream): WORKER_ROUTE_NO_HEAD.
 */
struct worker_route {
	const char	*method;	/* NULL: any method */
	const char	*path;
	void		(*handle)(struct worker *, struct http_request *);
	int		 flags;
};

#define WORKER_ROUTE_NO_HEAD	0x1

/* A role's init failed for a passing reason: respawn with backoff. */
#define WORKER_RETRY	(-2)
/* A worker's exit status, as the master reads it (proc_after_exit). */
#define WORKER_EXIT_RETRY	1	/* respawned, with backoff */
#define WORKER_EXIT_FATAL	2	/* stopped until a reload */

/* A role is a table entry: see workers/roles.c. */
struct role {
	const char		*name;
	enum role_id		 id;
	/* The id of the error JSON its own answers carry (404, 405...). */
	const char		*error_id;
	/* 0; -1: bad configuration (exit 2, not respawned); WORKER_RETRY. */
	int			(*init)(struct worker *);	/* may be NULL */
	void			(*shutdown)(struct worker *);	/* may be NULL */
	/*
	 * SIGTERM: end what would hold a graceful drain up (streams). The
	 * worker exits once its HTTP server has drained and busy (if set)
	 * returns 0; the role calls worker_drain_check() when that changes.
	 */
	void			(*drain)(struct worker *);	/* may be NULL */
	int			(*busy)(struct worker *);	/* may be NULL */
	const struct worker_cmd	*cmds;		/* NULL-terminated or NULL */
	const struct worker_route *routes;	/* NULL-terminated or NULL */
	/*
	 * Optional: called with every request head before its body (arg is
	 * the struct worker), for roles that stream bodies (proxies) or
	 * upgrade connections; see http_server_set_head_handler().
	 */
	void			(*head_handler)(struct http_request *, void *);
};

struct worker {
	struct event_base	*base;
	const struct config	*conf;
	const struct role	*role;
	unsigned		 id;		/* index within the role */
	unsigned		 generation;
	unsigned		 slot_index;	/* shm slot */
	int			 listen_fd;	/* -1 when the role has none */
	struct shm		*shm;
	struct micro_counters	*counters;	/* in this worker's shm slot */
	struct http_server	*http;
	struct bufferevent	*parent;	/* channel to the master */
	void			*role_data;	/* the role's own state */
	uint32_t		 next_id;
	struct worker_pending	*pending;	/* requests awaiting a reply */
	int			 draining;	/* SIGTERM came */
	int			 http_drained;
};

typedef void (*worker_reply_cb)(struct worker *, const struct ctl_msg *,
    void *);

/*
 * Ask the master (which may forward to another worker). Begin a request
 * frame with nfields extra key/value pairs, pack them, then send. cb gets
 * the reply, or NULL if the channel closes first. Returns the request id,
 * usable with worker_request_cancel().
 */
uint32_t worker_request_begin(struct worker *, struct ctl_frame *,
	    const char *cmd, size_t nfields);
void	 worker_request_send(struct worker *, struct ctl_frame *, uint32_t,
	    worker_reply_cb, void *);
void	 worker_request_cancel(struct worker *, uint32_t);
/* Finish the requests under way and exit, as on SIGTERM. */
void	 worker_drain(struct worker *);
/* Draining: exit now if nothing holds the drain up any more. */
void	 worker_drain_check(void);

/* Send a finished frame (a reply to a master's request) to the master. */
void	 worker_send(struct worker *, struct ctl_frame *);

/* workers/roles.c; each role lives in its own file (workers/<role>.c). */
extern const struct role *const roles[ROLE_COUNT];
extern const struct role role_registry;
extern const struct role role_api;
extern const struct role role_web;
extern const struct role role_sidecar;
#define SIDECAR_ID	"go.micro.sidecar"
extern const struct role role_broker;

/* What the master hands a freshly forked worker. */
struct worker_spec {
	enum role_id		 role;
	unsigned		 id;
	unsigned		 generation;
	unsigned		 slot_index;
	int			 listen_fd;
	int			 chan_fd;
	int			 state_fd;	/* the state_dir lock, kept */
	const struct config	*conf;
	struct shm		*shm;
	pid_t			 master_pid;
	struct event_base	*master_base;	/* to be shed by the child */
};

void	 worker_main(const struct worker_spec *) __attribute__((noreturn));

#endif
