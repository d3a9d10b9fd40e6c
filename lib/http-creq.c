#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>

#include "http-int.h"
#include "log.h"
#include "util.h"

/* A streamed body is replayable on a fresh connection up to this much. */
#define HTTP_CLIENT_REPLAY_MAX	(256 * 1024)

static void	http_creq_connect(struct http_creq *);

/* Request life. */
void
http_creq_free(struct http_creq *r)
{
	if (r->busy > 0) {
		r->dead = 1;
		return;
	}
	http_cconn_free(r->conn);
	free(r->method);
	free(r->target);
	free(r->field);
	free(r->value);
	http_headers_free(r->headers);
	http_headers_free(r->rsp_headers);
	evbuffer_free(r->body);
	evbuffer_free(r->rsp_body);
	if (r->replay != NULL)
		evbuffer_free(r->replay);
	event_free(r->timer);
	event_free(r->kick);
	free(r);
}

void
http_creq_unlink(struct http_creq *r)
{
	if (r->linked)
		TAILQ_REMOVE(&r->client->reqs, r, entry);
	r->linked = 0;
}

/* After a user callback: free the request if the callback cancelled it. */
int
http_creq_gone(struct http_creq *r)
{
	if (!r->dead)
		return 0;
	r->dead = 0;
	http_creq_unlink(r);
	http_creq_free(r);
	return -1;
}

/* The end: hand the connection back (if clean), tell the caller, free. */
void
http_creq_done(struct http_creq *r, enum http_client_error err)
{
	struct http_cconn	*cc = r->conn;

	http_creq_unlink(r);
	evtimer_del(r->timer);
	/* Pooled only if the peer keeps it and all we sent went out. */
	if (err == HTTP_CLIENT_OK && cc != NULL &&
	    http_should_keep_alive(&r->parser) &&
	    (!r->stream_body || r->body_ended) &&
	    evbuffer_get_length(stream_output(cc->stream)) == 0) {
		r->conn = NULL;
		http_client_pool_put(r->client, r->addr, cc);
	}
	if (err != HTTP_CLIENT_OK)
		log_debug("http client: %s %s%s: %s", r->method, r->addr,
		    r->target, http_client_strerror(err));
	r->busy++;
	if (r->done_cb != NULL)
		r->done_cb(r, err, r->arg);
	r->busy--;
	r->dead = 0;
	http_creq_free(r);
}

/* Fail from the event loop, never from inside the caller's call. */
static void
http_creq_fail_later(struct http_creq *r, enum http_client_error err)
{
	r->pending = err;
	event_active(r->kick, EV_TIMEOUT, 0);
}

static void
http_creq_kick_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_creq	*r = arg;

	if (r->pending != HTTP_CLIENT_OK)
		http_creq_done(r, r->pending);
	else
		http_creq_parse(r);
}

static void
http_creq_arm(struct http_creq *r, uint64_t ms)
{
	struct timeval	 tv = util_timeval(ms);

	evtimer_add(r->timer, &tv);
}

/*
 * The wait that starts now. A buffered exchange has one deadline for the
 * whole of it. A streamed one (stream callbacks set: a proxied download,
 * an event stream, a long upload) may run as long as bytes move: the
 * timeout bounds each silence of the node instead, re-armed whenever
 * something is read from or written to it, and stopped while the caller
 * has paused reading (then its own client is slow, not the node).
 */
static void
http_creq_rearm(struct http_creq *r)
{
	uint64_t	 now = util_now_ms();

	if (r->head_cb == NULL)
		http_creq_arm(r, r->deadline > now ? r->deadline - now : 0);
	else if (!r->paused)
		http_creq_arm(r, r->timeout_ms);
}

/* Bytes moved: a streamed exchange's silence starts again. */
void
http_creq_progress(struct http_creq *r)
{
	if (r->head_cb != NULL && !r->connecting)
		http_creq_rearm(r);
}

static void
http_creq_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_creq	*r = arg;

	http_creq_done(r, r->connecting ? HTTP_CLIENT_CONNECT_TIMEOUT :
	    HTTP_CLIENT_TIMEOUT);
}

/*
 * The connection broke. A reused one that broke before any answer was
 * most likely closed by the peer while idle, and the request goes once
 * more on a fresh one; but the peer may also have read it and died, so
 * only a request that may run twice does (the pool's peek keeps that
 * race rare for the others).
 */
static void
http_creq_broken(struct http_creq *r)
{
	if (r->got_byte) {
		http_creq_done(r, HTTP_CLIENT_PROTOCOL);
		return;
	}
	if (r->reused && !r->retried && r->replay != NULL &&
	    http_method_idempotent(r->method)) {
		r->retried = 1;
		http_cconn_free(r->conn);
		r->conn = NULL;
		http_creq_connect(r);
		return;
	}
	http_creq_done(r, HTTP_CLIENT_RESET);
}

static void
http_creq_read_cb(struct stream *s, void *arg)
{
	http_creq_progress(arg);
	http_creq_parse(arg);
}

