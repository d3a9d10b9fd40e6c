/*
 * HTTP requests turned into RPC calls (rpc/gateway.h): micro's /rpc
 * handler and its "rpc" handler, shared by the api and sidecar roles.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "http.h"
#include "jscan.h"
#include "log.h"
#include "microd/conf.h"
#include "rpc/apireq.h"
#include "rpc/codec.h"
#include "rpc/gateway.h"
#include "svc.h"
#include "util.h"

#define GATEWAY_ENDPOINT_MAX	256
/* Passive health: 3 failures in a row eject a node for 10 s, doubling. */
#define GATEWAY_FAIL_MAX	3
#define GATEWAY_EJECT_MS	10000
#define GATEWAY_EJECT_MAX_MS	(5 * 60 * 1000)
/* A drain cuts what is left this long before shutdown_timeout, at most. */
#define GATEWAY_DRAIN_MARGIN_MS	500

struct gateway_ctx {
	struct http_request	*req;
	struct rpc_call		*call;
	gateway_reply_cb	 reply;
};

/* What POST /rpc asks for; every field allocated. */
struct gateway_args {
	char	*service;
	char	*endpoint;
	char	*request;
	char	*address;
	char	*version;
	const char *wrong;	/* a member of the wrong type, named */
};

int
gateway_client_config(const struct config *conf,
    struct rpc_client_config *cfg, const char **cause)
{
	memset(cfg, 0, sizeof(*cfg));
	if (select_policy_parse(conf->api_selector, &cfg->select.policy) ==
	    -1) {
		*cause = "unknown selector";
		return -1;
	}
	cfg->select.fail_max = GATEWAY_FAIL_MAX;
	cfg->select.eject_ms = GATEWAY_EJECT_MS;
	cfg->select.eject_max_ms = GATEWAY_EJECT_MAX_MS;
	cfg->connect_timeout_ms = conf->api_connect_timeout_ms;
	cfg->timeout_ms = conf->api_request_timeout_ms;
	cfg->attempts = RPC_ATTEMPTS_DEFAULT;
	return 0;
}

/*
 * The request's headers with the peer appended to X-Forwarded-For. Every
 * X-Forwarded-For line counts, in order (RFC 9110 5.3: one list): a front
 * proxy adds its own line, and keeping only the first would keep what the
 * client claimed and lose what the proxy saw.
 */
