/*
 * The sidecar role: the HTTP API that lets applications in any language
 * use microd (DESIGN.md §4): the registry, RPC, the broker, and the
 * health check that keeps its app registered while it answers.
 */
#include "config.h"

#include <stddef.h>

#include "workers/worker.h"	/* first: the role headers use its types */
#include "workers/broker.h"
#include "workers/sidecar-health.h"
#include "workers/sidecar-registry.h"
#include "workers/sidecar-rpc.h"

static const struct worker_route sidecar_routes[] = {
	{ "GET", "/registry", sidecar_registry_get, 0 },
	{ "POST", "/registry", sidecar_registry_post, 0 },
	{ "DELETE", "/registry", sidecar_registry_delete, 0 },
	{ "GET", "/broker", broker_worker_sidecar, WORKER_ROUTE_NO_HEAD },
	{ NULL, "/rpc", sidecar_rpc, 0 },
	{ "POST", "/", sidecar_rpc_path, 0 },	/* last: a catch-all */
	{ NULL, NULL, NULL, 0 },
};

/* The master's messages. */
static const struct worker_cmd sidecar_cmds[] = {
	{ "app", sidecar_health_app },
	{ NULL, NULL },
};

/* Apps publish and subscribe through the same shared rings as brokers. */
static int
sidecar_init(struct worker *w)
{
	int	 rc;

	if ((rc = broker_worker_attach(w)) != 0)
		return rc;
	if (sidecar_rpc_init(w) == -1)
		return -1;
	return sidecar_health_init(w);
}

static void
sidecar_drain(struct worker *w)
{
	broker_worker_drain(w);
	sidecar_rpc_drain(w);
}

static int
sidecar_busy(struct worker *w)
{
	return broker_worker_busy(w) || sidecar_health_busy(w);
}

static void
sidecar_shutdown(struct worker *w)
{
	sidecar_health_shutdown(w);
	sidecar_rpc_shutdown(w);
	broker_worker_detach(w);
}

const struct role role_sidecar = {
	.name = "sidecar",
	.id = ROLE_SIDECAR,
	.error_id = SIDECAR_ID,
	.init = sidecar_init,
	.shutdown = sidecar_shutdown,
	.drain = sidecar_drain,
	.busy = sidecar_busy,
	.cmds = sidecar_cmds,
	.routes = sidecar_routes,
};
