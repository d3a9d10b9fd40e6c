/*
 * The roles table: what each kind of worker runs. Each role is defined in
 * its own file (workers/<role>.c); a role without handlers of its own
 * still serves GET /healthz on its listener.
 */
#include "config.h"

#include <stddef.h>

#include "workers/worker.h"

const struct role *const roles[ROLE_COUNT] = {
	[ROLE_REGISTRY] = &role_registry,
	[ROLE_API] = &role_api,
	[ROLE_WEB] = &role_web,
	[ROLE_SIDECAR] = &role_sidecar,
	[ROLE_BROKER] = &role_broker,
};
