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
#include "util.h"
#include "web/web.h"
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

/*
 * "/" is a prefix route, so this sees every path no other route took:
 * the dashboard's home, or a page that does not exist.
 */
static void
web_root(struct worker *w, struct http_request *req)
{
	if (strcmp(http_request_path(req), "/") == 0)
		web_pages_services(w, req);
	else
		web_not_found(req, "There is no page at this address.");
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
	{ "GET", "/", web_root },
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
};
