/*
 * The etcd registry backend's state, shared by its two halves:
 * registry-etcd.c follows the store (list, watch, reconnect) and
 * etcd-local.c keeps this host's registrations in it (leases, puts).
 */
#ifndef MICRO_PLUGINS_ETCD_H
#define MICRO_PLUGINS_ETCD_H

#include <stdint.h>

#include "plugins/etcd-proto.h"
#include "registry/backend.h"

/*
 * A key in a log line (util_printable): at most this many bytes of it, NUL
 * included. Anyone may write any bytes under the prefix.
 */
#define ETCD_KEY_LOGGED		200

struct etcd_local;
struct etcd_lease;

struct etcd {
	const struct registry_host *host;
	struct etcd_client	*client;
	char			*prefix;	/* ends in '/' */
	int			 form_2016;	/* nodes written with "port" */

	/* Following the store. */
	struct curlev_xfer	*sync;		/* auth, range or watch */
	struct etcd_lines	 lines;
	struct event		*retry;
	struct event		*resync;	/* connected: write ours again */
	struct event		*refresh;	/* write what is dirty */
	struct event		*probe_tick;	/* while a watch runs */
	struct curlev_xfer	*probe;
	uint64_t		 backoff_ms;
	int			 connected;
	int			 failing;	/* a run of failures warned */
	int			 relist;	/* list before watching */
	int64_t			 list_revision;	/* of the listing's pages, 0 */
	int64_t			 page;		/* keys per page, halved when
						   one is too large */
	size_t			 listed;	/* keys in the pages so far */
	int64_t			 revision;	/* everything up to it seen */
	char			 cluster[ETCD_CLUSTER_MAX]; /* its id, or "" */
	char			*error;

	/* This host's registrations. */
	struct etcd_local	*locals;
	struct etcd_lease	*leases;
	struct event		*rewrite;	/* failed writes again */
	uint64_t		 rewrite_ms;	/* its backoff; 0: none failed */
};

void	 etcd_log(struct etcd *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/* The wait after ms (0: none yet) before the next retry, bounded. */
uint64_t etcd_backoff_next(uint64_t);

/* The backend's put and del (registry/backend.h); arg is the etcd. */
void	 etcd_local_put(void *, const char *, uint64_t);
void	 etcd_local_del(void *, const char *);
/*
 * A key of ours was deleted in the store (not by us): put it back, from
 * the refresh event (this runs inside libcurl's callback).
 */
void	 etcd_local_deleted(struct etcd *, const char *);
/* A put of a key seen in the watch, on that lease (0: none). */
void	 etcd_local_put_seen(struct etcd *, const char *, int64_t);
/* Write every registration the store may not have. */
void	 etcd_local_refresh(struct etcd *);
/* Connected again: write every registration again. */
void	 etcd_local_resync(struct etcd *);
/* The rewrite timer: what failed to be written, again. */
void	 etcd_local_retry(struct etcd *);
/* Cancel everything; revoke=1 also takes the keys out of the store. */
void	 etcd_local_free(struct etcd *, int);

#endif
