/*
 * Reverse proxy (rpc/proxy.h). One struct proxy_req per request ties the
 * server request to the client request (and, after an upgrade, the two
 * hijacked connections). High-water marks pause whichever side produces
 * faster than the other consumes.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "http.h"
#include "log.h"
#include "rpc/client.h"
#include "rpc/cors.h"
#include "rpc/gateway.h"
#include "rpc/proxy.h"
#include "rpc/route.h"
#include "shm/svcstats.h"
#include "stream.h"
#include "util.h"

#define PROXY_HIGH_WATER	(256 * 1024)

struct proxy_req;
struct proxy_splice;
TAILQ_HEAD(proxy_reqs, proxy_req);
TAILQ_HEAD(proxy_splices, proxy_splice);

struct proxy {
	struct rpc_client	*rpc;
	char			*ns;
	char			*id;
	int			 flags;
	uint64_t		 idle_timeout_ms;	/* a silent splice closes */
	unsigned		 max_splices;		/* 0: unbounded */
	unsigned		 nsplices;		/* live */
	unsigned		 upgrading;		/* waiting for the 101 */
	struct proxy_reqs	 reqs;			/* in flight */
	struct proxy_splices	 splices;
	int			 draining;
	void			(*drained)(void);
	struct event		*drain_ev;	/* cuts what is left */
};

struct proxy_req {
	TAILQ_ENTRY(proxy_req)	 entry;
	struct proxy		*p;
	struct http_request	*req;
	struct http_creq	*creq;
	char			 service[ROUTE_NAME_MAX];
	char			*target;	/* sent to the node */
	char			*base;		/* stripped prefix, or NULL */
	struct rpc_nodes	 nodes;
	uint8_t			*tried;
	ssize_t			 cur;
	unsigned		 attempts;	/* nodes sent to */
	const char		*last;		/* last node's failure */
	struct evbuffer		*body;		/* buffered mode: a copy */
	int			 streaming;	/* the body streams */
	int			 has_body;
	int			 body_done;	/* all of it went to the node */
	int			 node_up;	/* it took our head: body flows */
	struct evbuffer		*held;		/* body come before node_up */
	int			 held_done;	/* and it was all of it */
	int			 reply_status;	/* of the head sent, 0 before */
	int			 counted;	/* it reached the service */
	int			 upgrade_held;	/* counts in p->upgrading */
	uint64_t		 started_us;
};

static int	proxy_send(struct proxy_req *);
static void	proxy_splice_free(struct proxy_splice *);

struct proxy *
proxy_new(struct rpc_client *rpc, const char *ns, const char *id, int flags,
    uint64_t idle_timeout_ms, unsigned max_splices)
{
	struct proxy	*p = xcalloc(1, sizeof(*p));

	p->rpc = rpc;
	p->flags = flags;
	p->idle_timeout_ms = idle_timeout_ms;
	p->max_splices = max_splices;
	p->ns = xstrdup(ns);
	p->id = xstrdup(id);
	TAILQ_INIT(&p->reqs);
	TAILQ_INIT(&p->splices);
	return p;
}

void
proxy_free(struct proxy *p)
{
	if (p == NULL)
		return;
	p->drained = NULL;
	while (!TAILQ_EMPTY(&p->splices))
		proxy_splice_free(TAILQ_FIRST(&p->splices));
	if (p->drain_ev != NULL)
		event_free(p->drain_ev);
	free(p->ns);
	free(p->id);
	free(p);
}

/*
 * Hop-by-hop: the fixed list, and what Connection names, except Host and
 * X-Forwarded-For, which microd forwards itself: a client listing them in
 * Connection must not hide its address from the node.
 */
static int
proxy_hop_header(const struct http_headers *h, const char *name)
{
	if (http_header_hop(name))
		return 1;
	if (strcasecmp(name, "Host") == 0 ||
	    strcasecmp(name, "X-Forwarded-For") == 0)
		return 0;
	return http_headers_has_token(h, "Connection", name);
}

