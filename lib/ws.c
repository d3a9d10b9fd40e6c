/*
 * Websocket connections on bufferevents, framed by libwslay (see ws.h).
 *
 * wslay is driven from the bufferevent callbacks: its recv callback takes
 * bytes from the input buffer, its send callback appends frames to the
 * output buffer until WS_OUTPUT_HIGH bytes wait there; the rest stays
 * queued inside wslay until the output drains. That split is what makes
 * the queue bounded: ws_send() counts both parts.
 */
#include "config.h"

#include <sys/random.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <wslay/wslay.h>

#include "base64.h"
#include "http.h"
#include "log.h"
#include "sha1.h"
#include "util.h"
#include "ws.h"

#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_OUTPUT_HIGH	(64 * 1024)
#define WS_CLOSE_WAIT_MS	2000

#define WS_DEFAULT_MAX_MESSAGE		(1024 * 1024)
#define WS_DEFAULT_MAX_QUEUE_MSGS	1024
#define WS_DEFAULT_MAX_QUEUE_BYTES	(8 * 1024 * 1024)

struct ws {
	struct bufferevent	*bev;
	wslay_event_context_ptr	 ctx;
	struct ws_limits	 limits;
	struct ws_callbacks	 cb;
	void			*arg;
	struct event		*end_ev;	/* close deadline, or finish now */
	struct event		*ping_ev;
	uint64_t		 last_rx_ms;
	int			 in_wslay;	/* inside wslay_event_recv */
	int			 closing;
	int			 ending;
	char			 peer[64];
};

void
ws_accept_key(const char *key, char *out)
{
	struct sha1	 s;
	uint8_t		 digest[SHA1_DIGEST_LEN];

	sha1_init(&s);
	sha1_update(&s, key, strlen(key));
	sha1_update(&s, WS_GUID, sizeof(WS_GUID) - 1);
	sha1_final(&s, digest);
	base64_encode(digest, sizeof(digest), out);
}

static void
ws_random(void *buf, size_t len)
{
	if (getrandom(buf, len, 0) != (ssize_t)len)
		fatal("getrandom");
}

/* Cut the connection from the event loop (never inside a ws_* call). */
static void
ws_end_soon(struct ws *ws)
{
	if (ws->ending)
		return;
	ws->ending = 1;
	event_active(ws->end_ev, EV_TIMEOUT, 0);
}

/* Over when wslay wants nothing more and every byte has left. */
static void
ws_check(struct ws *ws)
{
	struct evbuffer	*out = bufferevent_get_output(ws->bev);

	if (!wslay_event_want_read(ws->ctx) &&
	    !wslay_event_want_write(ws->ctx) &&
	    evbuffer_get_length(out) == 0)
		ws_end_soon(ws);
}

/* The close handshake has WS_CLOSE_WAIT_MS to finish. */
static void
ws_close_deadline(struct ws *ws)
{
	struct timeval	 tv = { WS_CLOSE_WAIT_MS / 1000,
			    (WS_CLOSE_WAIT_MS % 1000) * 1000 };

	ws->closing = 1;
	evtimer_add(ws->end_ev, &tv);
}

static void
ws_flush(struct ws *ws)
{
	if (ws->ending)
		return;
	if (wslay_event_send(ws->ctx) != 0) {
		ws_end_soon(ws);
		return;
	}
	ws_check(ws);
}

static ssize_t
ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
    void *arg)
{
	struct ws	*ws = arg;
	int		 n;

	n = evbuffer_remove(bufferevent_get_input(ws->bev), buf, len);
	if (n <= 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return n;
}

static ssize_t
ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct ws	*ws = arg;
	struct evbuffer	*out = bufferevent_get_output(ws->bev);

	if (evbuffer_get_length(out) >= WS_OUTPUT_HIGH) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (evbuffer_add(out, data, len) == -1) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)len;
}

static int
ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    void *arg)
{
	ws_random(buf, len);
	return 0;
}

static void
ws_msg_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *m, void *arg)
{
	struct ws	*ws = arg;

	if (m->opcode == WSLAY_CONNECTION_CLOSE && !ws->closing) {
		/* wslay answers it; a peer that never reads is cut. */
		ws_close_deadline(ws);
		return;
	}
	if (ws->closing || ws->cb.message == NULL)
		return;
	if (m->opcode == WSLAY_TEXT_FRAME || m->opcode == WSLAY_BINARY_FRAME)
		ws->cb.message(ws, m->opcode == WSLAY_BINARY_FRAME, m->msg,
		    m->msg_length, ws->arg);
}

static const struct wslay_event_callbacks ws_wslay_cbs = {
	.recv_callback = ws_recv_cb,
	.send_callback = ws_send_cb,
	.genmask_callback = ws_genmask_cb,
	.on_msg_recv_callback = ws_msg_cb,
};

