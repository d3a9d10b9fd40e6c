/*
 * The api role: the gateway. POST /rpc (unless [api] rpc = off), and for
 * every other path the handler [api] handler names:
 *
 *   api	path -> service/method, the HTTP request as an api.Request,
 *		the api.Response written back as HTTP
 *   rpc	path -> service/method, the body (or query) as the request
 *   proxy	/NAME/... reverse-proxied to a node of NAMESPACE.NAME,
 *		streaming both ways (api_head, rpc/proxy.c)
 *
 * Bad paths and bodies are answered 4xx here: nothing reaches a service
 * unvalidated.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "http.h"
#include "log.h"
#include "rpc/apireq.h"
#include "rpc/cors.h"
#include "rpc/gateway.h"
#include "rpc/proxy.h"
#include "rpc/route.h"
#include "util.h"
#include "workers/worker-http.h"
#include "workers/worker.h"

#define API_ID		"go.micro.api"
/*
 * How much a body may grow as it goes into an api.Request: any text (a
 * quote escaped takes two bytes), not control bytes (six each), so that
 * max_body_size still bounds what a call holds (doc/rpc.md).
 */
#define API_REQUEST_GROWTH	2

struct api;

struct api_handler {
	const char	*name;
	void		(*handle)(struct api *, struct http_request *);
};

struct api {
	struct worker			*w;
	const char			*ns;
	const struct api_handler	*handler;
	struct rpc_client		*rpc;
	struct proxy			*proxy;
	struct cors			*cors;
};

/* Reply headers that belong to the HTTP layer, never to a service. */
static const char *api_layer_headers[] = { "Content-Length", "Date" };

static void
api_reply_header(const char *name, const char *value, void *arg)
{
	struct http_request	*req = arg;
	size_t			 i;

	if (http_header_hop(name))
		return;
	for (i = 0; i < nitems(api_layer_headers); i++)
		if (strcasecmp(name, api_layer_headers[i]) == 0)
			return;
	if (cors_overrides(http_reply_headers(req), name))
		return;
	http_headers_add(http_reply_headers(req), name, value);
}

/* Write an api.Response back as HTTP. */
static void
api_reply_api(struct http_request *req, const struct rpc_response *rsp)
{
	struct apireq_rsp	 ar;
	const char		*cause;
	size_t			 len = evbuffer_get_length(rsp->body);

	if (rsp->error != NULL) {
		gateway_reply(req, rsp);
		return;
	}
	if (apireq_response_parse((const char *)evbuffer_pullup(rsp->body, -1),
	    len, &ar, &cause) == -1) {
		http_reply_error(req, 502, API_ID, cause);
		return;
	}
	apireq_response_headers(&ar, api_reply_header, req);
	http_reply(req, ar.status,
	    http_headers_get(http_reply_headers(req), "Content-Type") ? NULL :
	    "application/json", ar.body, ar.body_len);
	apireq_response_free(&ar);
}

static int
api_route(struct api *a, struct http_request *req, struct route *r)
{
	const char	*cause;

	if (route_from_path(a->ns, http_request_path(req), r, &cause) == -1) {
		http_reply_error(req, 400, API_ID, cause);
		return -1;
	}
	return 0;
}

