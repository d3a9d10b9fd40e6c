/*
 * The subscribe stream (doc/control-protocol.md, "The subscribe stream"):
 * the master subscribes on its client's behalf with a websocket to its own
 * broker listener (GET /sub, as any subscriber) and relays each message as
 * an event. The master never waits for the client: what does not fit its
 * output bound is dropped and counted. A websocket that closes (a broker
 * worker restarting, reloading, dying) is opened again with a backoff.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "base64.h"
#include "broker/broker.h"
#include "ctlproto.h"
#include "http.h"
#include "log.h"
#include "microd/control.h"
#include "microd/master.h"
#include "util.h"
#include "ws.h"

#define CTLSUB_NAME_MAX		255	/* broker_name_valid()'s bound */
#define CTLSUB_RETRY_FIRST_MS	100
#define CTLSUB_RETRY_MAX_MS	5000
#define CTLSUB_TIMEOUT_MS	5000	/* connect, and up to the 101 */
/* Headers and topic beside the base64 body in an envelope, generously. */
#define CTLSUB_ENVELOPE_EXTRA	(64U * 1024)

enum ctlsub_state {
	CTLSUB_CONNECTING,	/* the first upgrade, not answered yet */
	CTLSUB_UP,		/* subscribed */
	CTLSUB_DOWN,		/* interrupted: said so, retrying */
};

/*
 * A subscription lives as long as its stream, except that one stopped
 * while its websocket is open waits (conn NULL) for the closed callback:
 * the websocket's callbacks hold it until then.
 */
struct ctlsub {
	struct control_conn	*conn;
	uint32_t		 id;
	char			 topic[CTLSUB_NAME_MAX + 1];
	char			 queue[CTLSUB_NAME_MAX + 1];	/* "": none */
	struct http_client	*http;
	struct http_creq	*creq;		/* an upgrade in flight */
	struct ws		*ws;
	char			 key[WS_KEY_LEN + 1];
	struct event		*retry;
	uint64_t		 retry_ms;	/* the last wait; 0: none */
	enum ctlsub_state	 state;
	uint64_t		 lost;		/* dropped, not reported yet */
};

static void	ctlsub_connect(struct ctlsub *);

static void
ctlsub_free(struct ctlsub *s)
{
	if (s->creq != NULL)
		http_creq_cancel(s->creq);
	http_client_free(s->http);
	event_free(s->retry);
	free(s);
}

