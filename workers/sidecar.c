/*
 * The sidecar role: the HTTP API that lets applications in any language
 * use microd (DESIGN.md §4): the registry, RPC and the broker.
 */
#include "config.h"

#include <stddef.h>

#include "workers/sidecar-registry.h"
#include "workers/worker.h"

static const struct worker_route sidecar_routes[] = {
	{ "GET", "/registry", sidecar_registry_get },
	{ "POST", "/registry", sidecar_registry_post },
	{ "DELETE", "/registry", sidecar_registry_delete },
	{ NULL, NULL, NULL },
};

const struct role role_sidecar = {
	.name = "sidecar",
	.id = ROLE_SIDECAR,
	.listens = 1,
	.routes = sidecar_routes,
};
