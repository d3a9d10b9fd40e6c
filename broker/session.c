/*
 * The broker on websockets and HTTP: one session per websocket client,
 * subscribing, publishing, or both (the sidecar's /broker). A subscriber
 * whose output queue is full is cut with 1008 and counted: it never makes
 * the broker wait or grow (doc/broker.md).
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "base64.h"
#include "broker/broker.h"
#include "http.h"
#include "log.h"
#include "microd/conf.h"
#include "util.h"
#include "ws.h"

#define SESSION_QUEUE_BYTES	(8 * 1024 * 1024)
/*
 * Every session of a process together: 4096 slow subscribers at 8 MiB
 * each would be 32 GiB. Past it, the subscriber furthest behind is cut
 * (lib/ws.c), as when its own queue is full.
 */
#define SESSION_QUEUE_ALL_BYTES	(256 * 1024 * 1024)
#define SESSION_PING_MS		30000
/*
 * What a subscriber may send in one message (not published: chatter is
 * dropped). A full max_message, taken in fragments or a frame held back
 * by its last byte, would let each idle subscriber pin that much memory.
 */
#define SESSION_CHATTER_MAX	4096
#define SESSION_CLOSE_RETRY	1013	/* RFC 6455 §7.4.2: try again later */

struct session {
	LIST_ENTRY(session)	 entry;
	struct ws		*ws;
	struct broker_sub	*sub;		/* NULL: publishes only */
	char			*topic;
	char			*ctype;		/* of published frames, or NULL */
	int			 modes;
};

static LIST_HEAD(, session) sessions = LIST_HEAD_INITIALIZER(sessions);
static unsigned	 session_count, session_max;
static void	(*sessions_ended)(void);	/* draining: then told */

void
broker_sessions_limit(unsigned max)
{
	session_max = max;
}

/*
 * Out of the topic, and out of its queue group across every process:
 * publishers stop choosing us for a session that takes no more messages.
 */
static void
session_unsubscribe(struct session *s)
{
	if (s->sub == NULL)
		return;
	broker_unsubscribe(s->sub);
	s->sub = NULL;
}

/*
 * A refusal means it takes no more: it was cut (session_overflow), or
 * its connection is lost. Out of its topic and queue group now, not when
 * the close completes.
 */
static int
session_deliver(const void *env, size_t len, void *arg)
{
	struct session	*s = arg;

	if (ws_send(s->ws, 0, env, len) == 0)
		return 0;
	session_unsubscribe(s);
	return -1;
}

/* A close may wait seconds for the peer: leave the topic now. */
static void
session_close(struct session *s, uint16_t code, const char *reason)
{
	session_unsubscribe(s);
	ws_close(s->ws, code, reason);
}

static void
session_message(struct ws *ws, int binary, const void *data, size_t len,
    void *arg)
{
	struct session	*s = arg;
	const char	*ctype = s->ctype, *cause;
	int		 r;

	if (!(s->modes & BROKER_WS_PUB))
		return;		/* a subscriber's chatter is not published */
	if (ctype == NULL)
		ctype = binary ? "application/octet-stream" : "text/plain";
	if ((r = broker_publish(s->topic, ctype, data, len, &cause)) != 0) {
		log_warnx("broker: %s: publish on %s: %s", ws_peer(ws),
		    s->topic, cause);
		session_close(s, r == BROKER_DOWN ? SESSION_CLOSE_RETRY : 1011,
		    cause);
	}
}

static void
session_overflow(struct ws *ws, void *arg)
{
	struct session	*s = arg;

	broker_count_dropped();
	log_info("broker: %s: subscriber to %s too slow, dropped",
	    ws_peer(ws), s->topic);
	session_close(s, WS_CLOSE_POLICY, "subscriber too slow");
}

static void
session_free(struct session *s)
{
	LIST_REMOVE(s, entry);
	session_count--;
	session_unsubscribe(s);
	free(s->topic);
	free(s->ctype);
	free(s);
	if (session_count == 0 && sessions_ended != NULL)
		sessions_ended();
}

void
broker_sessions_end(void (*done)(void))
{
	struct session	*s;

	sessions_ended = done;
	/* A close never ends a session from inside the call (lib/ws.h). */
	LIST_FOREACH(s, &sessions, entry) {
		/* Its close may take seconds: no new messages meanwhile. */
		session_unsubscribe(s);
		if (s->ws != NULL)
			ws_close_after_queued(s->ws, WS_CLOSE_GOING_AWAY,
			    "server going away");
	}
}

unsigned
broker_sessions_open(void)
{
	return session_count;
}

/*
 * The peer's close frame (or a protocol error): its close may wait
 * seconds behind its backlog, and its queue group must not choose it
 * meanwhile for copies it would refuse.
 */
static void
session_closing(struct ws *ws, void *arg)
{
	session_unsubscribe(arg);
}

static void
session_closed(struct ws *ws, uint16_t code, void *arg)
{
	log_debug("broker: %s: closed (%u)", ws_peer(ws), code);
	session_free(arg);
}

static const struct ws_callbacks session_cbs = {
	.message = session_message,
	.overflow = session_overflow,
	.closing = session_closing,
	.closed = session_closed,
};