static void
http_creq_write_cb(struct stream *s, void *arg)
{
	struct http_creq	*r = arg;

	http_creq_progress(r);
	if (r->writable_cb != NULL)
		r->writable_cb(r, r->arg);
}

static void
http_creq_eof(struct http_creq *r)
{
	/* A body delimited by the close ends here. */
	if (r->got_byte && http_creq_execute(r, NULL, NULL, 0) == -1)
		return;
	http_creq_broken(r);
}

static void
http_creq_event_cb(struct stream *s, short what, void *arg)
{
	struct http_creq	*r = arg;
	int			 error = errno;

	if (what & STREAM_CONNECTED) {
		r->connecting = 0;
		http_creq_rearm(r);
		return;
	}
	if (r->connecting) {
		http_creq_done(r, error == ECONNREFUSED ?
		    HTTP_CLIENT_CONNECT_REFUSED : HTTP_CLIENT_CONNECT_FAILED);
		return;
	}
	if (what & STREAM_EOF) {
		http_creq_eof(r);
		return;
	}
	http_creq_broken(r);
}

/* Put the request on a connection: its bytes are referenced, not copied. */
static void
http_creq_attach(struct http_creq *r)
{
	struct stream	*s = r->conn->stream;

	stream_setcb(s, http_creq_read_cb, http_creq_write_cb,
	    http_creq_event_cb, r);
	stream_enable(s, STREAM_READ | STREAM_WRITE);
	evbuffer_add_buffer_reference(stream_output(s), r->replay);
	http_parser_init(&r->parser, HTTP_RESPONSE);
	r->parser.data = r;
}

