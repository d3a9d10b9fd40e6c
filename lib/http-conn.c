#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "counters.h"
#include "http-int.h"
#include "log.h"
#include "util.h"

static void	http_conn_linger(struct http_conn *);

/*
 * Connection life: busy counts user callbacks on the stack, so that a
 * callback that ends the connection (hijack, reply, release) only marks it
 * dead; whoever holds it last frees it.
 */
void
http_conn_enter(struct http_conn *conn)
{
	conn->busy++;
}

/* Returns -1 if the connection is gone. */
int
http_conn_leave(struct http_conn *conn)
{
	if (--conn->busy == 0 && conn->dead) {
		http_conn_free(conn);
		return -1;
	}
	return conn->dead ? -1 : 0;
}

void
http_conn_arm(struct http_conn *conn, unsigned int ms)
{
	struct timeval	 tv = util_timeval(ms);

	evtimer_add(conn->timer, &tv);
}

/* The client went away: tell the owner, or free what nobody owns. */
static void
http_conn_drop_request(struct http_conn *conn)
{
	struct http_request	*req = conn->req;

	if (req == NULL)
		return;
	conn->req = NULL;
	req->conn = NULL;
	if (!req->owned) {
		http_request_free(req);
		return;
	}
	if (req->cancel_cb != NULL)
		req->cancel_cb(req, req->cancel_arg);
}

void
http_conn_free(struct http_conn *conn)
{
	struct http_server	*srv = conn->srv;

	if (conn->busy > 0) {
		conn->dead = 1;
		return;
	}
	conn->busy++;	/* a cancel callback must not free us again */
	http_conn_drop_request(conn);
	TAILQ_REMOVE(&srv->conns, conn, entry);
	srv->nconns--;
	if (srv->counters != NULL)
		COUNTER_SUB(srv->counters, connections, 1);
	if (conn->stream != NULL)
		stream_free(conn->stream);
	event_free(conn->timer);
	event_free(conn->resume);
	free(conn->url);
	free(conn->field);
	free(conn->value);
	free(conn);
	http_server_conn_gone(srv);
}

/*
 * Between requests. The wait for the next one (keep-alive, or a draining
 * server's grace) starts once the last reply is sent: a client reading a
 * large reply slowly is not idle, and while output is pending only the
 * send timeout applies. The write callback comes back here then.
 */
void
http_conn_idle(struct http_conn *conn, unsigned int ms)
{
	conn->state = HTTP_CONN_IDLE;
	conn->idle_ms = ms;
	if (evbuffer_get_length(stream_input(conn->stream)) > 0)
		event_active(conn->resume, EV_TIMEOUT, 0);
	else if (conn->eof) {
		http_conn_linger(conn);	/* no request can come */
		return;
	}
	if (evbuffer_get_length(stream_output(conn->stream)) > 0)
		evtimer_del(conn->timer);
	else
		http_conn_arm(conn, ms);
}

/*
 * Answer a request the parser glue rejected (400, 408, 413, 414, 431) and
 * close. A handler that owns the request (its body streams) is told it
 * is gone; once its reply has started, the connection can only be cut.
 */
void
http_conn_fail(struct http_conn *conn, int status)
{
	struct evbuffer	*out = stream_output(conn->stream);
	const char	*text = http_status_text(status);
	char		 date[64], *body;

	if (conn->req != NULL && conn->req->started) {
		http_conn_free(conn);
		return;
	}
	/* Answered early: a second reply would answer nothing the client
	   sent. The rest of the body is lost; so is the connection. */
	if (conn->state == HTTP_CONN_DISCARD) {
		log_debug("http: %s: %d after an early reply: closed",
		    conn->peer, status);
		http_conn_linger(conn);
		return;
	}
	http_conn_drop_request(conn);
	if (conn->srv->counters != NULL) {
		COUNTER_ADD(conn->srv->counters, requests, 1);
		COUNTER_ADD(conn->srv->counters, errors, 1);
	}
	log_debug("http: %s: %d %s", conn->peer, status, text);
	http_date(date, sizeof(date));
	body = http_error_json(conn->srv->error_id, status, text);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n"
	    "Content-Type: application/json\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Content-Security-Policy: " HTTP_CSP_DATA "\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", status, text, date, strlen(body),
	    body);
	free(body);
	http_conn_linger(conn);
}

