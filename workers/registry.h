/*
 * The registry role: exactly one process, the only writer of the shm
 * registry. It applies register/deregister requests relayed by the master
 * (doc/control-protocol.md) through the registry core (registry/core.h).
 */
#ifndef MICRO_WORKERS_REGISTRY_H
#define MICRO_WORKERS_REGISTRY_H

#include "workers/worker.h"

/* Loads the database into shm before returning: lookups work at once. */
int	registry_role_init(struct worker *);
void	registry_role_shutdown(struct worker *);

extern const struct worker_cmd registry_role_cmds[];

#endif
