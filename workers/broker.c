/*
 * The broker role: pub/sub over websockets and HTTP (DESIGN.md §4,
 * doc/broker.md). The work is in broker/; this file is its routes.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "broker/broker.h"
#include "http.h"
#include "log.h"
#include "workers/worker.h"
#include "workers/broker.h"

int
broker_worker_attach(struct worker *w)
{
	const char	*cause;
	int		 busy;

	if (broker_init(w->base, w->conf, &cause) == -1) {
		/* Rings come free as old generations finish draining. */
		busy = errno == EBUSY;
		log_warnx("broker: %s%s", cause, busy ? ": retrying" : "");
		return busy ? WORKER_RETRY : -1;
	}
	broker_sessions_limit(w->conf->roles[w->role->id].max_connections);
	return 0;
}

void
broker_worker_detach(struct worker *w)
{
	broker_shutdown();
}

void
broker_worker_drain(struct worker *w)
{
	broker_sessions_end(worker_drain_check);
}

int
broker_worker_busy(struct worker *w)
{
	return broker_sessions_open() > 0;
}

void
broker_worker_sidecar(struct worker *w, struct http_request *req)
{
	broker_serve_ws(req, BROKER_WS_SUB | BROKER_WS_PUB, SIDECAR_ID);
}

static void
broker_route_sub(struct worker *w, struct http_request *req)
{
	broker_serve_ws(req, BROKER_WS_SUB, BROKER_ID);
}

static void
broker_route_pub_ws(struct worker *w, struct http_request *req)
{
	broker_serve_ws(req, BROKER_WS_PUB, BROKER_ID);
}

static void
broker_route_pub_post(struct worker *w, struct http_request *req)
{
	broker_serve_post(req);
}

static void
broker_route_stats(struct worker *w, struct http_request *req)
{
	broker_serve_stats(req);
}

static const struct worker_route broker_routes[] = {
	{ "GET", "/sub", broker_route_sub, WORKER_ROUTE_NO_HEAD },
	{ "GET", "/pub", broker_route_pub_ws, WORKER_ROUTE_NO_HEAD },
	{ "POST", "/pub", broker_route_pub_post, 0 },
	{ "GET", "/stats", broker_route_stats, 0 },
	{ NULL, NULL, NULL, 0 },
};

const struct role role_broker = {
	.name = "broker",
	.id = ROLE_BROKER,
	.error_id = BROKER_ID,
	.init = broker_worker_attach,
	.shutdown = broker_worker_detach,
	.drain = broker_worker_drain,
	.busy = broker_worker_busy,
	.routes = broker_routes,
};
