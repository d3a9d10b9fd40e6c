#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "http-int.h"
#include "log.h"
#include "util.h"

static void
http_server_drained(evutil_socket_t fd, short events, void *arg)
{
	struct http_server	*srv = arg;

	srv->drain_cb(srv->drain_arg);
}

/* A connection closed (or was hijacked): room again, or drained. */
void
http_server_conn_gone(struct http_server *srv)
{
	if (srv->full && !srv->draining &&
	    srv->nconns < srv->limits.max_connections) {
		srv->full = 0;
		if (!srv->pause.paused)
			evconnlistener_enable(srv->listener);
	}
	if (srv->draining && srv->nconns == 0 && srv->drain_cb != NULL)
		event_active(srv->drain_ev, EV_TIMEOUT, 0);
}

/*
 * Stop accepting rather than answer 503: workers share the listening
 * socket, so a sibling with room takes the connection (nginx). Said once
 * in a while: a worker at its limit under load is full again and again.
 */
static void
http_server_full(struct http_server *srv)
{
	uint64_t	 now = util_now_ms();

	srv->full = 1;
	evconnlistener_disable(srv->listener);
	if (srv->full_warned != 0 && now - srv->full_warned < HTTP_FULL_WARN_MS)
		return;
	srv->full_warned = now;
	log_warnx("http: max_connections (%u) reached; not accepting "
	    "until one closes", srv->limits.max_connections);
}

static void
http_server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct http_server	*srv = arg;

	http_conn_new(srv, fd, sa);
	if (srv->nconns >= srv->limits.max_connections)
		http_server_full(srv);
}

/* The pause for want of descriptors is over: listen, unless full. */
static int
http_server_may_accept(void *arg)
{
	struct http_server	*srv = arg;

	return !srv->full && !srv->draining;
}

static void
http_server_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct http_server	*srv = arg;

	accept_pause_error(&srv->pause);
}

static void
http_limits_fill(struct http_limits *l, const struct http_limits *from)
{
	if (from != NULL)
		*l = *from;
	else
		memset(l, 0, sizeof(*l));
	if (l->max_header_size == 0)
		l->max_header_size = HTTP_DEFAULT_MAX_HEADER;
	if (l->max_body_size == 0)
		l->max_body_size = HTTP_DEFAULT_MAX_BODY;
	if (l->read_timeout_ms == 0)
		l->read_timeout_ms = HTTP_DEFAULT_READ_TIMEOUT;
	if (l->idle_timeout_ms == 0)
		l->idle_timeout_ms = HTTP_DEFAULT_IDLE_TIMEOUT;
	if (l->send_timeout_ms == 0)
		l->send_timeout_ms = HTTP_DEFAULT_SEND_TIMEOUT;
	if (l->max_connections == 0)
		l->max_connections = HTTP_DEFAULT_MAX_CONNECTIONS;
}

struct http_server *
http_server_new(struct event_base *base, int fd,
    const struct http_limits *limits, http_handler_cb handler, void *arg,
    const char **cause)
{
	struct http_server	*srv;

	if (util_set_nonblock(fd) == -1) {
		*cause = "cannot make the listening socket non-blocking";
		return NULL;
	}
	srv = xcalloc(1, sizeof(*srv));
	srv->base = base;
	http_limits_fill(&srv->limits, limits);
	srv->handler = handler;
	srv->arg = arg;
	TAILQ_INIT(&srv->conns);
	if ((srv->drain_ev = event_new(base, -1, 0, http_server_drained,
	    srv)) == NULL)
		fatalx("event_new");
	/* backlog 0: the master already called listen(2). */
	srv->listener = evconnlistener_new(base, http_server_accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (srv->listener == NULL) {
		event_free(srv->drain_ev);
		free(srv);
		*cause = strerror(errno);
		return NULL;
	}
	accept_pause_init(&srv->pause, base, srv->listener, "http",
	    http_server_may_accept, srv);
	evconnlistener_set_error_cb(srv->listener,
	    http_server_accept_error_cb);
	return srv;
}

void
http_server_set_head_handler(struct http_server *srv, http_handler_cb cb)
{
	srv->head_handler = cb;
}

void
http_server_set_counters(struct http_server *srv, struct micro_counters *c)
{
	srv->counters = c;
}

void
http_server_set_error_id(struct http_server *srv, const char *id)
{
	srv->error_id = id;
}

size_t
http_server_connections(const struct http_server *srv)
{
	return srv->nconns;
}

void
http_server_drain(struct http_server *srv, http_drain_cb cb, void *arg)
{
	struct http_conn	*conn, *next;

	srv->draining = 1;
	srv->drain_cb = cb;
	srv->drain_arg = arg;
	evconnlistener_disable(srv->listener);
	for (conn = TAILQ_FIRST(&srv->conns); conn != NULL; conn = next) {
		next = TAILQ_NEXT(conn, entry);
		if (conn->state != HTTP_CONN_IDLE || conn->req != NULL)
			continue;
		/*
		 * Idle, between keep-alive requests or not heard from yet:
		 * its client may be sending a request now, and closing would
		 * lose it (a keep-alive client cannot tell that close from a
		 * request answered by nothing). Answer one more request, with
		 * Connection: close, if it comes within the grace.
		 */
		http_conn_idle(conn, HTTP_DRAIN_GRACE_MS);
	}
	http_server_conn_gone(srv);
}

void
http_server_free(struct http_server *srv)
{
	struct http_conn	*conn;

	if (srv == NULL)
		return;
	while ((conn = TAILQ_FIRST(&srv->conns)) != NULL) {
		conn->busy = 0;
		http_conn_free(conn);
	}
	evconnlistener_free(srv->listener);
	event_free(srv->drain_ev);
	accept_pause_clear(&srv->pause);
	free(srv);
}

