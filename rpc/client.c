/*
 * The RPC client: lookup, selection, the HTTP exchange with a node, the
 * retry on another node and the error mapping (rpc/client.h).
 */
#include "config.h"

#include <sys/queue.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "http.h"
#include "log.h"
#include "rpc/client.h"
#include "shm/nodehealth.h"
#include "shm/registry.h"
#include "shm/svcstats.h"
#include "util.h"

/* Idle keep-alive connections kept per node: a busy gateway's concurrency. */
#define RPC_POOL_IDLE	64

struct rpc_client {
	struct event_base	*base;
	struct shm		*shm;
	unsigned		 slot;
	struct rpc_client_config cfg;
	struct http_client	*http;
	struct selector		*sel;
	uint64_t		 seq;
	uint64_t		 idbase;
	TAILQ_HEAD(, rpc_call)	 calls;
};

struct rpc_call {
	TAILQ_ENTRY(rpc_call)	 entry;
	struct rpc_client	*client;
	char			*service;
	char			*endpoint;
	char			*version;
	struct http_headers	*metadata;
	struct evbuffer		*body;
	enum rpc_ctype		 ctype;
	enum rpc_ctype		 accept;
	int			 caller_timeout;
	uint64_t		 deadline;
	uint64_t		 id;
	uint64_t		 started_us;
	int			 registered;	/* counted in the statistics */
	int			 tracked;	/* its nodes in the selector */

	struct rpc_nodes	 nodes;
	uint8_t			*tried;
	size_t			 attempts;
	ssize_t			 cur;		/* node in flight, or -1 */
	const char		*last;		/* last node's failure */
	struct http_creq	*creq;
	int			 legacy;	/* cur speaks JSON-RPC */

	struct event		*kick;		/* deferred finish */
	struct rpc_error	 err;
	int			 failed;
	int			 starting;	/* inside rpc_call_start() */
	struct evbuffer		*out;
	const char		*out_type;
	rpc_done_cb		 cb;
	void			*arg;
};

/*
 * Never passed on as metadata: the client's own (and hop-by-hop). Every
 * Content-* describes the caller's body, not the one sent (an /rpc
 * envelope's "request"): a Content-MD5 or Content-Range would lie.
 */
static const char *rpc_reserved[] = {
	"Host", "Accept", "Timeout", "Expect",
};
static const char *rpc_reserved_prefixes[] = {
	"Content-", "Micro-", "X-Micro-",
};

static void	rpc_call_attempt(struct rpc_call *);

struct rpc_client *
rpc_client_new(struct event_base *base, struct shm *shm, unsigned slot,
    const struct rpc_client_config *cfg)
{
	struct rpc_client	*c = xcalloc(1, sizeof(*c));
	struct http_client_config hc;

	c->base = base;
	c->shm = shm;
	c->slot = slot;
	c->cfg = *cfg;
	if (c->cfg.attempts == 0)
		c->cfg.attempts = RPC_ATTEMPTS_DEFAULT;
	memset(&hc, 0, sizeof(hc));
	hc.max_idle = RPC_POOL_IDLE;
	hc.connect_timeout_ms = cfg->connect_timeout_ms;
	hc.timeout_ms = cfg->timeout_ms;
	c->http = http_client_new(base, &hc);
	c->idbase = util_wall_ms() ^ ((uint64_t)getpid() << 32);
	c->sel = selector_new(&cfg->select, c->idbase);
	TAILQ_INIT(&c->calls);
	/*
	 * The slot it reads with is the process's: its statistics and its
	 * selector's view of node health go there.
	 */
	svcstats_bind(slot);
	nodehealth_bind(slot);
	return c;
}

void
rpc_client_free(struct rpc_client *c)
{
	struct rpc_call	*call;

	if (c == NULL)
		return;
	while ((call = TAILQ_FIRST(&c->calls)) != NULL)
		rpc_call_cancel(call);
	http_client_free(c->http);
	selector_free(c->sel);
	free(c);
}

struct http_client *
rpc_client_http(struct rpc_client *c)
{
	return c->http;
}

struct selector *
rpc_client_selector(struct rpc_client *c)
{
	return c->sel;
}

