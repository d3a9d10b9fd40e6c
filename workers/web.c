/*
 * The web role (DESIGN.md §4): the dashboard, GET /metrics, the live feed,
 * POST /rpc for the call form (the same gateway code as the api role) and
 * the registry as HTML or JSON. The pages live in web/; doc/web.md.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

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

static void
web_rpc(struct worker *w, struct http_request *req)
{
	gateway_rpc(web_state(w)->rpc, req);
}

static const struct worker_route web_routes[];

/*
 * Every request head comes here first: what is not the dashboard's own
 * (and not its home page) is a web app, /NAME/... to go.micro.web.NAME,
 * proxied with its body streaming.
 */
static void
web_head(struct http_request *req, void *arg)
{
	struct worker	*w = arg;
	const char	*path = http_request_path(req);

	if (strcmp(path, "/") == 0 || worker_http_owns(web_routes, path))
		return;
	proxy_request(web_state(w)->proxy, req, 1);
}

static const struct worker_route web_routes[] = {
	{ "GET", "/registry", web_registry },
	{ "GET", "/call", web_call_page },
	{ "POST", "/rpc", web_rpc },
	{ "GET", "/workers", web_pages_workers },
	{ "GET", "/apps", web_pages_apps },
	{ "GET", "/metrics", web_metrics },
	{ "GET", "/events", web_live_events },
	{ "GET", "/assets/", web_assets_serve },
	{ "GET", "/", web_pages_services },	/* only "/": web_head */
	{ NULL, NULL, NULL },
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
	    "go.micro.web", PROXY_STRIP_BASE);
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

static void
web_drain(struct worker *w)
{
	web_live_drain(web_state(w)->live);
}

const struct role role_web = {
	.name = "web",
	.id = ROLE_WEB,
	.listens = 1,
	.init = web_init,
	.shutdown = web_shutdown,
	.drain = web_drain,
	.routes = web_routes,
	.head_handler = web_head,
};