static void
api_handle_api(struct api *a, struct http_request *req)
{
	struct evbuffer		*b = http_request_body(req);
	struct apireq_in	 in;
	struct rpc_request	 r;
	struct route		 route;
	struct http_headers	*h;
	const char		*cause;
	char			*text;
	size_t			 len;

	if (api_route(a, req, &route) == -1)
		return;
	h = gateway_forwarded_headers(req);
	memset(&in, 0, sizeof(in));
	in.method = http_request_method(req);
	in.path = http_request_path(req);
	in.query = http_request_query(req);
	in.url = http_request_target(req);
	in.headers = h;
	in.content_type = http_request_header(req, "Content-Type");
	in.body = (const char *)evbuffer_pullup(b, -1);
	in.body_len = evbuffer_get_length(b);
	in.max_len = API_REQUEST_GROWTH *
	    a->w->conf->roles[ROLE_API].max_body_size;
	text = apireq_encode(&in, &len, &cause);
	http_headers_free(h);
	if (text == NULL) {
		http_reply_error(req, len > 0 ? 413 : 400, API_ID, cause);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.service = route.service;
	r.endpoint = route.method;
	r.content_type = RPC_CT_JSON_TEXT;
	r.accept = RPC_CT_JSON;
	r.body = text;
	r.len = len;
	gateway_call(a->rpc, req, &r, API_ID, api_reply_api);
	free(text);
}

static void
api_handle_rpc(struct api *a, struct http_request *req)
{
	struct route	 route;

	if (api_route(a, req, &route) == 0)
		gateway_body_call(a->rpc, req, route.service, route.method);
}

/* Without a head handler in the roles table the body comes buffered. */
static void
api_handle_proxy(struct api *a, struct http_request *req)
{
	proxy_request(a->proxy, req, 0);
}

static const struct api_handler api_handlers[] = {
	{ "api", api_handle_api },
	{ "rpc", api_handle_rpc },
	{ "proxy", api_handle_proxy },
};

static void
api_path(struct worker *w, struct http_request *req)
{
	struct api	*a = w->role_data;

	if (cors_apply(a->cors, req))
		return;
	a->handler->handle(a, req);
}

static void
api_rpc(struct worker *w, struct http_request *req)
{
	struct api	*a = w->role_data;

	if (!w->conf->api_rpc) {
		api_path(w, req);
		return;
	}
	if (cors_apply(a->cors, req))
		return;
	gateway_rpc(a->rpc, req);
}

/* The role's head handler: the proxy handler streams from here. */
static void
api_head(struct http_request *req, void *arg)
{
	struct worker	*w = arg;
	struct api	*a = w->role_data;
	const char	*path = http_request_path(req);

	/* A small body is buffered and proxied by the main handler. */
	if (a->proxy == NULL || worker_http_owns(NULL, path) ||
	    (strcmp(path, "/rpc") == 0 && w->conf->api_rpc) ||
	    !proxy_wants_stream(req))
		return;
	if (cors_apply(a->cors, req))
		return;
	proxy_request(a->proxy, req, 1);
}

static const struct worker_route api_routes[] = {
	{ NULL, "/rpc", api_rpc, 0 },
	{ NULL, "/", api_path, 0 },
	{ NULL, NULL, NULL, 0 },
};

static const struct api_handler *
api_handler_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < nitems(api_handlers); i++)
		if (strcmp(api_handlers[i].name, name) == 0)
			return &api_handlers[i];
	return NULL;
}

static int
api_role_init(struct worker *w)
{
	struct api		*a = xcalloc(1, sizeof(*a));
	struct rpc_client_config cfg;
	const char		*cause;

	a->w = w;
	a->ns = w->conf->roles[ROLE_API].namespace;
	if ((a->handler = api_handler_find(w->conf->api_handler)) == NULL) {
		log_warnx("unknown api handler %s", w->conf->api_handler);
		free(a);
		return -1;
	}
	if (gateway_client_config(w->conf, &cfg, &cause) == -1) {
		log_warnx("api: %s", cause);
		free(a);
		return -1;
	}
	a->rpc = rpc_client_new(w->base, w->shm, w->slot_index, &cfg);
	a->cors = cors_new(w->conf->api_cors);
	if (strcmp(a->handler->name, "proxy") == 0)
		a->proxy = proxy_new(a->rpc, a->ns, API_ID, 0,
		    w->conf->roles[ROLE_API].idle_timeout_ms,
		    w->conf->roles[ROLE_API].max_connections);
	w->role_data = a;
	return 0;
}

/*
 * Proxied websockets left the HTTP server: the drain waits for them. The
 * calls and proxied requests still in flight near shutdown_timeout are
 * answered 503 then, whatever the caller's timeout.
 */
static void
api_role_drain(struct worker *w)
{
	struct api	*a = w->role_data;

	gateway_drain(a->rpc, w->base, w->conf->shutdown_timeout_ms);
	if (a->proxy != NULL)
		proxy_drain(a->proxy, w->base, w->conf->shutdown_timeout_ms,
		    worker_drain_check);
}

static int
api_role_busy(struct worker *w)
{
	struct api	*a = w->role_data;

	return a->proxy != NULL && proxy_splices(a->proxy) > 0;
}

static void
api_role_shutdown(struct worker *w)
{
	struct api	*a = w->role_data;

	if (a == NULL)
		return;
	proxy_free(a->proxy);
	rpc_client_free(a->rpc);
	cors_free(a->cors);
	free(a);
	w->role_data = NULL;
}

const struct role role_api = {
	.name = "api",
	.id = ROLE_API,
	.error_id = "go.micro.api",
	.init = api_role_init,
	.shutdown = api_role_shutdown,
	.drain = api_role_drain,
	.busy = api_role_busy,
	.routes = api_routes,
	.head_handler = api_head,
};