unsigned
rpc_client_attempts(const struct rpc_client *c)
{
	return c->cfg.attempts;
}

struct http_creq *
rpc_client_creq(struct rpc_client *c, const char *service, int tracked,
    const struct select_node *n, const char *method, const char *target,
    const char **cause)
{
	struct http_creq	*creq;
	uint64_t		 now;

	if ((creq = http_creq_new(c->http, method, n->address, target,
	    cause)) != NULL)
		return creq;
	log_debug("rpc %s: node %s: %s", service, n->address, *cause);
	if (tracked) {
		now = util_now_ms();
		selector_start(c->sel, service, n, now);
		selector_end(c->sel, service, n, SELECT_FAILED, now);
	}
	return NULL;
}

int
rpc_timeout_parse(const char *s, unsigned *ms)
{
	uint64_t	 v;

	if (util_parse_duration_ms(s, &v) == -1 || v == 0 || v > UINT32_MAX)
		return -1;
	*ms = (unsigned)v;
	return 0;
}

static int
rpc_reserved_header(const char *name)
{
	size_t	 i;

	if (http_header_hop(name))
		return 1;
	for (i = 0; i < nitems(rpc_reserved_prefixes); i++)
		if (strncasecmp(name, rpc_reserved_prefixes[i],
		    strlen(rpc_reserved_prefixes[i])) == 0)
			return 1;
	for (i = 0; i < nitems(rpc_reserved); i++)
		if (strcasecmp(name, rpc_reserved[i]) == 0)
			return 1;
	return 0;
}

static struct http_headers *
rpc_metadata_copy(const struct http_headers *in)
{
	struct http_headers	*h = http_headers_new();
	const char		*name, *value;
	size_t			 i;

	for (i = 0; in != NULL && http_headers_at(in, i, &name, &value); i++) {
		if (!rpc_reserved_header(name) &&
		    !http_headers_has_token(in, "Connection", name))
			http_headers_add(h, name, value);
	}
	return h;
}

static void
rpc_call_free(struct rpc_call *call)
{
	TAILQ_REMOVE(&call->client->calls, call, entry);
	if (call->kick != NULL)
		event_free(call->kick);
	http_headers_free(call->metadata);
	evbuffer_free(call->body);
	evbuffer_free(call->out);
	free(call->service);
	free(call->endpoint);
	free(call->version);
	rpc_nodes_free(&call->nodes);
	free(call->tried);
	free(call);
}

/*
 * Only calls to a registered service are counted, and only its registered
 * nodes tracked by the selector and node health: a name nobody registered,
 * or an address no node of it has (both called at an "address"), would
 * let any client add rows.
 */
static void
rpc_call_select_end(struct rpc_call *call, enum select_outcome outcome)
{
	if (call->tracked)
		selector_end(call->client->sel, call->service,
		    &call->nodes.v[call->cur], outcome, util_now_ms());
}

static void
rpc_call_record(struct rpc_call *call)
{
	if (call->registered)
		svcstats_record(call->service, svcstats_clock_us() -
		    call->started_us, call->failed && call->err.code >= 500);
}

static void
rpc_call_finish(struct rpc_call *call)
{
	struct rpc_response	 rsp;

	rpc_call_record(call);
	memset(&rsp, 0, sizeof(rsp));
	if (call->failed) {
		evbuffer_drain(call->out, evbuffer_get_length(call->out));
		rpc_error_json(&call->err, call->out);
		rsp.status = call->err.code;
		rsp.content_type = RPC_CT_JSON_TEXT;
		rsp.error = &call->err;
	} else {
		rsp.status = 200;
		rsp.content_type = call->out_type;
	}
	rsp.body = call->out;
	call->cb(&rsp, call->arg);
	rpc_call_free(call);
}

static void
rpc_call_kick_cb(evutil_socket_t fd, short ev, void *arg)
{
	rpc_call_finish(arg);
}

