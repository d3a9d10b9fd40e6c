/*
 * What micro-top knows about one microd: the last stats event (status and
 * workers) and the last services list, plus the rates derived from two
 * consecutive samples. Anything microd does not report stays "unknown"
 * (-1 or NaN) and prints as "-".
 */
#ifndef MICRO_TUI_MODEL_H
#define MICRO_TUI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

struct model_status {
	char		 version[32];
	char		 host[64];
	char		 backend[32];
	char		 last_error[160];	/* registry backend */
	char		 reload_error[160];
	char		 crashloop[160];	/* "api/1 web/0" */
	int64_t		 pid, uptime, generation, workers;
	int		 connected;		/* -1 unknown */
	int64_t		 revision, lag_ms, services, nodes;
	int64_t		 full_errors;		/* changes a full shm refused */
	int		 full;			/* and it is full now */
};

struct model_worker {
	char		 role[16];
	int64_t		 id, pid;
	char		 state[16];
	int64_t		 restarts, started, connections;
	int64_t		 requests, errors;
	int64_t		 cpu_ms;		/* user+system, cumulative */
	int64_t		 rss;			/* bytes */
	double		 req_rate, err_rate, cpu_pct;
};

struct model_service {
	char		*name;			/* whole, cut only when drawn */
	char		 versions[64];		/* "1.0.0,2.0.0" */
	int64_t		 nodes, healthy;
	int64_t		 requests;		/* through this host */
	double		 req_rate, p99_ms;
};

struct model {
	struct model_status	 st;
	struct model_worker	*workers;
	size_t			 nworkers;
	struct model_service	*services;	/* sorted by name */
	size_t			 nservices;
	int			 have_services;
	uint64_t		 stats_ms;	/* monotonic, last sample */
	unsigned		 samples;
	unsigned		 service_samples;	/* with service rows */
	double			 req_rate, err_rate;	/* all workers */
};

void	 model_init(struct model *);
void	 model_clear(struct model *);
/* A "stats" event's data at monotonic time now_ms. */
int	 model_apply_stats(struct model *, const msgpack_object *, uint64_t,
	    const char **);
/* The JSON text of a `services` reply. */
int	 model_apply_services(struct model *, const char *, const char **);

#endif
