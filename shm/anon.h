/*
 * The tables beside the registry segment (service statistics, node
 * health, log rings): anonymous shared memory the master maps before it
 * forks, inherited by every worker, which nothing outside the daemon
 * attaches to.
 */
#ifndef MICRO_SHM_ANON_H
#define MICRO_SHM_ANON_H

#include <stddef.h>

#define SHM_ANON_SLOTS_MAX	65536
/* n rounded up to a cache line, so that no two tables share one. */
#define SHM_ANON_ROUND(n)	(((n) + 63) & ~(size_t)63)

/* size bytes, zero-filled, for nslots slots; NULL with *cause. */
void	*shm_anon_create(unsigned nslots, size_t size, const char **cause);

#endif
