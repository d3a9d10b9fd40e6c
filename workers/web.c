/*
 * The web role (DESIGN.md §4): the dashboard, GET /metrics, the live feed,
 * POST /rpc for the call form (the same gateway code as the api role) and
 * the registry as HTML or JSON. The pages live in web/; doc/web.md.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "log.h"
#include "rpc/client.h"
#include "rpc/gateway.h"
#include "rpc/proxy.h"
#include "util.h"
#include "web/web.h"
#include "workers/worker-http.h"
#include "workers/worker.h"

static struct web *
web_state(struct worker *w)
{
	return w->role_data;
}

/*
 * A browser says where a request comes from: Sec-Fetch-Site, or in older
 * ones Origin (compared with Host). Programs send neither and pass. The
 * same rule as Go's http.CrossOriginProtection.
 */
static int
web_same_origin(const struct http_request *req)
{
	const char	*site = http_request_header(req, "Sec-Fetch-Site");
	const char	*origin = http_request_header(req, "Origin");
	const char	*host = http_request_header(req, "Host");
	const char	*authority;

	if (site != NULL)
		return strcmp(site, "same-origin") == 0 ||
		    strcmp(site, "none") == 0;
	if (origin == NULL)
		return 1;
	if ((authority = strstr(origin, "://")) == NULL || host == NULL)
		return 0;
	return strcasecmp(authority + 3, host) == 0;
}

/*
 * The call form's POST /rpc. Another site's page must not call services
 * (or any address) through an operator's browser; the answer is marked
 * as data by gateway_reply.
 */
static void
web_rpc(struct worker *w, struct http_request *req)
{
	if (!web_same_origin(req)) {
		http_reply_error(req, 403, WEB_ID, "cross-origin call refused");
		return;
	}
	gateway_rpc(web_state(w)->rpc, req);
}

static const struct worker_route web_routes[];

/* Not the dashboard's own path (nor its home page): a web app's. */
static int
web_app_path(const char *path)
{
	return strcmp(path, "/") != 0 && !worker_http_owns(web_routes, path);
}

/*
 * Every request head comes here first: what is a web app's, /NAME/... to
 * go.micro.web.NAME, is proxied with its body streaming if it must
 * stream. A small body is left to be buffered, so that a node that
 * refused it can be swapped for another as on the api (rpc/proxy.h);
 * one over max_body_size streams all the same: that limit is the
 * dashboard's, not the apps'.
 */
static void
web_head(struct http_request *req, void *arg)
{
	struct worker	*w = arg;
	const char	*cl = http_request_header(req, "Content-Length");

	if (!web_app_path(http_request_path(req)))
		return;
	if (proxy_wants_stream(req) || (cl != NULL && strtoull(cl, NULL, 10) >
	    w->conf->roles[ROLE_WEB].max_body_size))
		proxy_request(web_state(w)->proxy, req, 1);
}

/*
 * The table's last row takes every request no other row took: a web
 * app's with its body buffered (web_head), the home page (GET or HEAD
 * "/"), or a dashboard path asked for a method it does not take (GET
 * /rpc, HEAD /events, POST /).
 */
static void
web_home(struct worker *w, struct http_request *req)
{
	const char	*method = http_request_method(req);
	const char	*path = http_request_path(req);
	int		 home = strcmp(path, "/") == 0;

	if (web_app_path(path)) {
		proxy_request(web_state(w)->proxy, req, 0);
		return;
	}
	if (home && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)) {
		web_pages_services(w, req);
		return;
	}
	if (home)	/* the catch-all row has no method to list */
		http_headers_set(http_reply_headers(req), "Allow", "GET, HEAD");
	worker_http_reply_405(w, req);
}

static const struct worker_route web_routes[] = {
	{ "GET", "/registry", web_registry, 0 },
	{ "GET", "/call", web_call_page, 0 },
	{ "POST", "/rpc", web_rpc, 0 },
	{ "GET", "/workers", web_pages_workers, 0 },
	{ "GET", "/apps", web_pages_apps, 0 },
	{ "GET", "/metrics", web_metrics, 0 },
	{ "GET", "/events", web_live_events, WORKER_ROUTE_NO_HEAD },
	{ "GET", "/assets/", web_assets_serve, 0 },
	{ NULL, "/", web_home, 0 },		/* the rest, and web apps */
	{ NULL, NULL, NULL, 0 },
};

static int
web_init(struct worker *w)
{
	struct web			*web = xcalloc(1, sizeof(*web));
	struct rpc_client_config	 rc;
	const char			*cause;

	w->role_data = web;
	/* The call form's calls use the api's node selection and timeouts. */
	if (gateway_client_config(w->conf, &rc, &cause) == -1) {
		log_warnx("web: %s", cause);
		return -1;
	}
	web->rpc = rpc_client_new(w->base, w->shm, w->slot_index, &rc);
	web->proxy = proxy_new(web->rpc, w->conf->roles[ROLE_WEB].namespace,
	    "go.micro.web", PROXY_STRIP_BASE,
	    w->conf->roles[ROLE_WEB].idle_timeout_ms,
	    w->conf->roles[ROLE_WEB].max_connections);
	if (web_live_init(w) == -1) {
		log_warnx("web: cannot set up the live feed");
		return -1;
	}
	return 0;
}

static void
web_shutdown(struct worker *w)
{
	struct web	*web = web_state(w);

	web_live_free(web->live);
	proxy_free(web->proxy);
	rpc_client_free(web->rpc);
	free(web);
	w->role_data = NULL;
}

/*
 * The live feed ends now; proxied websockets run on until they end. The
 * call form's calls still in flight near shutdown_timeout are answered
 * 503 then.
 */
static void
web_drain(struct worker *w)
{
	web_live_drain(web_state(w)->live);
	gateway_drain(web_state(w)->rpc, w->base,
	    w->conf->shutdown_timeout_ms);
	proxy_drain(web_state(w)->proxy, w->base,
	    w->conf->shutdown_timeout_ms, worker_drain_check);
}

static int
web_busy(struct worker *w)
{
	return proxy_splices(web_state(w)->proxy) > 0;
}

const struct role role_web = {
	.name = "web",
	.id = ROLE_WEB,
	.error_id = WEB_ID,
	.init = web_init,
	.shutdown = web_shutdown,
	.drain = web_drain,
	.busy = web_busy,
	.routes = web_routes,
	.head_handler = web_head,
};