static void
ws_read_cb(struct bufferevent *bev, void *arg)
{
	struct ws	*ws = arg;
	int		 rc;

	if (ws->ending)
		return;
	ws->last_rx_ms = util_now_ms();
	ws->in_wslay = 1;
	rc = wslay_event_recv(ws->ctx);
	ws->in_wslay = 0;
	if (rc != 0) {
		ws_end_soon(ws);
		return;
	}
	/* Whatever wslay cannot take (read disabled) is dropped. */
	if (!wslay_event_get_read_enabled(ws->ctx))
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
	ws_flush(ws);
}

static void
ws_write_cb(struct bufferevent *bev, void *arg)
{
	ws_flush(arg);
}

static void
ws_event_cb(struct bufferevent *bev, short what, void *arg)
{
	ws_end_soon(arg);
}

static uint16_t
ws_final_code(const struct ws *ws)
{
	if (wslay_event_get_close_received(ws->ctx))
		return wslay_event_get_status_code_received(ws->ctx);
	if (wslay_event_get_close_sent(ws->ctx))
		return wslay_event_get_status_code_sent(ws->ctx);
	return WS_CLOSE_ABNORMAL;
}

static void
ws_free(struct ws *ws)
{
	event_free(ws->end_ev);
	if (ws->ping_ev != NULL)
		event_free(ws->ping_ev);
	wslay_event_context_free(ws->ctx);
	bufferevent_free(ws->bev);
	free(ws);
}

static void
ws_end_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws	*ws = arg;

	ws->ending = 1;
	if (ws->cb.closed != NULL)
		ws->cb.closed(ws, ws_final_code(ws), ws->arg);
	ws_free(ws);
}

/* A peer silent for two ping intervals is gone. */
static void
ws_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws			*ws = arg;
	struct wslay_event_msg		 ping = { WSLAY_PING, NULL, 0 };
	uint64_t			 idle;

	idle = util_now_ms() - ws->last_rx_ms;
	if (idle >= 2 * (uint64_t)ws->limits.ping_ms) {
		log_debug("websocket %s: no answer to ping", ws->peer);
		ws_end_soon(ws);
		return;
	}
	if (idle >= ws->limits.ping_ms && !ws->closing &&
	    wslay_event_queue_msg(ws->ctx, &ping) == 0)
		ws_flush(ws);
}

static void
ws_limits_default(struct ws_limits *l, const struct ws_limits *from)
{
	memset(l, 0, sizeof(*l));
	if (from != NULL)
		*l = *from;
	if (l->max_message == 0)
		l->max_message = WS_DEFAULT_MAX_MESSAGE;
	if (l->max_queue_msgs == 0)
		l->max_queue_msgs = WS_DEFAULT_MAX_QUEUE_MSGS;
	if (l->max_queue_bytes == 0)
		l->max_queue_bytes = WS_DEFAULT_MAX_QUEUE_BYTES;
}

static void
ws_set_peer(struct ws *ws)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);

	if (getpeername(bufferevent_getfd(ws->bev), (struct sockaddr *)&ss,
	    &len) == -1 || util_format_addr((struct sockaddr *)&ss,
	    ws->peer, sizeof(ws->peer)) == NULL)
		snprintf(ws->peer, sizeof(ws->peer), "?");
}

static struct ws *
ws_new(struct bufferevent *bev, int server, const struct ws_limits *limits,
    const struct ws_callbacks *cb, void *arg)
{
	struct ws	*ws;
	struct timeval	 tv;
	int		 rc;

	ws = xcalloc(1, sizeof(*ws));
	ws->bev = bev;
	ws_limits_default(&ws->limits, limits);
	ws->cb = *cb;
	ws->arg = arg;
	ws->last_rx_ms = util_now_ms();
	ws_set_peer(ws);
	rc = server ? wslay_event_context_server_init(&ws->ctx, &ws_wslay_cbs,
	    ws) : wslay_event_context_client_init(&ws->ctx, &ws_wslay_cbs, ws);
	if (rc != 0)
		fatalx("wslay: out of memory");
	wslay_event_config_set_max_recv_msg_length(ws->ctx,
	    ws->limits.max_message);
	ws->end_ev = evtimer_new(bufferevent_get_base(bev), ws_end_cb, ws);
	if (ws->limits.ping_ms > 0) {
		ws->ping_ev = event_new(bufferevent_get_base(bev), -1,
		    EV_PERSIST, ws_ping_cb, ws);
		tv.tv_sec = ws->limits.ping_ms / 1000;
		tv.tv_usec = (ws->limits.ping_ms % 1000) * 1000;
		event_add(ws->ping_ev, &tv);
	}
	bufferevent_setcb(bev, ws_read_cb, ws_write_cb, ws_event_cb, ws);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	/* Bytes that came with the handshake are frames already. */
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
		    BEV_TRIG_DEFER_CALLBACKS);
	return ws;
}

