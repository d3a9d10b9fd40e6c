/*
 * Node selection for the RPC client and the proxies: random, round-robin
 * or least-outstanding among the nodes of a service (optionally of one
 * version), with passive health: a node whose calls fail fail_max times in
 * a row (refused, reset, timed out) is ejected for eject_ms, doubled on
 * each consecutive ejection up to eject_max_ms; a success forgives it.
 *
 * The state is the worker's own (no sharing, no locks), keyed by service
 * and node id, so it survives registry updates that keep a node's id; a
 * node's health is judged at its address: at another, it starts afresh.
 * Entries idle for a while are swept, so departed nodes do not pile up.
 * Ejections and answers are also published, with plain stores into the
 * process's own table, in the host's node health (shm/nodehealth.h): so
 * now_ms must be util_now_ms(), the clock the master compares with.
 */
#ifndef MICRO_RPC_SELECT_H
#define MICRO_RPC_SELECT_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

enum select_policy {
	SELECT_RANDOM,
	SELECT_ROUNDROBIN,
	SELECT_LEASTCONN,
};

enum select_outcome {
	SELECT_OK,		/* the node answered (even with an error) */
	SELECT_FAILED,		/* transport failure: counts to ejection */
	SELECT_ABANDONED,	/* the caller's doing: no verdict */
};

struct select_config {
	enum select_policy	 policy;
	unsigned		 fail_max;	/* 0: never eject */
	uint64_t		 eject_ms;
	uint64_t		 eject_max_ms;
};

/* A node as the caller copied it out of the registry. */
struct select_node {
	const char	*id;
	const char	*address;
	const char	*version;
	uint32_t	 flags;		/* SHM_NODE_* */
};

struct selector;

/* "random", "roundrobin", "leastconn"; -1 for anything else. */
int		 select_policy_parse(const char *, enum select_policy *);
struct selector	*selector_new(const struct select_config *, uint64_t seed);
void		 selector_free(struct selector *);

/*
 * Pick one of nodes[0..n) of version (NULL: any) whose tried[i] is 0
 * (tried may be NULL). Ejected nodes are picked only when every other
 * candidate is ejected too: a service whose nodes all look sick is still
 * tried rather than refused outright. Returns an index, or -1 if no node
 * is a candidate.
 */
ssize_t		 selector_pick(struct selector *, const char *service,
		    const struct select_node *, size_t n, const char *version,
		    const uint8_t *tried, uint64_t now_ms);
/* A call to the node starts / ends (every start is ended once). */
void		 selector_start(struct selector *, const char *service,
		    const struct select_node *, uint64_t now_ms);
void		 selector_end(struct selector *, const char *service,
		    const struct select_node *, enum select_outcome,
		    uint64_t now_ms);
/* 1 if the node is ejected at now_ms (tests, status). */
int		 selector_ejected(struct selector *, const char *service,
		    const struct select_node *, uint64_t now_ms);
/* Calls in flight to the node. */
unsigned	 selector_outstanding(struct selector *, const char *service,
		    const struct select_node *);

#endif
