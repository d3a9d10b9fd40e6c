/*
 * The roles table: what each kind of worker runs. A role without handlers
 * of its own still serves GET /healthz on its listener.
 */
#include "config.h"

#include <stddef.h>

#include "workers/worker.h"	/* first: the role headers use its types */
#include "workers/registry.h"
#include "workers/sidecar-registry.h"

static const struct worker_route sidecar_routes[] = {
	{ "GET", "/registry", sidecar_registry_get },
	{ "POST", "/registry", sidecar_registry_post },
	{ "DELETE", "/registry", sidecar_registry_delete },
	{ NULL, NULL, NULL },
};

const struct role roles[ROLE_COUNT] = {
	[ROLE_REGISTRY] = {
		.name = "registry",
		.id = ROLE_REGISTRY,
		.listens = 0,
		.init = registry_role_init,
		.shutdown = registry_role_shutdown,
		.cmds = registry_role_cmds,
	},
	[ROLE_API] = {
		.name = "api",
		.id = ROLE_API,
		.listens = 1,
	},
	[ROLE_WEB] = {
		.name = "web",
		.id = ROLE_WEB,
		.listens = 1,
	},
	[ROLE_SIDECAR] = {
		.name = "sidecar",
		.id = ROLE_SIDECAR,
		.listens = 1,
		.routes = sidecar_routes,
	},
	[ROLE_BROKER] = {
		.name = "broker",
		.id = ROLE_BROKER,
		.listens = 1,
	},
};