static void
session_limits(struct ws_limits *l, int modes)
{
	const struct config	*conf = broker_config();
	size_t			 one = BASE64_LEN(conf->broker_max_message) +
				    1024;

	memset(l, 0, sizeof(*l));
	l->max_message = (modes & BROKER_WS_PUB) ? conf->broker_max_message :
	    SESSION_CHATTER_MAX;
	l->max_queue_msgs = conf->broker_queue_size;
	/* Room for the queue, but never less than two of the largest. */
	l->max_queue_bytes = SESSION_QUEUE_BYTES > 2 * one ?
	    SESSION_QUEUE_BYTES : 2 * one;
	l->max_queue_all = SESSION_QUEUE_ALL_BYTES > 2 * l->max_queue_bytes ?
	    SESSION_QUEUE_ALL_BYTES : 2 * l->max_queue_bytes;
	l->ping_ms = SESSION_PING_MS;
}

/*
 * The topic (and queue) of a request; replies 400 as service id and
 * returns -1 if bad.
 */
static int
session_params(struct http_request *req, const char *id, char **topic,
    char **queue, char **ctype)
{
	const char	*ct = http_request_header(req, "Content-Type");
	const char	*bad = NULL;

	if (http_request_query_check(req, id) == -1)
		return -1;
	*topic = http_request_query_param(req, "topic");
	if (queue != NULL)
		*queue = http_request_query_param(req, "queue");
	*ctype = ct != NULL ? xstrdup(ct) : NULL;
	if (*topic == NULL || !broker_name_valid(*topic))
		bad = "missing or bad topic (1-255 of A-Za-z0-9._:/-)";
	else if (queue != NULL && *queue != NULL && !broker_name_valid(*queue))
		bad = "bad queue name (1-255 of A-Za-z0-9._:/-)";
	else if (*ctype != NULL && !broker_ctype_valid(*ctype))
		bad = "bad Content-Type";
	if (bad == NULL)
		return 0;
	http_reply_error(req, 400, id, bad);
	free(*topic);
	if (queue != NULL)
		free(*queue);
	free(*ctype);
	return -1;
}

void
broker_serve_ws(struct http_request *req, int modes, const char *id)
{
	struct session		*s;
	struct ws_limits	 limits;
	char			*queue;
	const char		*cause;

	if (sessions_ended != NULL) {
		http_reply_error(req, 503, id, "server going away");
		return;
	}
	if (session_max != 0 && session_count >= session_max) {
		log_warnx("broker: refusing a websocket: %u open, the "
		    "listener's max_connections", session_count);
		http_reply_error(req, 503, id,
		    "too many websocket connections");
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->modes = modes;
	if (session_params(req, id, &s->topic, (modes & BROKER_WS_SUB) ?
	    &queue : NULL, &s->ctype) == -1) {
		free(s);
		return;
	}
	LIST_INSERT_HEAD(&sessions, s, entry);
	session_count++;		/* from here on session_free counts */
	if (!(modes & BROKER_WS_SUB))
		queue = NULL;
	/* Before subscribing: a refused request must take no queue group. */
	if (ws_upgrade_check(req, id, &cause) == -1) {
		log_debug("broker: refused websocket: %s", cause);
		free(queue);
		session_free(s);
		return;
	}
	if ((modes & BROKER_WS_SUB) && (s->sub = broker_subscribe(s->topic,
	    queue, session_deliver, s, &cause)) == NULL) {
		/* The group table outlives us: say why it stays refused. */
		log_warnx("broker: %s: refusing a subscriber to %s: %s",
		    http_request_peer(req), s->topic, cause);
		http_reply_error(req, 503, id, cause);
		free(queue);
		session_free(s);
		return;
	}
	free(queue);
	session_limits(&limits, modes);
	if ((s->ws = ws_accept(req, &limits, &session_cbs, s, &cause)) ==
	    NULL) {
		log_debug("broker: refused websocket: %s", cause);
		session_free(s);
	}
}

void
broker_serve_post(struct http_request *req)
{
	struct evbuffer	*body = http_request_body(req);
	size_t		 len = evbuffer_get_length(body);
	char		*topic, *ctype;
	const char	*cause;
	int		 r;
	static const char accepted[] = "{\"status\":\"accepted\"}";

	if (session_params(req, BROKER_ID, &topic, NULL, &ctype) == -1)
		return;
	if (len > broker_config()->broker_max_message)
		http_reply_error(req, 413, BROKER_ID,
		    "message larger than [broker] max_message");
	else if ((r = broker_publish(topic, ctype != NULL ? ctype :
	    "application/octet-stream", evbuffer_pullup(body, -1), len,
	    &cause)) != 0)
		http_reply_error(req, r == BROKER_DOWN ? 503 : 500,
		    BROKER_ID, cause);
	else
		http_reply(req, 202, "application/json", accepted,
		    sizeof(accepted) - 1);
	free(topic);
	free(ctype);
}

void
broker_serve_stats(struct http_request *req)
{
	char	*json = broker_stats_json();

	http_reply(req, 200, "application/json", json, strlen(json));
	free(json);
}
