/*
 * The built-in broker as a library: any worker process (broker, sidecar)
 * calls broker_init() once and then publishes and subscribes; processes
 * meet in the shared segment the master created with broker_shm_create()
 * (broker/ring.h). Delivery is at-most-once (doc/broker.md).
 *
 * Subscribers are callbacks, so the core knows nothing of websockets
 * (broker/session.c puts it on websockets). A subscriber with a queue
 * name is a member of that queue group: each message goes to one member
 * of the group, across every process.
 */
#ifndef MICRO_BROKER_H
#define MICRO_BROKER_H

#include <stddef.h>
#include <stdint.h>

/* The id of the error JSON the broker's HTTP answers carry. */
#define BROKER_ID	"go.micro.broker"

struct config;
struct event_base;
struct http_request;
struct broker_sub;

/* Master, before forking: at start, then the plugin again each reload. */
int		 broker_shm_create(const struct config *, const char **);
void		 broker_backend_preload(const struct config *);

/* -1 and *cause on failure; errno EBUSY if retrying later may work. */
int		 broker_init(struct event_base *, const struct config *,
		    const char **);
void		 broker_shutdown(void);
const struct config *broker_config(void);

/* Topic and queue names: 1-255 of [A-Za-z0-9._:/-]. */
int		 broker_name_valid(const char *);
/* Content-Type: 1-127 printable ASCII characters (quotes escaped later). */
int		 broker_ctype_valid(const char *);

/*
 * 0, or -1 and *cause (refused: too large, or by the backend), or
 * BROKER_DOWN and *cause: the backend is unreachable (NATS down), try
 * again later.
 */
#define BROKER_DOWN	(-2)
int		 broker_publish(const char *, const char *, const void *, size_t,
		    const char **);

/*
 * Called with the envelope JSON of each message; returns 0 if it took
 * it, -1 if it refused (queue full, closing): a queue group then tries
 * its next member.
 */
typedef int	(*broker_deliver_cb)(const void *, size_t, void *);

/* queue may be NULL. NULL and *cause if the group table is full. */
struct broker_sub *broker_subscribe(const char *, const char *,
		    broker_deliver_cb, void *, const char **);
/*
 * No more messages for it, nor queue group copies for it to this
 * process. Also from inside its deliver callback (a subscriber cut for
 * being slow): it is then freed once the message has been handed out.
 */
void		 broker_unsubscribe(struct broker_sub *);
/* A subscriber was cut for being too slow (counted in /stats). */
void		 broker_count_dropped(void);
/* {"version":1,"published":N,...}: malloc'd, NUL-terminated. */
char		*broker_stats_json(void);

/*
 * Websocket and HTTP endpoints (broker/session.c). broker_serve_ws takes
 * ?topic=T[&queue=Q]: with BROKER_WS_SUB messages arrive as envelopes,
 * with BROKER_WS_PUB each frame the client sends is published; the
 * sidecar's /broker is both; its error JSON carries id (the service
 * answering). broker_serve_post answers POST ?topic=T.
 */
#define BROKER_WS_SUB	0x1
#define BROKER_WS_PUB	0x2
void		 broker_serve_ws(struct http_request *, int, const char *);
/*
 * At most max websocket sessions in this process (the listener's
 * max_connections: an upgraded connection leaves the HTTP server's
 * count); more are refused with 503. 0, the default, is no limit.
 */
void		 broker_sessions_limit(unsigned);
/*
 * Draining: every session is closed with 1001 (going away) after what is
 * queued for it, new ones are refused with 503, and done is called once
 * the last one has closed (each has two seconds for its close handshake).
 */
void		 broker_sessions_end(void (*done)(void));
unsigned	 broker_sessions_open(void);
void		 broker_serve_post(struct http_request *);
void		 broker_serve_stats(struct http_request *);

/* Run the queued work now (tests; the event loop does it otherwise). */
void		 broker_run(void);

#endif