/* Fail now, or from the loop when still inside rpc_call_start(). */
static void
rpc_call_fail(struct rpc_call *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
rpc_call_fail(struct rpc_call *call, int code, const char *fmt, ...)
{
	va_list	 ap;
	char	 detail[RPC_ERROR_DETAIL_MAX];

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	rpc_error_set(&call->err, RPC_CLIENT_ID, code, "%s", detail);
	call->failed = 1;
	if (!call->starting) {
		rpc_call_finish(call);
		return;
	}
	call->kick = evtimer_new(call->client->base, rpc_call_kick_cb, call);
	if (call->kick == NULL)
		fatalx("%s: evtimer_new", __func__);
	event_active(call->kick, EV_TIMEOUT, 0);
}

/* Sum of the string bytes (NULs included) of the nodes to copy. */
static size_t
rpc_nodes_size(const struct shm_service *sv, size_t *n)
{
	struct shm_node	 node;
	size_t		 i, size = 0;

	*n = sv->nnodes;
	for (i = 0; i < sv->nnodes; i++) {
		shm_service_node(sv, i, &node);
		size += strlen(node.id) + strlen(node.address) +
		    strlen(node.version) + 3;
	}
	return size;
}

static const char *
rpc_strcopy(char **p, const char *s)
{
	size_t		 len = strlen(s) + 1;
	const char	*start = *p;

	memcpy(*p, s, len);
	*p += len;
	return start;
}

/* Copy every node out of the read section. */
static void
rpc_nodes_copy(struct rpc_nodes *nodes, const struct shm_service *sv)
{
	struct shm_node	 node;
	size_t		 i, n;
	char		*p;

	p = nodes->strings = xmalloc(rpc_nodes_size(sv, &n));
	nodes->v = xcalloc(n, sizeof(*nodes->v));
	nodes->n = n;
	for (i = 0; i < n; i++) {
		shm_service_node(sv, i, &node);
		nodes->v[i].id = rpc_strcopy(&p, node.id);
		nodes->v[i].address = rpc_strcopy(&p, node.address);
		nodes->v[i].version = rpc_strcopy(&p, node.version);
		nodes->v[i].flags = node.flags;
	}
}

void
rpc_nodes_free(struct rpc_nodes *nodes)
{
	free(nodes->v);
	free(nodes->strings);
	memset(nodes, 0, sizeof(*nodes));
}

/*
 * A call to a given address: the registered node at that address, and 1,
 * if the service has one; else 0 and a node of that address alone,
 * speaking mucp.
 */
static int
rpc_nodes_address(struct rpc_nodes *nodes, const char *address)
{
	size_t		 i;
	char		*p;

	for (i = 0; i < nodes->n; i++) {
		if (strcmp(nodes->v[i].address, address) == 0) {
			nodes->v[0] = nodes->v[i];
			nodes->n = 1;
			return 1;
		}
	}
	rpc_nodes_free(nodes);
	p = nodes->strings = xmalloc(strlen(address) * 2 + 3);
	nodes->v = xcalloc(1, sizeof(*nodes->v));
	nodes->n = 1;
	nodes->v[0].id = rpc_strcopy(&p, address);
	nodes->v[0].address = rpc_strcopy(&p, address);
	nodes->v[0].version = rpc_strcopy(&p, "");
	nodes->v[0].flags = SHM_NODE_MUCP;
	return 0;
}

int
rpc_client_lookup(struct rpc_client *c, const char *service,
    struct rpc_nodes *nodes)
{
	struct shm_service	 sv;
	int			 found;

	memset(nodes, 0, sizeof(*nodes));
	shm_read_begin(c->shm, c->slot);
	found = shm_lookup(c->shm, service, strlen(service), &sv) == 0;
	if (found)
		rpc_nodes_copy(nodes, &sv);
	shm_read_end(c->shm);
	return found ? 0 : -1;
}

static struct rpc_call *
rpc_call_new(struct rpc_client *c, const struct rpc_request *r,
    rpc_done_cb cb, void *arg)
{
	struct rpc_call	*call = xcalloc(1, sizeof(*call));
	unsigned	 timeout = r->timeout_ms ? r->timeout_ms :
			    c->cfg.timeout_ms;

	call->client = c;
	call->service = xstrdup(r->service);
	call->endpoint = xstrdup(r->endpoint);
	call->version = r->version != NULL ? xstrdup(r->version) : NULL;
	call->metadata = rpc_metadata_copy(r->metadata);
	if ((call->body = evbuffer_new()) == NULL ||
	    (call->out = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	evbuffer_add(call->body, r->body, r->len);
	call->ctype = rpc_ctype(r->content_type);
	call->accept = r->accept;
	/*
	 * A deadline is the caller's only when shorter than microd's own:
	 * its expiry is then no verdict on the node. A longer one is waited
	 * for, but a node silent that long was given all microd gives it.
	 */
	call->caller_timeout = r->caller_timeout && r->timeout_ms != 0 &&
	    r->timeout_ms < c->cfg.timeout_ms;
	call->deadline = util_now_ms() + timeout;
	call->id = ++c->seq;
	call->started_us = svcstats_clock_us();
	call->cur = -1;
	call->cb = cb;
	call->arg = arg;
	TAILQ_INSERT_TAIL(&c->calls, call, entry);
	return call;
}

struct rpc_call *
rpc_call_start(struct rpc_client *c, const struct rpc_request *r,
    rpc_done_cb cb, void *arg)
{
	struct rpc_call	*call = rpc_call_new(c, r, cb, arg);

	call->starting = 1;
	if (call->ctype == RPC_CT_OTHER) {
		rpc_call_fail(call, 415, "unsupported content type %s "
		    "(use application/json or application/msgpack)",
		    r->content_type);
		return call;
	}
	call->registered = rpc_client_lookup(c, call->service,
	    &call->nodes) == 0;
	if (!call->registered && r->address == NULL) {
		rpc_call_fail(call, 404, "service not found");
		return call;
	}
	call->tracked = call->registered;
	if (r->address != NULL)
		call->tracked = rpc_nodes_address(&call->nodes, r->address);
	call->tried = xcalloc(call->nodes.n, 1);
	rpc_call_attempt(call);
	call->starting = 0;
	return call;
}

void
rpc_call_cancel(struct rpc_call *call)
{
	if (call->creq != NULL) {
		http_creq_cancel(call->creq);
		rpc_call_select_end(call, SELECT_ABANDONED);
	}
	rpc_call_free(call);
}

/* The failure of the whole call once no node is left to try. */
static void
rpc_call_exhausted(struct rpc_call *call, int timed_out)
{
	if (call->attempts == 0)
		rpc_call_fail(call, 503, "no node available%s%s",
		    call->version ? " for version " : "",
		    call->version ? call->version : "");
	else if (timed_out || util_now_ms() >= call->deadline)
		rpc_call_fail(call, call->caller_timeout ? 408 : 504,
		    "request timeout");
	else
		rpc_call_fail(call, 503, "no node answering: %s", call->last);
}

/* Copy the request body in the form the node speaks. */
static int
rpc_call_body(struct rpc_call *call, struct evbuffer *out,
    const char **cause)
{
	struct evbuffer	*src, *json;
	int		 rc;

	if (!call->legacy) {
		evbuffer_add(out, evbuffer_pullup(call->body, -1),
		    evbuffer_get_length(call->body));
		return 0;
	}
	if ((src = evbuffer_new()) == NULL || (json = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	evbuffer_add(src, evbuffer_pullup(call->body, -1),
	    evbuffer_get_length(call->body));
	rc = rpc_transcode(src, call->ctype, json, RPC_CT_JSON, cause);
	if (rc == 0)
		rc = rpc_jsonrpc_encode(out, call->endpoint,
		    (const char *)evbuffer_pullup(json, -1),
		    evbuffer_get_length(json), call->id, cause);
	evbuffer_free(src);
	evbuffer_free(json);
	return rc;
}

static void
rpc_call_headers(struct rpc_call *call, struct http_headers *h,
    uint64_t left_ms)
{
	const char	*name, *value;
	char		 buf[64];
	size_t		 i;

	for (i = 0; http_headers_at(call->metadata, i, &name, &value); i++)
		http_headers_add(h, name, value);
	http_headers_add(h, "Content-Type", call->legacy ? RPC_CT_JSON_TEXT :
	    rpc_ctype_text(call->ctype));
	http_headers_add(h, "Micro-Service", call->service);
	http_headers_add(h, "Micro-Endpoint", call->endpoint);
	http_headers_add(h, "Micro-Method", call->endpoint);
	snprintf(buf, sizeof(buf), "%016" PRIx64 "-%" PRIu64,
	    call->client->idbase, call->id);
	http_headers_add(h, "Micro-Id", buf);
	/* go-micro reads Timeout as nanoseconds. */
	snprintf(buf, sizeof(buf), "%" PRIu64, left_ms * 1000000);
	http_headers_add(h, "Timeout", buf);
}

/* The node answered with an error (a Micro-Error header or a non-2xx):
 * fill call->err and return 1. */
static int
rpc_call_node_error(struct rpc_call *call, struct http_creq *creq)
{
	const struct http_headers *h = http_creq_response_headers(creq);
	struct evbuffer		*body = http_creq_response_body(creq);
	const char		*merr;
	int			 status = http_creq_status(creq);

	if ((merr = http_headers_get(h, "Micro-Error")) == NULL)
		merr = http_headers_get(h, "X-Micro-Error");
	if (merr != NULL && *merr != '\0')
		rpc_error_parse(merr, strlen(merr), call->service,
		    status >= 400 ? status : 500, &call->err);
	else if (status < 200 || status > 299)
		rpc_error_parse((const char *)evbuffer_pullup(body, -1),
		    evbuffer_get_length(body), call->service, status,
		    &call->err);
	else
		return 0;
	return 1;
}

/* A JSON-RPC envelope in body becomes its result, or the call's error. */
static int
rpc_call_unwrap(struct rpc_call *call, struct evbuffer *body)
{
	struct evbuffer	*result;
	int		 rc;

	if ((result = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	rc = rpc_jsonrpc_decode((const char *)evbuffer_pullup(body, -1),
	    evbuffer_get_length(body), result, &call->err);
	evbuffer_drain(body, evbuffer_get_length(body));
	evbuffer_add_buffer(body, result);
	evbuffer_free(result);
	return rc;
}

static void
rpc_call_response(struct rpc_call *call, struct http_creq *creq)
{
	struct evbuffer	*body = http_creq_response_body(creq);
	const char	*ct, *cause;
	enum rpc_ctype	 rtype;

	ct = http_headers_get(http_creq_response_headers(creq),
	    "Content-Type");
	rtype = call->legacy ? RPC_CT_JSON : rpc_ctype(ct);
	if (rpc_call_node_error(call, creq) ||
	    (call->legacy && rpc_call_unwrap(call, body) == -1))
		call->failed = 1;
	else if (rpc_transcode(body, rtype, call->out, call->accept,
	    &cause) == -1) {
		rpc_error_set(&call->err, RPC_CLIENT_ID, 502,
		    "cannot read the reply of %s: %s", call->service, cause);
		call->failed = 1;
	} else if (rtype == RPC_CT_OTHER)
		call->out_type = ct;
	else
		call->out_type = rpc_ctype_text(call->accept);
	rpc_call_finish(call);
}

/*
 * The node's part in how the attempt ended. A timeout that is the
 * caller's deadline passing (the request's, or a connect it cut short) is
 * the caller's choice, not the node's failure: a caller in a hurry must
 * not get healthy nodes ejected for every other caller.
 */
static enum select_outcome
rpc_call_outcome(const struct rpc_call *call, enum http_client_error err)
{
	if (err == HTTP_CLIENT_OK)
		return SELECT_OK;
	if ((err == HTTP_CLIENT_TIMEOUT ||
	    err == HTTP_CLIENT_CONNECT_TIMEOUT) && call->caller_timeout &&
	    util_now_ms() >= call->deadline)
		return SELECT_ABANDONED;
	return SELECT_FAILED;
}

static void
rpc_call_done_cb(struct http_creq *creq, enum http_client_error err,
    void *arg)
{
	struct rpc_call		*call = arg;
	const struct select_node *n = &call->nodes.v[call->cur];

	call->creq = NULL;
	rpc_call_select_end(call, rpc_call_outcome(call, err));
	switch (err) {
	case HTTP_CLIENT_OK:
		rpc_call_response(call, creq);
		break;
	case HTTP_CLIENT_CONNECT_REFUSED:
	case HTTP_CLIENT_CONNECT_FAILED:
	case HTTP_CLIENT_CONNECT_TIMEOUT:
		/*
		 * Never reached the node. A connection lost after the call
		 * was sent is not retried: the node may have run it. Nor
		 * does the HTTP client send a call (a POST) again when a
		 * pooled connection breaks under it; it only leaves out
		 * the pooled ones the node is seen to have closed.
		 */
		log_debug("rpc %s %s: node %s: %s", call->service,
		    call->endpoint, n->address, http_client_strerror(err));
		call->last = http_client_strerror(err);
		rpc_call_attempt(call);
		break;
	case HTTP_CLIENT_TIMEOUT:
		rpc_call_exhausted(call, 1);
		break;
	default:
		rpc_call_fail(call, 502, "bad response from %s: %s",
		    n->address, http_client_strerror(err));
		break;
	}
}

/*
 * Send the call to node i: 0 when sent, -1 if the node cannot even be
 * tried, 1 if the call failed for good (it may be gone).
 */
static int
rpc_call_send(struct rpc_call *call, size_t i, uint64_t left)
{
	struct rpc_client	*c = call->client;
	const struct select_node *n = &call->nodes.v[i];
	const char		*cause;

	call->legacy = !(n->flags & SHM_NODE_MUCP);
	call->creq = rpc_client_creq(c, call->service, call->tracked, n,
	    "POST", "/", &call->last);
	if (call->creq == NULL)
		return -1;
	if (rpc_call_body(call, http_creq_body(call->creq), &cause) == -1) {
		http_creq_cancel(call->creq);
		call->creq = NULL;
		rpc_call_fail(call, 400, "%s", cause);
		return 1;
	}
	rpc_call_headers(call, http_creq_headers(call->creq), left);
	http_creq_set_timeouts(call->creq, c->cfg.connect_timeout_ms,
	    (unsigned)left);
	http_creq_set_done_cb(call->creq, rpc_call_done_cb, call);
	call->cur = i;
	if (call->tracked)
		selector_start(c->sel, call->service, n, util_now_ms());
	http_creq_start(call->creq);
	return 0;
}

/*
 * A node the selector does not track is the only one (an address the
 * caller named) and gets no selector state, not even a pick's: a version
 * filter cannot match it, its version unknown.
 */
static ssize_t
rpc_call_pick(struct rpc_call *call, uint64_t now)
{
	const char	*v = call->version;

	if (!call->tracked)
		return call->tried[0] || (v != NULL && *v != '\0') ? -1 : 0;
	return selector_pick(call->client->sel, call->service, call->nodes.v,
	    call->nodes.n, v, call->tried, now);
}

/* Try the next node, or fail the call when none is left. */
static void
rpc_call_attempt(struct rpc_call *call)
{
	struct rpc_client	*c = call->client;
	uint64_t		 now;
	ssize_t			 i;

	for (;;) {
		now = util_now_ms();
		if (now >= call->deadline || call->attempts >= c->cfg.attempts) {
			rpc_call_exhausted(call, 0);
			return;
		}
		if ((i = rpc_call_pick(call, now)) == -1) {
			rpc_call_exhausted(call, 0);
			return;
		}
		call->tried[i] = 1;
		call->attempts++;
		if (rpc_call_send(call, i, call->deadline - now) != -1)
			return;
	}
}

unsigned
rpc_client_timeout(const struct rpc_client *c)
{
	return c->cfg.timeout_ms;
}

unsigned
rpc_client_fail_all(struct rpc_client *c, int code, const char *detail)
{
	struct rpc_call	*call;
	unsigned	 n;

	for (n = 0; (call = TAILQ_FIRST(&c->calls)) != NULL; n++) {
		if (call->creq != NULL) {
			http_creq_cancel(call->creq);
			call->creq = NULL;
			rpc_call_select_end(call, SELECT_ABANDONED);
		}
		/* One that failed already (its finish deferred) keeps why. */
		if (!call->failed)
			rpc_error_set(&call->err, RPC_CLIENT_ID, code, "%s",
			    detail);
		call->failed = 1;
		rpc_call_finish(call);
	}
	return n;
}