/* An event whose data is a map of one string. */
static void
ctlsub_send_note(struct ctlsub *s, const char *event, const char *key,
    const char *value)
{
	struct ctl_frame	 f;

	ctl_frame_event(&f, s->id, event, 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_kv_str(&f.pk, key, value);
	control_send(s->conn, &f);
}

static void
ctlsub_send_lost(struct ctlsub *s)
{
	struct ctl_frame	 f;

	ctl_frame_event(&f, s->id, "lost", 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_kv_uint(&f.pk, "messages", s->lost);
	control_send(s->conn, &f);
	s->lost = 0;
}

/* Pack the envelope's Header (string values only), or an empty map. */
static void
ctlsub_pack_header(msgpack_packer *pk, json_t *header)
{
	const char	*k;
	json_t		*v;
	size_t		 n = 0;

	json_object_foreach(header, k, v)
		n += json_is_string(v);
	msgpack_pack_map(pk, n);
	json_object_foreach(header, k, v) {
		if (json_is_string(v))
			ctl_pack_kv_str(pk, k, json_string_value(v));
	}
}

/*
 * {"topic":T,"header":{...},"body":<bin>} from the envelope. A frame
 * that is not one (no broker sends such) goes as it is, header empty.
 */
static void
ctlsub_pack_message(struct ctlsub *s, msgpack_packer *pk, const void *data,
    size_t len)
{
	json_t		*env, *header;
	const char	*b64, *topic;
	char		*body = NULL;
	long		 n = -1;

	env = json_loadb(data, len, 0, NULL);
	header = json_object_get(env, "Header");
	if ((b64 = json_string_value(json_object_get(env, "Body"))) != NULL) {
		body = xmalloc(strlen(b64) / 4 * 3 + 3);
		n = base64_decode(b64, strlen(b64), body);
	}
	if (n < 0 || !json_is_object(header))
		header = NULL;
	if ((topic = json_string_value(json_object_get(header,
	    "Micro-Topic"))) == NULL)
		topic = s->topic;
	msgpack_pack_map(pk, 3);
	ctl_pack_kv_str(pk, "topic", topic);
	ctl_pack_str(pk, "header");
	ctlsub_pack_header(pk, header);
	ctl_pack_str(pk, "body");
	msgpack_pack_bin(pk, header != NULL ? (size_t)n : len);
	msgpack_pack_bin_body(pk, header != NULL ? body : data,
	    header != NULL ? (size_t)n : len);
	free(body);
	json_decref(env);
}

/* A message the client has no room for is counted, never queued. */
static void
ctlsub_message(struct ws *ws, int binary, const void *data, size_t len,
    void *arg)
{
	struct ctlsub		*s = arg;
	struct ctl_frame	 f;

	if (s->conn == NULL || s->conn->closing)
		return;
	if (control_output_full(s->conn)) {
		s->lost++;
		return;
	}
	if (s->lost > 0)
		ctlsub_send_lost(s);
	ctl_frame_event(&f, s->id, "message", 1);
	ctl_pack_str(&f.pk, "data");
	ctlsub_pack_message(s, &f.pk, data, len);
	control_send(s->conn, &f);
}

/* Tell the client once per interruption, then try again later. */
static void
ctlsub_interrupted(struct ctlsub *s, const char *why)
{
	struct timeval	 tv;

	s->ws = NULL;
	if (s->state != CTLSUB_DOWN) {
		log_info("control: subscription to %s interrupted: %s",
		    s->topic, why);
		if (!s->conn->closing)
			ctlsub_send_note(s, "interrupted", "reason", why);
	}
	s->state = CTLSUB_DOWN;
	s->retry_ms = util_backoff_next(s->retry_ms, CTLSUB_RETRY_FIRST_MS,
	    CTLSUB_RETRY_MAX_MS);
	tv = util_timeval(s->retry_ms);
	evtimer_add(s->retry, &tv);
}

static void
ctlsub_closed(struct ws *ws, uint16_t code, void *arg)
{
	struct ctlsub	*s = arg;
	char		 why[96];

	if (s->conn == NULL) {
		ctlsub_free(s);
		return;
	}
	snprintf(why, sizeof(why), "the broker closed the subscription (%u%s)",
	    code, code == WS_CLOSE_GOING_AWAY ? ": going away" :
	    code == WS_CLOSE_ABNORMAL ? ": connection lost" : "");
	ctlsub_interrupted(s, why);
}

static const struct ws_callbacks ctlsub_ws_cbs = {
	.message = ctlsub_message,
	.closed = ctlsub_closed,
};

static void
ctlsub_upgraded(struct http_creq *creq, struct stream *stream, void *arg)
{
	struct ctlsub		*s = arg;
	struct ws_limits	 limits;
	const char		*cause;

	s->creq = NULL;
	memset(&limits, 0, sizeof(limits));
	limits.max_message = BASE64_LEN(master->conf->broker_max_message) +
	    CTLSUB_ENVELOPE_EXTRA;
	s->ws = ws_client_open(creq, stream, s->key, &limits, &ctlsub_ws_cbs,
	    s, &cause);
	if (s->ws == NULL) {
		ctlsub_interrupted(s, cause);
		return;
	}
	s->retry_ms = 0;
	s->state = CTLSUB_UP;
	if (!s->conn->closing)
		ctlsub_send_note(s, "subscribed", "topic", s->topic);
}

/* Anything but 101: refused (503 while a worker drains), or no answer. */
static void
ctlsub_refused(struct http_creq *creq, enum http_client_error err,
    void *arg)
{
	struct ctlsub	*s = arg;
	char		 why[96];

	s->creq = NULL;
	if (err != HTTP_CLIENT_OK)
		snprintf(why, sizeof(why), "broker: %s",
		    http_client_strerror(err));
	else
		snprintf(why, sizeof(why), "the broker refused the "
		    "subscription (%d)", http_creq_status(creq));
	ctlsub_interrupted(s, why);
}

/* The broker role is on and listening; its address then. */
static const char *
ctlsub_broker(void)
{
	const struct listener	*l = &master->listeners[ROLE_BROKER];

	if (master->conf->roles[ROLE_BROKER].workers == 0 || l->fd == -1)
		return NULL;
	return l->addr;
}

static void
ctlsub_connect(struct ctlsub *s)
{
	const char	*addr, *cause;
	char		 target[600];

	if ((addr = ctlsub_broker()) == NULL) {
		ctlsub_interrupted(s, "the broker role is off ([broker] "
		    "workers = 0)");
		return;
	}
	snprintf(target, sizeof(target), "/sub?topic=%s%s%s", s->topic,
	    s->queue[0] != '\0' ? "&queue=" : "", s->queue);
	if ((s->creq = http_creq_new(s->http, "GET", addr, target,
	    &cause)) == NULL) {
		ctlsub_interrupted(s, cause);
		return;
	}
	ws_client_prepare(s->creq, s->key);
	http_creq_set_timeouts(s->creq, CTLSUB_TIMEOUT_MS, CTLSUB_TIMEOUT_MS);
	http_creq_set_done_cb(s->creq, ctlsub_refused, s);
	http_creq_set_upgrade_cb(s->creq, ctlsub_upgraded);
	http_creq_start(s->creq);
}

static void
ctlsub_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	ctlsub_connect(arg);
}

/* A name the broker takes (names need no percent-encoding), into buf. */
static int
ctlsub_name(const msgpack_object *o, char *buf)
{
	return ctl_obj_str(o, buf, CTLSUB_NAME_MAX + 1) == 0 &&
	    broker_name_valid(buf) ? 0 : -1;
}

void
ctlsub_start(struct control_conn *c, const struct ctl_msg *m)
{
	const msgpack_object	*queue;
	struct ctl_frame	 f;
	struct ctlsub		*s;

	s = xcalloc(1, sizeof(*s));
	queue = ctl_map_get(m->args, "queue");
	if (ctlsub_name(ctl_map_get(m->args, "topic"), s->topic) == -1 ||
	    (queue != NULL && ctlsub_name(queue, s->queue) == -1)) {
		relay_send_error(c->bev, m->id, CTL_CODE_INVALID, "subscribe "
		    "needs a topic, and takes a queue: 1-255 of "
		    "A-Za-z0-9._:/-");
		free(s);
		return;
	}
	if (ctlsub_broker() == NULL) {
		control_error(c, m->id, "the broker role is off ([broker] "
		    "workers = 0)");
		free(s);
		return;
	}
	s->conn = c;
	s->id = m->id;
	s->http = http_client_new(master->base, NULL);
	if ((s->retry = evtimer_new(master->base, ctlsub_retry_cb, s)) == NULL)
		fatalx("subscribe stream timer");
	ctl_frame_reply(&f, m->id, 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_kv_str(&f.pk, "topic", s->topic);
	control_send(c, &f);
	c->stream = CONTROL_STREAM_SUB;
	c->stream_id = m->id;
	c->sub = s;
	ctlsub_connect(s);
}

/* Output went: report what was dropped while there was no room. */
void
ctlsub_writable(struct control_conn *c)
{
	struct ctlsub	*s = c->sub;

	if (s->lost > 0 && !c->closing && !control_output_full(c))
		ctlsub_send_lost(s);
}

void
ctlsub_stop(struct control_conn *c)
{
	struct ctlsub	*s = c->sub;

	c->sub = NULL;
	if (s->ws == NULL) {
		ctlsub_free(s);
		return;
	}
	s->conn = NULL;
	ws_close(s->ws, WS_CLOSE_NORMAL, "unsubscribed");
}
