/* The broker role: pub/sub (DESIGN.md §4). */
#include "config.h"

#include <stddef.h>

#include "workers/worker.h"

const struct role role_broker = {
	.name = "broker",
	.id = ROLE_BROKER,
	.listens = 1,
};