/* RFC 6455 §4.2.1; returns the HTTP status to refuse with, or 0. */
static int
ws_check_upgrade(struct http_request *req, const char **cause)
{
	const struct http_headers	*h = http_request_headers(req);
	const char			*key, *version;
	char				 raw[18];

	if (strcmp(http_request_method(req), "GET") != 0) {
		*cause = "websocket upgrade must be GET";
		return 400;
	}
	if (!http_headers_has_token(h, "Upgrade", "websocket") ||
	    !http_headers_has_token(h, "Connection", "upgrade")) {
		*cause = "not a websocket upgrade request";
		return 400;
	}
	version = http_headers_get(h, "Sec-WebSocket-Version");
	if (version == NULL || strcmp(version, "13") != 0) {
		*cause = "unsupported Sec-WebSocket-Version (13 only)";
		return 426;
	}
	key = http_headers_get(h, "Sec-WebSocket-Key");
	if (key == NULL || strlen(key) != WS_KEY_LEN ||
	    base64_decode(key, WS_KEY_LEN, raw) != 16) {
		*cause = "bad Sec-WebSocket-Key";
		return 400;
	}
	return 0;
}

struct ws *
ws_accept(struct http_request *req, const struct ws_limits *limits,
    const struct ws_callbacks *cb, void *arg, const char **cause)
{
	struct bufferevent	*bev;
	char			 accept[WS_ACCEPT_LEN + 1];
	int			 status;

	if ((status = ws_check_upgrade(req, cause)) != 0) {
		if (status == 426)
			http_headers_set(http_reply_headers(req),
			    "Sec-WebSocket-Version", "13");
		http_reply_error(req, status, NULL, *cause);
		return NULL;
	}
	ws_accept_key(http_request_header(req, "Sec-WebSocket-Key"), accept);
	if ((bev = http_request_hijack(req)) == NULL) {
		*cause = "client went away";
		return NULL;
	}
	evbuffer_add_printf(bufferevent_get_output(bev),
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	return ws_new(bev, 1, limits, cb, arg);
}

void
ws_client_prepare(struct http_creq *creq, char *key)
{
	struct http_headers	*h = http_creq_headers(creq);
	uint8_t			 raw[16];

	ws_random(raw, sizeof(raw));
	base64_encode(raw, sizeof(raw), key);
	http_headers_set(h, "Upgrade", "websocket");
	http_headers_set(h, "Connection", "Upgrade");
	http_headers_set(h, "Sec-WebSocket-Version", "13");
	http_headers_set(h, "Sec-WebSocket-Key", key);
}

struct ws *
ws_client_open(struct http_creq *creq, struct bufferevent *bev,
    const char *key, const struct ws_limits *limits,
    const struct ws_callbacks *cb, void *arg, const char **cause)
{
	const struct http_headers	*h = http_creq_response_headers(creq);
	const char			*got;
	char				 want[WS_ACCEPT_LEN + 1];

	ws_accept_key(key, want);
	got = http_headers_get(h, "Sec-WebSocket-Accept");
	if (!http_headers_has_token(h, "Upgrade", "websocket") ||
	    got == NULL || strcmp(got, want) != 0) {
		*cause = "bad websocket handshake answer";
		bufferevent_free(bev);
		return NULL;
	}
	return ws_new(bev, 0, limits, cb, arg);
}

size_t
ws_queued_msgs(const struct ws *ws)
{
	return wslay_event_get_queued_msg_count(ws->ctx);
}

size_t
ws_queued_bytes(const struct ws *ws)
{
	return wslay_event_get_queued_msg_length(ws->ctx) +
	    evbuffer_get_length(bufferevent_get_output(ws->bev));
}

int
ws_send(struct ws *ws, int binary, const void *data, size_t len)
{
	struct wslay_event_msg	 m;

	if (ws->closing || ws->ending)
		return -1;
	if (ws_queued_msgs(ws) + 1 > ws->limits.max_queue_msgs ||
	    ws_queued_bytes(ws) + len > ws->limits.max_queue_bytes) {
		if (ws->cb.overflow != NULL)
			ws->cb.overflow(ws, ws->arg);
		else
			ws_close(ws, WS_CLOSE_POLICY, "output queue full");
		return -1;
	}
	m.opcode = binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME;
	m.msg = data;
	m.msg_length = len;
	if (wslay_event_queue_msg(ws->ctx, &m) != 0)
		return -1;
	if (!ws->in_wslay)
		ws_flush(ws);
	return 0;
}

void
ws_close(struct ws *ws, uint16_t code, const char *reason)
{
	if (ws->closing || ws->ending)
		return;
	wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason,
	    reason != NULL ? strlen(reason) : 0);
	ws_close_deadline(ws);
	if (!ws->in_wslay)
		ws_flush(ws);
}

const char *
ws_peer(const struct ws *ws)
{
	return ws->peer;
}