static void
http_conn_half_close(struct http_conn *conn)
{
	conn->halfclosed = 1;
	/*
	 * What was sent of a reply cut short is all the client gets: nothing
	 * is worth waiting for it to close, which a draining worker would.
	 */
	if (conn->eof || conn->aborted) {
		http_conn_free(conn);
		return;
	}
	shutdown(stream_fd(conn->stream), SHUT_WR);
	http_conn_arm(conn, HTTP_LINGER_MS);
}

/*
 * Closing right after a reply while the client still sends would reset
 * the connection and could destroy the reply in flight: flush, half-close,
 * and drop input until the client closes or HTTP_LINGER_MS (nginx's
 * lingering close).
 */
static void
http_conn_linger(struct http_conn *conn)
{
	conn->state = HTTP_CONN_LINGER;
	evtimer_del(conn->timer);
	stream_set_read_max(conn->stream, 0);
	if (!conn->eof)
		stream_enable(conn->stream, STREAM_READ);
	evbuffer_drain(stream_input(conn->stream), SIZE_MAX);
	if (evbuffer_get_length(stream_output(conn->stream)) == 0)
		http_conn_half_close(conn);
}

static void
http_conn_read_cb(struct stream *s, void *arg)
{
	http_conn_parse(arg);
}

static void
http_conn_resume_cb(evutil_socket_t fd, short events, void *arg)
{
	http_conn_parse(arg);
}

static void
http_conn_write_cb(struct stream *s, void *arg)
{
	struct http_conn	*conn = arg;
	struct http_request	*req = conn->req;

	if (conn->state == HTTP_CONN_LINGER) {
		if (!conn->halfclosed)
			http_conn_half_close(conn);
		return;
	}
	if (conn->state == HTTP_CONN_IDLE) {
		http_conn_idle(conn, conn->idle_ms);
		return;
	}
	if (req != NULL && req->writable_cb != NULL) {
		http_conn_enter(conn);
		req->writable_cb(req, req->writable_arg);
		http_conn_leave(conn);
	}
}

static void
http_conn_event_cb(struct stream *s, short what, void *arg)
{
	struct http_conn	*conn = arg;

	if ((what & STREAM_EOF) && conn->state == HTTP_CONN_IDLE &&
	    evbuffer_get_length(stream_input(s)) > 0) {
		/* Half-closed after pipelining more than we took at once
		   (HTTP_OUTPUT_HIGH): answer the rest first. */
		conn->eof = 1;
		return;
	}
	if ((what & STREAM_EOF) && (conn->state == HTTP_CONN_LINGER ||
	    (conn->state == HTTP_CONN_IDLE && conn->req == NULL)) &&
	    evbuffer_get_length(stream_output(s)) > 0) {
		/* Half-closed client: let it have its last reply. */
		conn->eof = 1;
		http_conn_linger(conn);
		return;
	}
	http_conn_free(conn);
}

static void
http_conn_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_conn	*conn = arg;

	switch (conn->state) {
	case HTTP_CONN_HEAD:
	case HTTP_CONN_BODY:
	case HTTP_CONN_STREAM:	/* the owner is told; cut once it replies */
	case HTTP_CONN_DISCARD:	/* replied already: no 408 */
		log_debug("http: %s: request timed out", conn->peer);
		http_conn_fail(conn, 408);
		break;
	default:
		http_conn_free(conn);
		break;
	}
}