static void
proxy_copy_headers(const struct http_headers *from, struct http_headers *to)
{
	const char	*name, *value;
	size_t		 i;

	for (i = 0; http_headers_at(from, i, &name, &value); i++)
		if (!proxy_hop_header(from, name) && !cors_overrides(to, name))
			http_headers_add(to, name, value);
}

static int
proxy_is_upgrade(struct http_request *req)
{
	const char	*up = http_request_header(req, "Upgrade");

	return up != NULL && strcasecmp(up, "websocket") == 0 &&
	    http_headers_has_token(http_request_headers(req), "Connection",
	    "upgrade");
}

static void
proxy_req_free(struct proxy_req *pr)
{
	if (pr->upgrade_held)
		pr->p->upgrading--;
	TAILQ_REMOVE(&pr->p->reqs, pr, entry);
	rpc_nodes_free(&pr->nodes);
	if (pr->body != NULL)
		evbuffer_free(pr->body);
	if (pr->held != NULL)
		evbuffer_free(pr->held);
	free(pr->tried);
	free(pr->target);
	free(pr->base);
	free(pr);
}

/*
 * Over: counted in the service statistics if it got past the lookup (an
 * unknown name is no service), then freed. A request the client gave up
 * on is freed without being counted.
 */
static void
proxy_req_done(struct proxy_req *pr, int failed)
{
	if (pr->counted)
		svcstats_record(pr->service, svcstats_clock_us() -
		    pr->started_us, failed);
	proxy_req_free(pr);
}

static void
proxy_node_end(struct proxy_req *pr, enum select_outcome outcome)
{
	selector_end(rpc_client_selector(pr->p->rpc), pr->service,
	    &pr->nodes.v[pr->cur], outcome, util_now_ms());
}

static void
proxy_fail(struct proxy_req *pr, int code, const char *detail)
{
	http_reply_error(pr->req, code, pr->p->id, detail);
	proxy_req_done(pr, code >= 500);
}

static void
proxy_cancel_cb(struct http_request *req, void *arg)
{
	struct proxy_req	*pr = arg;

	if (pr->creq != NULL) {
		http_creq_cancel(pr->creq);
		proxy_node_end(pr, SELECT_ABANDONED);
	}
	http_request_release(req);
	proxy_req_free(pr);
}

/* Response side: node -> client. */
static void
proxy_reply_writable_cb(struct http_request *req, void *arg)
{
	struct proxy_req	*pr = arg;

	if (pr->creq != NULL)
		http_creq_pause(pr->creq, 0);
}

static void
proxy_head_cb(struct http_creq *creq, void *arg)
{
	struct proxy_req	*pr = arg;

	proxy_copy_headers(http_creq_response_headers(creq),
	    http_reply_headers(pr->req));
	http_reply_set_writable_cb(pr->req, proxy_reply_writable_cb, pr);
	pr->reply_status = http_creq_status(creq);
	http_reply_start(pr->req, pr->reply_status);
}

static void
proxy_body_cb(struct http_creq *creq, struct evbuffer *buf, void *arg)
{
	struct proxy_req	*pr = arg;

	http_reply_chunk_buffer(pr->req, buf);
	if (http_reply_pending(pr->req) > PROXY_HIGH_WATER)
		http_creq_pause(creq, 1);
}

/*
 * A node that never answered may be swapped for another, if the body can
 * be sent again: always when the request never reached it, and after a
 * connection lost on the way only if sending it twice is harmless (a
 * POST the node may have run is not run again elsewhere, as nginx does).
 * A streamed body is held back until the node is up: one that never was
 * has taken none of it.
 */
static int
proxy_retryable(const struct proxy_req *pr, enum http_client_error err)
{
	if (pr->reply_status != 0 ||
	    (pr->has_body && pr->streaming && pr->node_up))
		return 0;
	switch (err) {
	case HTTP_CLIENT_CONNECT_REFUSED:
	case HTTP_CLIENT_CONNECT_FAILED:
	case HTTP_CLIENT_CONNECT_TIMEOUT:
		return 1;
	case HTTP_CLIENT_RESET:
		return http_method_idempotent(http_request_method(pr->req));
	default:
		return 0;
	}
}

