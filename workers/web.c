/* The web role: dashboard, reverse proxy and /metrics (DESIGN.md §4). */
#include "config.h"

#include <stddef.h>

#include "workers/worker.h"

const struct role role_web = {
	.name = "web",
	.id = ROLE_WEB,
	.listens = 1,
};