struct http_headers *
gateway_forwarded_headers(struct http_request *req)
{
	const struct http_headers *in = http_request_headers(req);
	struct http_headers	*h = http_headers_new();
	const char		*name, *value;
	struct evbuffer		*xff;
	char			 ip[64];
	size_t			 i;

	if ((xff = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	for (i = 0; http_headers_at(in, i, &name, &value); i++) {
		if (strcasecmp(name, "X-Forwarded-For") != 0)
			http_headers_add(h, name, value);
		else
			evbuffer_add_printf(xff, "%s, ", value);
	}
	/* "host:port" or "[v6]:port" -> host. */
	snprintf(ip, sizeof(ip), "%s", http_request_peer(req));
	ip[strcspn(ip, "]")] = '\0';
	if (strrchr(ip, ':') != NULL && ip[0] != '[')
		*strrchr(ip, ':') = '\0';
	evbuffer_add(xff, ip + (ip[0] == '['), strlen(ip + (ip[0] == '[')) + 1);
	http_headers_add(h, "X-Forwarded-For",
	    (const char *)evbuffer_pullup(xff, -1));
	evbuffer_free(xff);
	return h;
}

/*
 * A call's result is data, whatever Content-Type the node gave it: it
 * never runs as a page of the gateway's (or the dashboard's) origin.
 */
void
gateway_reply(struct http_request *req, const struct rpc_response *rsp)
{
	http_reply_data_headers(req);
	http_reply_buffer(req, rsp->status, rsp->content_type, rsp->body);
}

static void
gateway_done(const struct rpc_response *rsp, void *arg)
{
	struct gateway_ctx	*ctx = arg;

	ctx->reply(ctx->req, rsp);
	free(ctx);
}

static void
gateway_cancel(struct http_request *req, void *arg)
{
	struct gateway_ctx	*ctx = arg;

	rpc_call_cancel(ctx->call);
	http_request_release(req);
	free(ctx);
}

void
gateway_call(struct rpc_client *c, struct http_request *req,
    struct rpc_request *r, const char *error_id, gateway_reply_cb reply)
{
	struct gateway_ctx	*ctx;
	struct http_headers	*md;
	const char		*t;
	unsigned		 ms;

	r->timeout_ms = 0;
	r->caller_timeout = 0;
	if ((t = http_request_header(req, "Timeout")) != NULL) {
		if (rpc_timeout_parse(t, &ms) == -1) {
			http_reply_error(req, 400, error_id,
			    "bad Timeout header (use e.g. 5s or 500ms)");
			return;
		}
		/*
		 * A caller may shorten request_timeout, not lengthen it: the
		 * operator's bound on how long a call holds the worker.
		 */
		if (ms < rpc_client_timeout(c)) {
			r->timeout_ms = ms;
			r->caller_timeout = 1;
		}
	}
	md = gateway_forwarded_headers(req);
	r->metadata = md;
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->req = req;
	ctx->reply = reply != NULL ? reply : gateway_reply;
	ctx->call = rpc_call_start(c, r, gateway_done, ctx);
	http_request_set_cancel_cb(req, gateway_cancel, ctx);
	http_headers_free(md);
	r->metadata = NULL;
}

static void
gateway_drain_deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	unsigned	 n;

	if ((n = rpc_client_fail_all(arg, 503, "server going away")) > 0)
		log_warnx("gateway: shutdown_timeout: cutting %u call%s still "
		    "in flight", n, n == 1 ? "" : "s");
}

struct timeval
gateway_drain_cut(uint64_t shutdown_timeout_ms)
{
	uint64_t	 margin = GATEWAY_DRAIN_MARGIN_MS;

	if (margin > shutdown_timeout_ms / 4)
		margin = shutdown_timeout_ms / 4;
	return util_timeval(shutdown_timeout_ms - margin);
}

/*
 * A one-shot timer, freed with the loop: the client lives until the loop
 * ends, so the timer never fires after it is gone.
 */
void
gateway_drain(struct rpc_client *c, struct event_base *base,
    uint64_t shutdown_timeout_ms)
{
	struct timeval	 tv = gateway_drain_cut(shutdown_timeout_ms);

	if (event_base_once(base, -1, EV_TIMEOUT, gateway_drain_deadline_cb,
	    c, &tv) == -1)
		fatalx("%s: event_base_once", __func__);
}

/* The format the caller wants back: its Accept, else what it sent. */
static enum rpc_ctype
gateway_accept(struct http_request *req, enum rpc_ctype sent)
{
	enum rpc_ctype	 t;
	const char	*accept = http_request_header(req, "Accept");

	if (accept != NULL && (t = rpc_ctype(accept)) != RPC_CT_OTHER)
		return t;
	return sent == RPC_CT_OTHER ? RPC_CT_JSON : sent;
}

static int
gateway_valid_endpoint(const char *s)
{
	size_t	 n;

	for (n = 0; s[n] != '\0'; n++)
		if (!isascii((unsigned char)s[n]) ||
		    (!isalnum((unsigned char)s[n]) && strchr("._-", s[n]) ==
		    NULL))
			return 0;
	return n > 0 && n < GATEWAY_ENDPOINT_MAX;
}

static void
gateway_args_free(struct gateway_args *a)
{
	free(a->service);
	free(a->endpoint);
	free(a->request);
	free(a->address);
	free(a->version);
}

/* The body as a NUL-terminated string (allocated). */
static char *
gateway_body_text(struct http_request *req, size_t *len)
{
	struct evbuffer	*b = http_request_body(req);
	char		*s;

	*len = evbuffer_get_length(b);
	s = xmalloc(*len + 1);
	evbuffer_copyout(b, s, *len);
	s[*len] = '\0';
	return s;
}

/* A string holding a NUL ("\u0000") would name less than it says: none. */
static char *
gateway_json_str(json_t *v)
{
	return rpc_json_cstring(v) ? xstrdup(json_string_value(v)) : NULL;
}

/* The last "request" member, as the tree's walk takes the last. */
static int
gateway_request_member(const struct jscan_member *m, void *arg)
{
	struct jscan_member	*last = arg;

	if (m->key_len == 7 && strncasecmp(m->key, "request", 7) == 0)
		*last = *m;
	return 0;
}

/*
 * "request" as JSON text: a string holding JSON (NULL if it holds a NUL,
 * which no JSON text does), else the value as it lies in the body, which
 * the tree would rewrite (a double's digits) or could not hold (an
 * integer beyond int64).
 */
static char *
gateway_request_text(json_t *v, const char *text, size_t len)
{
	struct jscan_member	 m;
	char			*s;

	if (v == NULL || json_is_null(v))
		return xstrdup("{}");
	if (json_is_string(v))
		return gateway_json_str(v);
	memset(&m, 0, sizeof(m));
	if (jscan_object_valid(text, len, gateway_request_member, &m) == 0 &&
	    m.value != NULL)
		return xstrndup(m.value, m.value_len);
	if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		fatalx("%s: out of memory", __func__);
	return s;
}

/* The /rpc body members gateway_args_scan takes, and what it saw. */
struct gateway_scan {
	struct gateway_args	*a;
	const char		*request;	/* raw JSON text, NULL none */
	size_t			 request_len;
	unsigned		 seen;		/* bits of gateway_keys */
};

static const char *gateway_keys[] = {
	"service", "method", "endpoint", "address", "version", "request"
};

static char **
gateway_scan_field(struct gateway_args *a, size_t key)
{
	switch (key) {
	case 0:
		return &a->service;
	case 1:
	case 2:
		return &a->endpoint;
	case 3:
		return &a->address;
	default:
		return &a->version;
	}
}

/*
 * One member, as gateway_args_json takes it from jansson's tree; gives up
 * (-1: jansson decides) on what the tree would have merged or decoded: a
 * key given twice, a string to keep that holds escapes.
 */
static int
gateway_scan_member(const struct jscan_member *m, void *arg)
{
	struct gateway_scan	*g = arg;
	char			**field;
	size_t			 k;

	for (k = 0; k < nitems(gateway_keys); k++) {
		if (strlen(gateway_keys[k]) == m->key_len &&
		    strncasecmp(m->key, gateway_keys[k], m->key_len) == 0)
			break;
	}
	if (k == nitems(gateway_keys))
		return 0;
	if (g->seen & (1U << k) || m->escaped)
		return -1;
	g->seen |= 1U << k;
	if (k == nitems(gateway_keys) - 1) {
		g->request = m->value;
		g->request_len = m->value_len;
		return 0;
	}
	if (m->value[0] != '"' && strncmp(m->value, "null", 4) != 0)
		return -1;	/* jansson names the member of the wrong type */
	field = gateway_scan_field(g->a, k);
	if (*field == NULL && m->value[0] == '"')
		*field = xstrndup(m->value + 1, m->value_len - 2);
	return 0;
}

/* The common body without a tree: 0, or -1 with a untouched. */
static int
gateway_args_scan(const char *text, size_t len, struct gateway_args *a)
{
	struct gateway_args	 got;
	struct gateway_scan	 g;

	memset(&got, 0, sizeof(got));
	memset(&g, 0, sizeof(g));
	g.a = &got;
	if (jscan_object(text, len, gateway_scan_member, &g) == -1) {
		gateway_args_free(&got);
		return -1;
	}
	if (g.request == NULL || strncmp(g.request, "null", 4) == 0)
		got.request = xstrdup("{}");
	else if (g.request[0] == '"')
		got.request = xstrndup(g.request + 1, g.request_len - 2);
	else
		got.request = xstrndup(g.request, g.request_len);
	*a = got;
	return 0;
}

static int
gateway_args_json(const char *text, size_t len, struct gateway_args *a)
{
	json_t		*o, *v, *req = NULL;
	const char	*k;

	if ((o = rpc_json_load(text, len, 0)) == NULL || !json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	json_object_foreach(o, k, v) {
		if (strcasecmp(k, "service") == 0 && a->service == NULL)
			a->service = gateway_json_str(v);
		else if ((strcasecmp(k, "method") == 0 ||
		    strcasecmp(k, "endpoint") == 0) && a->endpoint == NULL)
			a->endpoint = gateway_json_str(v);
		else if (strcasecmp(k, "address") == 0 && a->address == NULL) {
			if ((a->address = gateway_json_str(v)) == NULL &&
			    !json_is_null(v))
				a->wrong = "invalid address: not a string";
		} else if (strcasecmp(k, "version") == 0 && a->version == NULL) {
			if ((a->version = gateway_json_str(v)) == NULL &&
			    !json_is_null(v))
				a->wrong = "invalid version: not a string";
		}
		else if (strcasecmp(k, "request") == 0)
			req = v;
	}
	a->request = gateway_request_text(req, text, len);
	json_decref(o);
	return 0;
}

/* A form field from the body, else from the query string. */
static char *
gateway_form_get(struct http_request *req, const char *body,
    const char *name)
{
	char	*v;

	if ((v = http_query_get(body, name)) == NULL)
		v = http_request_query_param(req, name);
	return v;
}

static void
gateway_args_form(struct http_request *req, const char *body,
    struct gateway_args *a)
{
	a->service = gateway_form_get(req, body, "service");
	if ((a->endpoint = gateway_form_get(req, body, "method")) == NULL)
		a->endpoint = gateway_form_get(req, body, "endpoint");
	a->request = gateway_form_get(req, body, "request");
	a->address = gateway_form_get(req, body, "address");
	a->version = gateway_form_get(req, body, "version");
	if (a->request == NULL)
		a->request = xstrdup("{}");
}

/* NULL if the arguments are fine, else what is wrong. */
static const char *
gateway_args_check(const struct gateway_args *a)
{
	json_t			*v;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	const char		*cause;

	if (a->wrong != NULL)
		return a->wrong;
	if (a->request == NULL)
		return "invalid request: not JSON";
	if (a->service == NULL || !svc_valid_name(a->service))
		return "invalid service";
	if (a->endpoint == NULL || !gateway_valid_endpoint(a->endpoint))
		return "invalid method";
	if (a->address != NULL &&
	    util_parse_addr(a->address, &ss, &sslen, &cause) == -1)
		return "invalid address";
	if ((v = rpc_json_load(a->request, strlen(a->request),
	    JSON_DECODE_ANY)) == NULL)
		return "invalid request: not JSON";
	json_decref(v);
	return NULL;
}

void
gateway_rpc(struct rpc_client *c, struct http_request *req)
{
	struct gateway_args	 a;
	struct rpc_request	 r;
	const char		*ct = http_request_header(req, "Content-Type");
	const char		*bad = NULL;
	char			*body;
	size_t			 len;

	if (strcmp(http_request_method(req), "POST") != 0) {
		http_headers_set(http_reply_headers(req), "Allow", "POST");
		http_reply_error(req, 405, GATEWAY_RPC_ID, "Method not allowed");
		return;
	}
	memset(&a, 0, sizeof(a));
	body = gateway_body_text(req, &len);
	if (rpc_ctype(ct) == RPC_CT_JSON && ct != NULL) {
		if (gateway_args_scan(body, len, &a) == -1 &&
		    gateway_args_json(body, len, &a) == -1)
			bad = "invalid JSON body";
	} else if (!http_query_valid(body) ||
	    !http_query_valid(http_request_query(req)))
		bad = "bad form or query string (percent-encoding, or an "
		    "encoded NUL)";
	else
		gateway_args_form(req, body, &a);
	free(body);
	if (bad == NULL)
		bad = gateway_args_check(&a);
	if (bad != NULL) {
		http_reply_error(req, 400, GATEWAY_RPC_ID, bad);
		gateway_args_free(&a);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.service = a.service;
	r.endpoint = a.endpoint;
	r.address = a.address;
	r.version = a.version;
	r.content_type = RPC_CT_JSON_TEXT;
	r.accept = gateway_accept(req, RPC_CT_JSON);
	r.body = a.request;
	r.len = strlen(a.request);
	gateway_call(c, req, &r, GATEWAY_RPC_ID, NULL);
	gateway_args_free(&a);
}

void
gateway_body_call(struct rpc_client *c, struct http_request *req,
    const char *service, const char *endpoint)
{
	struct evbuffer		*b = http_request_body(req);
	struct rpc_request	 r;
	const char		*query = http_request_query(req), *cause;
	char			*text = NULL;
	size_t			 len;

	memset(&r, 0, sizeof(r));
	r.service = service;
	r.endpoint = endpoint;
	if (evbuffer_get_length(b) > 0) {
		r.content_type = http_request_header(req, "Content-Type");
		r.body = evbuffer_pullup(b, -1);
		r.len = evbuffer_get_length(b);
	} else if (query != NULL && *query != '\0') {
		if ((text = apireq_query_object(query, &len, &cause)) == NULL) {
			http_reply_error(req, 400, GATEWAY_RPC_ID, cause);
			return;
		}
		r.body = text;
		r.len = len;
	} else {
		r.body = "{}";
		r.len = 2;
	}
	r.accept = gateway_accept(req, rpc_ctype(r.content_type));
	gateway_call(c, req, &r, GATEWAY_RPC_ID, NULL);
	free(text);
}