/* No node left to try, or every node it may try failed. */
static void
proxy_exhausted(struct proxy_req *pr)
{
	char	 detail[128];

	if (pr->attempts == 0) {
		proxy_fail(pr, 503, "no node available");
		return;
	}
	snprintf(detail, sizeof(detail), "no node answering: %s", pr->last);
	proxy_fail(pr, 503, detail);
}

/*
 * The node was silent for request_timeout before answering. If the
 * client's body was still coming and the node had taken all of it so
 * far, the node was waiting for it: the client stalled (408). Body bytes
 * the node left unread mean the node was slow (504), and the client
 * was only held back meanwhile.
 */
static int
proxy_client_stalled(const struct proxy_req *pr, struct http_creq *creq)
{
	return pr->streaming && pr->has_body && !pr->body_done &&
	    http_creq_pending(creq) == 0;
}

static void
proxy_timed_out(struct proxy_req *pr, struct http_creq *creq)
{
	if (proxy_client_stalled(pr, creq))
		proxy_fail(pr, 408, "request body not received in time");
	else
		proxy_fail(pr, 504, "request timeout");
}

/*
 * The node's part in how the exchange ended: a client that stalled its
 * own body (the 408 above) must not get a healthy node ejected.
 */
static enum select_outcome
proxy_outcome(const struct proxy_req *pr, struct http_creq *creq,
    enum http_client_error err)
{
	if (err == HTTP_CLIENT_OK)
		return SELECT_OK;
	if (err == HTTP_CLIENT_TIMEOUT && pr->reply_status == 0 &&
	    proxy_client_stalled(pr, creq))
		return SELECT_ABANDONED;
	return SELECT_FAILED;
}

static void
proxy_done_cb(struct http_creq *creq, enum http_client_error err, void *arg)
{
	struct proxy_req	*pr = arg;

	pr->creq = NULL;
	proxy_node_end(pr, proxy_outcome(pr, creq, err));
	if (pr->reply_status != 0) {
		/* A cut answer must reach the client cut, not complete. */
		if (err != HTTP_CLIENT_OK) {
			log_warnx("proxy %s: node %s: %s mid-response",
			    pr->service, pr->nodes.v[pr->cur].address,
			    http_client_strerror(err));
			http_reply_abort(pr->req);
		} else
			http_reply_end(pr->req);
		proxy_req_done(pr, err != HTTP_CLIENT_OK ||
		    pr->reply_status >= 500);
	} else if (proxy_retryable(pr, err)) {
		pr->last = http_client_strerror(err);
		if (proxy_send(pr) == -1)
			proxy_exhausted(pr);
	} else if (err == HTTP_CLIENT_TIMEOUT)
		proxy_timed_out(pr, creq);
	else
		proxy_fail(pr, 502, http_client_strerror(err));
}

/* Request side: client -> node, when the body streams. */
static void
proxy_forward_body(struct proxy_req *pr, struct evbuffer *buf, int done)
{
	http_creq_write_buffer(pr->creq, buf);
	if (done) {
		http_creq_end_body(pr->creq);
		pr->body_done = 1;
	} else if (http_creq_pending(pr->creq) > PROXY_HIGH_WATER)
		http_request_pause_body(pr->req, 1);
}

/* The first call: the node is up (connected, our head written). */
static void
proxy_creq_writable_cb(struct http_creq *creq, void *arg)
{
	struct proxy_req	*pr = arg;

	if (!pr->node_up) {
		pr->node_up = 1;
		if (pr->held != NULL)
			proxy_forward_body(pr, pr->held, pr->held_done);
	}
	if (!pr->body_done && http_creq_pending(creq) < PROXY_HIGH_WATER)
		http_request_pause_body(pr->req, 0);
}