static void
http_creq_connect(struct http_creq *r)
{
	struct http_cconn	*cc;
	int			 fd, one = 1;
	uint64_t		 left, now = util_now_ms();

	r->reused = 0;
	r->connecting = 1;
	left = r->deadline > now ? r->deadline - now : 0;
	http_creq_arm(r, r->connect_ms < left ? r->connect_ms : left);
	if ((fd = socket(r->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		log_warn("http client: socket");
		http_creq_fail_later(r, HTTP_CLIENT_CONNECT_FAILED);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&r->ss, r->sslen) == -1 &&
	    errno != EINPROGRESS) {
		http_creq_fail_later(r, errno == ECONNREFUSED ?
		    HTTP_CLIENT_CONNECT_REFUSED : HTTP_CLIENT_CONNECT_FAILED);
		close(fd);
		return;
	}
	cc = xcalloc(1, sizeof(*cc));
	cc->stream = stream_new(r->client->base, fd);
	/* The stream waits for writability and reports the connect result. */
	stream_connecting(cc->stream);
	r->conn = cc;
	http_creq_attach(r);
}

/* Serialize the head (and a buffered body) into the replay buffer. */
static void
http_creq_serialize(struct http_creq *r)
{
	struct evbuffer	*out = r->replay;
	const char	*name, *value;
	size_t		 i, len = evbuffer_get_length(r->body);

	evbuffer_add_printf(out, "%s %s HTTP/1.1\r\n", r->method, r->target);
	if (http_headers_get(r->headers, "Host") == NULL)
		http_header_line(out, "Host", r->addr);
	for (i = 0; http_headers_at(r->headers, i, &name, &value); i++) {
		if (name[strcspn(name, "\r\n:")] != '\0' ||
		    value[strcspn(value, "\r\n")] != '\0' ||
		    strcasecmp(name, "Transfer-Encoding") == 0 ||
		    (!r->stream_body && strcasecmp(name, "Content-Length") == 0))
			continue;
		http_header_line(out, name, value);
	}
	if (r->stream_body) {
		r->chunked = http_headers_get(r->headers, "Content-Length") ==
		    NULL;
		if (r->chunked)
			evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	} else if (len > 0 || (strcmp(r->method, "GET") != 0 &&
	    strcmp(r->method, "HEAD") != 0))
		evbuffer_add_printf(out, "Content-Length: %zu\r\n", len);
	evbuffer_add(out, "\r\n", 2);
	if (!r->stream_body)
		evbuffer_add_buffer(out, r->body);
}

void
http_creq_start(struct http_creq *r)
{
	struct http_client	*c = r->client;

	TAILQ_INSERT_TAIL(&c->reqs, r, entry);
	r->linked = 1;
	r->deadline = util_now_ms() + r->timeout_ms;
	if ((r->replay = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	http_creq_serialize(r);
	if ((r->conn = http_client_pool_get(c, r->addr)) != NULL) {
		r->reused = 1;
		http_creq_arm(r, r->timeout_ms);
		http_creq_attach(r);
		return;
	}
	http_creq_connect(r);
}

/* Streamed request body. */
static void
http_creq_send(struct http_creq *r, struct evbuffer *data)
{
	if (r->conn != NULL)
		evbuffer_add_buffer_reference(
		    stream_output(r->conn->stream), data);
	if (r->replay != NULL &&
	    evbuffer_get_length(r->replay) + evbuffer_get_length(data) <=
	    HTTP_CLIENT_REPLAY_MAX && !r->got_byte)
		evbuffer_add_buffer(r->replay, data);
	else {
		if (r->replay != NULL)
			evbuffer_free(r->replay);
		r->replay = NULL;
		evbuffer_drain(data, evbuffer_get_length(data));
	}
}

void
http_creq_write_buffer(struct http_creq *r, struct evbuffer *buf)
{
	struct evbuffer	*data;
	size_t		 len = evbuffer_get_length(buf);

	if (len == 0)
		return;
	if ((data = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	if (r->chunked)
		evbuffer_add_printf(data, "%zx\r\n", len);
	evbuffer_add_buffer(data, buf);
	if (r->chunked)
		evbuffer_add(data, "\r\n", 2);
	http_creq_send(r, data);
	evbuffer_free(data);
}

void
http_creq_write(struct http_creq *r, const void *p, size_t len)
{
	struct evbuffer	*buf;

	if ((buf = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	evbuffer_add(buf, p, len);
	http_creq_write_buffer(r, buf);
	evbuffer_free(buf);
}

void
http_creq_end_body(struct http_creq *r)
{
	struct evbuffer	*data;

	r->body_ended = 1;
	if (!r->chunked)
		return;
	if ((data = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	evbuffer_add(data, "0\r\n\r\n", 5);
	http_creq_send(r, data);
	evbuffer_free(data);
}

size_t
http_creq_pending(const struct http_creq *r)
{
	if (r->conn == NULL)
		return 0;
	return evbuffer_get_length(stream_output(r->conn->stream));
}

void
http_creq_pause(struct http_creq *r, int paused)
{
	if (r->paused == paused)
		return;
	r->paused = paused;
	if (r->conn == NULL)
		return;
	if (paused) {
		stream_disable(r->conn->stream, STREAM_READ);
		if (r->head_cb != NULL && !r->connecting)
			evtimer_del(r->timer);
	} else {
		stream_enable(r->conn->stream, STREAM_READ);
		http_creq_progress(r);
		event_active(r->kick, EV_TIMEOUT, 0);
	}
}

/* Unconditionally: the client goes away. */
void
http_creq_destroy(struct http_creq *r)
{
	r->busy = 0;
	http_creq_unlink(r);
	http_creq_free(r);
}

void
http_creq_cancel(struct http_creq *r)
{
	if (r->busy > 0) {
		r->dead = 1;	/* freed when its callback returns */
		r->done_cb = NULL;
		return;
	}
	http_creq_unlink(r);
	http_creq_free(r);
}

/* Construction and accessors. */
struct http_creq *
http_creq_new(struct http_client *c, const char *method, const char *addr,
    const char *target, const char **cause)
{
	struct http_creq	*r;

	r = xcalloc(1, sizeof(*r));
	if (util_parse_addr(addr, &r->ss, &r->sslen, cause) == -1) {
		free(r);
		return NULL;
	}
	r->client = c;
	r->method = xstrdup(method);
	r->target = xstrdup(target);
	snprintf(r->addr, sizeof(r->addr), "%s", addr);
	r->headers = http_headers_new();
	r->rsp_headers = http_headers_new();
	r->body = evbuffer_new();
	r->rsp_body = evbuffer_new();
	r->timer = evtimer_new(c->base, http_creq_timeout_cb, r);
	r->kick = event_new(c->base, -1, 0, http_creq_kick_cb, r);
	if (r->body == NULL || r->rsp_body == NULL || r->timer == NULL ||
	    r->kick == NULL)
		fatalx("%s: out of memory", __func__);
	r->connect_ms = c->cfg.connect_timeout_ms;
	r->timeout_ms = c->cfg.timeout_ms;
	return r;
}

struct http_headers *
http_creq_headers(struct http_creq *r)
{
	return r->headers;
}

struct evbuffer *
http_creq_body(struct http_creq *r)
{
	return r->body;
}

void
http_creq_set_timeouts(struct http_creq *r, unsigned int connect_ms,
    unsigned int total_ms)
{
	if (connect_ms != 0)
		r->connect_ms = connect_ms;
	if (total_ms != 0)
		r->timeout_ms = total_ms;
}

void
http_creq_set_done_cb(struct http_creq *r, http_creq_done_cb cb, void *arg)
{
	r->done_cb = cb;
	r->arg = arg;
}

void
http_creq_set_stream_cbs(struct http_creq *r, http_creq_head_cb head,
    http_creq_body_cb body)
{
	r->head_cb = head;
	r->body_cb = body;
}

void
http_creq_set_upgrade_cb(struct http_creq *r, http_creq_upgrade_cb cb)
{
	r->upgrade_cb = cb;
}

void
http_creq_stream_body(struct http_creq *r, http_creq_writable_cb cb)
{
	r->stream_body = 1;
	r->writable_cb = cb;
}

int
http_creq_status(const struct http_creq *r)
{
	return r->status;
}

const struct http_headers *
http_creq_response_headers(const struct http_creq *r)
{
	return r->rsp_headers;
}

struct evbuffer *
http_creq_response_body(struct http_creq *r)
{
	return r->rsp_body;
}

int
http_creq_reused(const struct http_creq *r)
{
	return r->reused;
}