void
http_conn_new(struct http_server *srv, int fd, struct sockaddr *sa)
{
	struct http_conn	*conn;
	struct timeval		 tv;
	int			 one = 1;

	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn = xcalloc(1, sizeof(*conn));
	conn->srv = srv;
	conn->stream = stream_new(srv->base, fd);
	conn->timer = evtimer_new(srv->base, http_conn_timeout_cb, conn);
	conn->resume = event_new(srv->base, -1, 0, http_conn_resume_cb, conn);
	if (conn->timer == NULL || conn->resume == NULL)
		fatalx("event_new");
	if (sa->sa_family == AF_UNIX)
		snprintf(conn->peer, sizeof(conn->peer), "unix");
	else
		util_format_addr(sa, conn->peer, sizeof(conn->peer));
	http_parser_init(&conn->parser, HTTP_REQUEST);
	conn->parser.data = conn;
	TAILQ_INSERT_TAIL(&srv->conns, conn, entry);
	srv->nconns++;
	if (srv->counters != NULL) {
		COUNTER_ADD(srv->counters, connections, 1);
		stream_set_counters(conn->stream, srv->counters);
	}
	stream_setcb(conn->stream, http_conn_read_cb, http_conn_write_cb,
	    http_conn_event_cb, conn);
	/* A handler holding a request must not make us buffer a flood. */
	stream_set_read_max(conn->stream,
	    srv->limits.max_header_size + 16384);
	tv = util_timeval(srv->limits.send_timeout_ms);
	stream_set_write_timeout(conn->stream, &tv);
	stream_enable(conn->stream, STREAM_READ | STREAM_WRITE);
	http_conn_idle(conn, srv->limits.read_timeout_ms);
}


/* Reply side hooks (http-response.c). */
struct evbuffer *
http_request_output(const struct http_request *req)
{
	if (req->conn == NULL)
		return NULL;
	return stream_output(req->conn->stream);
}

/*
 * The connection ends with this reply: the server drains, or the client
 * still waits for its 100 Continue, and a body it may yet send would be
 * taken for the next request.
 */
int
http_request_last(const struct http_request *req)
{
	return req->conn != NULL && (req->conn->srv->draining ||
	    req->conn->expect);
}

void
http_request_count(struct http_request *req, int status)
{
	struct micro_counters	*c;

	if (req->conn == NULL || (c = req->conn->srv->counters) == NULL)
		return;
	COUNTER_ADD(c, requests, 1);
	if (status >= 500)
		COUNTER_ADD(c, errors, 1);
}

/* The owner is done with req (replied if replied, else released). */
void
http_request_finish(struct http_request *req, int replied)
{
	struct http_conn	*conn = req->conn;
	int			 keepalive = req->keepalive;

	http_request_free(req);
	if (conn == NULL)
		return;
	conn->req = NULL;
	if (!replied) {
		http_conn_free(conn);
		return;
	}
	conn->served++;
	/* A client still waiting for its 100 Continue sends no body. */
	if (!keepalive || conn->srv->draining || conn->expect) {
		http_conn_linger(conn);
		return;
	}
	switch (conn->state) {
	case HTTP_CONN_HEAD:
	case HTTP_CONN_BODY:
	case HTTP_CONN_STREAM:
		/* Replied before the body ended: read it to keep the
		   connection in step, then go on. */
		conn->state = HTTP_CONN_DISCARD;
		http_conn_arm(conn, conn->srv->limits.read_timeout_ms);
		conn->paused = 0;
		stream_enable(conn->stream, STREAM_READ);
		event_active(conn->resume, EV_TIMEOUT, 0);
		break;
	default:
		http_conn_idle(conn, conn->srv->limits.idle_timeout_ms);
		break;
	}
}


void
http_request_pause_body(struct http_request *req, int paused)
{
	struct http_conn	*conn = req->conn;

	if (conn == NULL || conn->state != HTTP_CONN_STREAM ||
	    conn->paused == paused)
		return;
	conn->paused = paused;
	if (paused) {
		stream_disable(conn->stream, STREAM_READ);
		evtimer_del(conn->timer);
	} else {
		stream_enable(conn->stream, STREAM_READ);
		http_conn_arm(conn, conn->srv->limits.read_timeout_ms);
		event_active(conn->resume, EV_TIMEOUT, 0);
	}
}

struct stream *
http_request_hijack(struct http_request *req)
{
	struct http_conn	*conn = req->conn;
	struct stream		*s;

	if (conn == NULL || req->started || conn->state != HTTP_CONN_WAIT) {
		http_request_finish(req, 0);
		return NULL;
	}
	s = conn->stream;
	stream_handover(s);
	http_request_count(req, 101);
	conn->stream = NULL;
	conn->req = NULL;
	http_request_free(req);
	http_conn_free(conn);
	return s;
}
