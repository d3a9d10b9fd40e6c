/*
 * The roles table: what each kind of worker runs. Each role is defined in
 * its own file; a role without handlers of its own still serves
 * GET /healthz on its listener.
 */
#include "config.h"

#include <stddef.h>

#include "workers/worker.h"	/* first: the role headers use its types */
#include "workers/api.h"
#include "workers/registry.h"

static const struct role role_registry = {
	.name = "registry",
	.id = ROLE_REGISTRY,
	.listens = 0,
	.init = registry_role_init,
	.shutdown = registry_role_shutdown,
	.cmds = registry_role_cmds,
};

static const struct role role_api = {
	.name = "api",
	.id = ROLE_API,
	.listens = 1,
	.error_id = "go.micro.api",
	.init = api_role_init,
	.shutdown = api_role_shutdown,
	.drain = api_role_drain,
	.busy = api_role_busy,
	.routes = api_routes,
	.head_handler = api_head,
};

const struct role *const roles[ROLE_COUNT] = {
	[ROLE_REGISTRY] = &role_registry,
	[ROLE_API] = &role_api,
	[ROLE_WEB] = &role_web,
	[ROLE_SIDECAR] = &role_sidecar,
	[ROLE_BROKER] = &role_broker,
};