static void
proxy_req_body_cb(struct http_request *req, struct evbuffer *buf, int done,
    void *arg)
{
	struct proxy_req	*pr = arg;

	if (pr->creq == NULL || !pr->has_body || pr->body_done) {
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	if (pr->node_up) {
		proxy_forward_body(pr, buf, done);
		return;
	}
	/* Kept for the next node, should this one refuse. */
	if (pr->held == NULL && (pr->held = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	evbuffer_add_buffer(pr->held, buf);
	pr->held_done = done;
	if (evbuffer_get_length(pr->held) > PROXY_HIGH_WATER)
		http_request_pause_body(req, 1);
}

/*
 * Websocket: after the 101, bytes flow both ways until either closes, or
 * none has moved either way for idle_ms. The idle timer is not pushed
 * back on every read: reads only note the time, and the timer, when it
 * fires, sleeps again for what is left. A side that takes nothing of
 * what is queued for it is bounded by its write timeout instead.
 */
struct proxy_splice {
	TAILQ_ENTRY(proxy_splice) entry;
	struct proxy	*p;
	struct stream	*side[2];
	struct event	*idle_ev;
	uint64_t	 idle_ms;
	uint64_t	 active_ms;	/* when a byte last moved */
	char		*service;
	int		 closing;
};

/*
 * Draining, the last splice to end lets the worker go. The deadline stays
 * armed: an upgrade still waiting for its 101 may splice again.
 */
static void
proxy_splice_free(struct proxy_splice *sp)
{
	struct proxy	*p = sp->p;

	TAILQ_REMOVE(&p->splices, sp, entry);
	p->nsplices--;
	stream_free(sp->side[0]);
	stream_free(sp->side[1]);
	event_free(sp->idle_ev);
	free(sp->service);
	free(sp);
	if (p->draining && p->nsplices == 0 && p->drained != NULL)
		p->drained();
}

static void
proxy_splice_idle(struct proxy_splice *sp)
{
	log_debug("proxy %s: websocket idle for %llu ms, closed", sp->service,
	    (unsigned long long)sp->idle_ms);
	proxy_splice_free(sp);
}

static struct stream *
proxy_splice_other(struct proxy_splice *sp, struct stream *s)
{
	return sp->side[0] == s ? sp->side[1] : sp->side[0];
}

static void
proxy_splice_arm(struct proxy_splice *sp, uint64_t ms)
{
	struct timeval	 tv = util_timeval(ms);

	evtimer_add(sp->idle_ev, &tv);
}

static int
proxy_splice_writing(struct proxy_splice *sp)
{
	return evbuffer_get_length(stream_output(sp->side[0])) > 0 ||
	    evbuffer_get_length(stream_output(sp->side[1])) > 0;
}

static void
proxy_splice_idle_cb(evutil_socket_t fd, short events, void *arg)
{
	struct proxy_splice	*sp = arg;
	uint64_t		 now = util_now_ms(), quiet;

	/* Bytes still going out: the write timeout watches those. */
	if (proxy_splice_writing(sp))
		sp->active_ms = now;
	quiet = now - sp->active_ms;
	if (quiet >= sp->idle_ms) {
		proxy_splice_idle(sp);
		return;
	}
	proxy_splice_arm(sp, sp->idle_ms - quiet);
}

static void
proxy_splice_read_cb(struct stream *s, void *arg)
{
	struct proxy_splice	*sp = arg;
	struct evbuffer		*out = stream_output(proxy_splice_other(sp, s));

	sp->active_ms = util_now_ms();
	evbuffer_add_buffer(out, stream_input(s));
	if (evbuffer_get_length(out) > PROXY_HIGH_WATER)
		stream_disable(s, STREAM_READ);
}

/* The output of s drained: its peer may read again, or we are done. */
static void
proxy_splice_write_cb(struct stream *s, void *arg)
{
	struct proxy_splice	*sp = arg;

	if (sp->closing) {
		proxy_splice_free(sp);
		return;
	}
	sp->active_ms = util_now_ms();
	stream_enable(proxy_splice_other(sp, s), STREAM_READ);
}

static void
proxy_splice_event_cb(struct stream *s, short what, void *arg)
{
	struct proxy_splice	*sp = arg;
	struct stream		*other = proxy_splice_other(sp, s);

	if (what & STREAM_TIMEOUT) {
		proxy_splice_idle(sp);
		return;
	}
	if (!(what & (STREAM_EOF | STREAM_ERROR)))
		return;
	/* Deliver what the closing side sent before closing. */
	evbuffer_add_buffer(stream_output(other), stream_input(s));
	if ((what & STREAM_ERROR) ||
	    evbuffer_get_length(stream_output(other)) == 0) {
		proxy_splice_free(sp);
		return;
	}
	sp->closing = 1;
	stream_disable(s, STREAM_READ | STREAM_WRITE);
	stream_setcb(s, NULL, NULL, NULL, NULL);
}

static void
proxy_splice(struct proxy_req *pr, struct stream *client, struct stream *node)
{
	struct proxy_splice	*sp;
	struct timeval		 write_timeout;
	size_t			 i;

	sp = xcalloc(1, sizeof(*sp));
	sp->p = pr->p;
	TAILQ_INSERT_TAIL(&sp->p->splices, sp, entry);
	sp->p->nsplices++;
	sp->side[0] = client;
	sp->side[1] = node;
	sp->service = xstrdup(pr->service);
	sp->idle_ms = pr->p->idle_timeout_ms;
	sp->active_ms = util_now_ms();
	if ((sp->idle_ev = evtimer_new(stream_base(client),
	    proxy_splice_idle_cb, sp)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	proxy_splice_arm(sp, sp->idle_ms);
	write_timeout = util_timeval(sp->idle_ms);
	for (i = 0; i < 2; i++) {
		stream_setcb(sp->side[i], proxy_splice_read_cb,
		    proxy_splice_write_cb, proxy_splice_event_cb, sp);
		stream_set_write_timeout(sp->side[i], &write_timeout);
		stream_enable(sp->side[i], STREAM_READ | STREAM_WRITE);
	}
	/* Bytes that came with the heads. */
	for (i = 0; i < 2; i++)
		if (evbuffer_get_length(stream_input(sp->side[i])) > 0)
			proxy_splice_read_cb(sp->side[i], sp);
}

static void
proxy_upgrade_cb(struct http_creq *creq, struct stream *node, void *arg)
{
	struct proxy_req	*pr = arg;
	struct stream		*client;
	const char		*name, *value;
	struct evbuffer		*out;
	size_t			 i;

	pr->creq = NULL;
	proxy_node_end(pr, SELECT_OK);
	/* Its place passes to the splice. */
	pr->upgrade_held = 0;
	pr->p->upgrading--;
	if ((client = http_request_hijack(pr->req)) == NULL) {
		stream_free(node);
		proxy_req_free(pr);
		return;
	}
	out = stream_output(client);
	evbuffer_add_printf(out, "HTTP/1.1 101 Switching Protocols\r\n");
	for (i = 0; http_headers_at(http_creq_response_headers(creq), i, &name,
	    &value); i++)
		http_header_line(out, name, value);
	evbuffer_add(out, "\r\n", 2);
	proxy_splice(pr, client, node);
	proxy_req_done(pr, 0);
}

/*
 * Start the request on a node not tried yet; -1 if none is left or the
 * request has been sent to as many nodes as a call may try.
 */
static int
proxy_send(struct proxy_req *pr)
{
	struct http_request	*req = pr->req;
	struct http_headers	*fwd, *h;
	ssize_t			 i;

	for (;;) {
		if (pr->attempts >= rpc_client_attempts(pr->p->rpc))
			return -1;
		i = selector_pick(rpc_client_selector(pr->p->rpc), pr->service,
		    pr->nodes.v, pr->nodes.n, NULL, pr->tried, util_now_ms());
		if (i == -1)
			return -1;
		pr->tried[i] = 1;
		pr->attempts++;
		pr->creq = rpc_client_creq(pr->p->rpc, pr->service, 1,
		    &pr->nodes.v[i], http_request_method(req), pr->target,
		    &pr->last);
		if (pr->creq != NULL)
			break;
	}
	pr->cur = i;
	pr->node_up = 0;
	h = http_creq_headers(pr->creq);
	fwd = gateway_forwarded_headers(req);
	proxy_copy_headers(fwd, h);
	http_headers_free(fwd);
	if (pr->base != NULL)
		http_headers_set(h, "X-Micro-Web-Base-Path", pr->base);
	if (proxy_is_upgrade(req)) {
		http_headers_set(h, "Connection", "Upgrade");
		http_headers_set(h, "Upgrade", http_request_header(req,
		    "Upgrade"));
		http_creq_set_upgrade_cb(pr->creq, proxy_upgrade_cb);
	}
	http_creq_set_done_cb(pr->creq, proxy_done_cb, pr);
	http_creq_set_stream_cbs(pr->creq, proxy_head_cb, proxy_body_cb);
	if (pr->streaming && pr->has_body)
		http_creq_stream_body(pr->creq, proxy_creq_writable_cb);
	else if (pr->body != NULL)
		evbuffer_add(http_creq_body(pr->creq),
		    evbuffer_pullup(pr->body, -1),
		    evbuffer_get_length(pr->body));
	selector_start(rpc_client_selector(pr->p->rpc), pr->service,
	    &pr->nodes.v[i], util_now_ms());
	http_creq_start(pr->creq);
	return 0;
}

static int
proxy_has_body(struct http_request *req)
{
	const char	*cl = http_request_header(req, "Content-Length");

	return http_request_header(req, "Transfer-Encoding") != NULL ||
	    (cl != NULL && strcmp(cl, "0") != 0);
}

/*
 * The target sent to the node, in origin-form (path?query): an
 * absolute-form target would name a host of the client's choosing.
 */
static void
proxy_set_target(struct proxy_req *pr, const char *path)
{
	const char	*query = http_request_query(pr->req);

	xasprintf(&pr->target, "%s%s%s", path, query != NULL ? "?" : "",
	    query != NULL ? query : "");
}

/* /NAME/rest?q: the service NAMESPACE.NAME, target /rest?q, base /NAME. */
static int
proxy_strip_base(struct proxy_req *pr, const char **cause)
{
	const char	*path = http_request_path(pr->req) + 1;
	const char	*rest = strchr(path, '/');
	int		 len = rest != NULL ? (int)(rest - path) : (int)strlen(path);

	if (!route_valid_proxy_name(path, len)) {
		*cause = "invalid service name in path";
		return -1;
	}
	if ((size_t)snprintf(pr->service, sizeof(pr->service), "%s.%.*s",
	    pr->p->ns, len, path) >= sizeof(pr->service)) {
		*cause = "service name too long";
		return -1;
	}
	xasprintf(&pr->base, "/%.*s", len, path);
	proxy_set_target(pr, rest != NULL ? rest : "/");
	return 0;
}

static int
proxy_route(struct proxy_req *pr, const char **cause)
{
	if (route_has_dot_segment(http_request_path(pr->req))) {
		*cause = "dot segment in path";
		return -1;
	}
	if (pr->p->flags & PROXY_STRIP_BASE)
		return proxy_strip_base(pr, cause);
	proxy_set_target(pr, http_request_path(pr->req));
	return route_proxy_service(pr->p->ns, http_request_path(pr->req),
	    pr->service, sizeof(pr->service), cause);
}

/*
 * An upgrade takes one of the max_splices places before any node is
 * asked, and keeps it while it waits for the 101; a draining worker takes
 * no new websocket. One with a body is refused (400): the connection
 * cannot be handed over with the body half read. 1 if req was refused.
 */
static int
proxy_upgrade_refused(struct proxy_req *pr)
{
	struct proxy	*p = pr->p;

	if (!proxy_is_upgrade(pr->req))
		return 0;
	if (proxy_has_body(pr->req)) {
		proxy_fail(pr, 400, "an upgrade request has no body");
		return 1;
	}
	if (p->draining) {
		proxy_fail(pr, 503, "server going away");
		return 1;
	}
	if (p->max_splices != 0 && p->nsplices + p->upgrading >=
	    p->max_splices) {
		log_warnx("proxy: refusing a websocket: %u open, the "
		    "listener's max_connections", p->nsplices + p->upgrading);
		proxy_fail(pr, 503, "too many websocket connections");
		return 1;
	}
	pr->upgrade_held = 1;
	p->upgrading++;
	return 0;
}

int
proxy_wants_stream(struct http_request *req)
{
	const char	*cl = http_request_header(req, "Content-Length");

	if (proxy_is_upgrade(req) ||
	    http_request_header(req, "Transfer-Encoding") != NULL)
		return 1;
	return cl != NULL && strtoull(cl, NULL, 10) > PROXY_BUFFER_MAX;
}

void
proxy_request(struct proxy *p, struct http_request *req, int streaming)
{
	struct proxy_req	*pr = xcalloc(1, sizeof(*pr));
	struct evbuffer		*body;
	const char		*cause;

	pr->p = p;
	TAILQ_INSERT_TAIL(&p->reqs, pr, entry);
	pr->req = req;
	pr->cur = -1;
	pr->streaming = streaming;
	pr->started_us = svcstats_clock_us();
	if (proxy_upgrade_refused(pr))
		return;
	if (proxy_route(pr, &cause) == -1) {
		proxy_fail(pr, 400, cause);
		return;
	}
	if (rpc_client_lookup(p->rpc, pr->service, &pr->nodes) == -1) {
		proxy_fail(pr, 404, "service not found");
		return;
	}
	pr->counted = 1;
	pr->tried = xcalloc(pr->nodes.n, 1);
	pr->has_body = proxy_has_body(req);
	body = streaming ? NULL : http_request_body(req);
	if (body != NULL && evbuffer_get_length(body) > 0) {
		if ((pr->body = evbuffer_new()) == NULL)
			fatalx("%s: evbuffer_new", __func__);
		evbuffer_add_buffer(pr->body, body);
	}
	if (proxy_send(pr) == -1) {
		proxy_exhausted(pr);
		return;
	}
	http_request_set_cancel_cb(req, proxy_cancel_cb, pr);
	/* Even without a body: it keeps the main handler out of it. */
	if (streaming)
		http_request_stream_body(req, proxy_req_body_cb, pr);
}

unsigned
proxy_splices(const struct proxy *p)
{
	return p->nsplices;
}

/*
 * The drain's deadline: a request still in flight (a download, an event
 * stream, an upgrade waiting for its 101) ends as if its node had
 * stopped, cut short if its answer had begun.
 */
static void
proxy_req_cut(struct proxy_req *pr)
{
	if (pr->creq != NULL) {
		http_creq_cancel(pr->creq);
		pr->creq = NULL;
		proxy_node_end(pr, SELECT_ABANDONED);
	}
	if (pr->reply_status == 0) {
		proxy_fail(pr, 503, "server going away");
		return;
	}
	http_reply_abort(pr->req);
	proxy_req_done(pr, 1);
}

static void
proxy_drain_deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	struct proxy	*p = arg;
	unsigned	 n;

	for (n = 0; !TAILQ_EMPTY(&p->reqs); n++)
		proxy_req_cut(TAILQ_FIRST(&p->reqs));
	if (n > 0)
		log_warnx("proxy: shutdown_timeout: cutting %u request%s "
		    "still in flight", n, n == 1 ? "" : "s");
	if (p->nsplices == 0)
		return;
	log_warnx("proxy: shutdown_timeout: closing %u websocket%s still open",
	    p->nsplices, p->nsplices == 1 ? "" : "s");
	while (!TAILQ_EMPTY(&p->splices))
		proxy_splice_free(TAILQ_FIRST(&p->splices));
}

void
proxy_drain(struct proxy *p, struct event_base *base,
    uint64_t shutdown_timeout_ms, void (*done)(void))
{
	struct timeval	 tv = gateway_drain_cut(shutdown_timeout_ms);

	p->draining = 1;
	p->drained = done;
	if (p->drain_ev == NULL && (p->drain_ev = evtimer_new(base,
	    proxy_drain_deadline_cb, p)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	evtimer_add(p->drain_ev, &tv);
}
