/*
 * The "local" backend: the registry of one host. The core's sqlite file
 * is the whole store, so there is nothing to write elsewhere and the
 * backend is always in sync.
 */
#include "config.h"

#include <stddef.h>

#include "registry/backend.h"

static void *
backend_local_open(const struct registry_host *host, const char **cause)
{
	const struct registry_sync	 sync = { 1, 0, NULL };

	/*
	 * This store knows no other host: its full listing is empty. It
	 * sweeps the nodes another backend taught the file before a switch
	 * to local, which no relist or TTL would ever remove otherwise.
	 */
	host->relist_begin(host->core);
	host->relist_end(host->core);
	host->sync(host->core, &sync);
	return host->core;
}

const struct registry_backend registry_backend_local = {
	.abi = REGISTRY_BACKEND_ABI,
	.name = "local",
	.open = backend_local_open,
};
