/*
 * Per-node passive health of this host (doc/shm-layout.md, "Node
 * health"): for each (service, node id) a worker's RPC client has called,
 * until when its selector ejects the node and when the node last answered.
 * The selector keeps this state privately (rpc/select.c); this is its
 * published copy, so the master can tell micro-top which nodes are sick.
 *
 * The master creates the segment before forking: one fixed table per shm
 * slot. A process binds to its slot and is the only writer of that table,
 * so an update is a probe in a small open-addressing table and a few
 * plain stores inside a per-entry sequence count, no atomic
 * read-modify-write. The master reads every table without a lock; the
 * sequence count lets it detect, and retry, an entry read mid-update.
 */
#ifndef MICRO_SHM_NODEHEALTH_H
#define MICRO_SHM_NODEHEALTH_H

#include <stdint.h>

#define NODEHEALTH_VERSION	1
/* Entries per table (a power of two): the nodes one worker keeps. */
#define NODEHEALTH_ENTRIES	256
/* Key bytes: "service", NUL, "node id", NUL; longer keys are not kept. */
#define NODEHEALTH_KEY_MAX	216

/* One node as this host sees it, merged over every table. */
struct nodehealth {
	uint64_t	 last_ok;	/* wall ms of the last answer, 0 never */
	int		 ejected;	/* by some worker at the time asked */
};

/* What did not fit, summed over the tables. */
struct nodehealth_overflow {
	uint64_t	 evicted;	/* entries replaced in full tables */
	uint64_t	 untracked;	/* updates for keys too long to keep */
};

/* Master, before forking: a table for each of nslots slots. */
int		 nodehealth_create(unsigned nslots, const char **cause);

/*
 * The calling process writes the table of slot from now on. A process
 * taking over a slot from another one clears the ejections it inherits
 * (its selector starts afresh) and keeps when nodes last answered. Until
 * then, and when the segment does not exist or slot is out of range,
 * updates do nothing.
 */
void		 nodehealth_bind(unsigned slot);

/* The node answered a call at wall time wall_ms. */
void		 nodehealth_answered(const char *service, const char *id,
		    uint64_t wall_ms);
/* The selector ejected the node until until_ms (monotonic clock). */
void		 nodehealth_ejected(const char *service, const char *id,
		    uint64_t until_ms);

/* The node over every table; ejected compares with now_ms (monotonic). */
void		 nodehealth_get(const char *service, const char *id,
		    uint64_t now_ms, struct nodehealth *);
void		 nodehealth_overflow(struct nodehealth_overflow *);

#endif
