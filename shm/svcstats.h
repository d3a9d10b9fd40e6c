/*
 * Per-service request statistics of this host (doc/shm-layout.md, "Service
 * statistics"): what the RPC client and the reverse proxy of each worker
 * sent to each service, how many failed and how long they took.
 *
 * The master creates the segment before forking: one fixed table per shm
 * slot. A process binds to its slot and is the only writer of that table,
 * so recording is a lookup in a small open-addressing table and a few
 * plain stores, no atomic read-modify-write. Anyone (the master's stats
 * stream, the web's /metrics) reads every table without a lock and merges
 * them by service name.
 *
 * Tables are never reset: a slot handed to a new process keeps what its
 * predecessors counted. So the host-wide sums only grow for the life of
 * the master, as Prometheus counters must, whatever the workers do.
 */
#ifndef MICRO_SHM_SVCSTATS_H
#define MICRO_SHM_SVCSTATS_H

#include <stddef.h>
#include <stdint.h>

#define SVCSTATS_VERSION	1
/* Name bytes, NUL included; longer names are shortened (svcstats.c). */
#define SVCSTATS_NAME_MAX	128
/* Latency buckets: SVCSTATS_BOUNDS upper bounds, then +Inf. */
#define SVCSTATS_BOUNDS		12
#define SVCSTATS_BUCKETS	(SVCSTATS_BOUNDS + 1)
/* Where a table that is full counts every new service. */
#define SVCSTATS_OTHER		"(other)"

/* Upper bounds of the buckets in microseconds, 1 ms .. 5 s. */
extern const uint64_t	 svcstats_bounds_us[SVCSTATS_BOUNDS];

/* One service, merged over every table. */
struct svcstats_service {
	char		 name[SVCSTATS_NAME_MAX];
	uint64_t	 requests;	/* = the sum of the buckets */
	uint64_t	 errors;	/* 5xx and transport failures */
	uint64_t	 sum_us;	/* latencies, added up */
	uint64_t	 buckets[SVCSTATS_BUCKETS];	/* not cumulative */
};

/* Master, before forking: a table for each of nslots slots. */
int		 svcstats_create(unsigned nslots, const char **cause);

/*
 * The calling process records into the table of slot from now on. Until
 * then, and when the segment does not exist or slot is out of range,
 * svcstats_record does nothing.
 */
void		 svcstats_bind(unsigned slot);

/* A monotonic clock in microseconds, to time what is recorded. */
uint64_t	 svcstats_clock_us(void);

/* One finished request to service: its latency, and whether it failed. */
void		 svcstats_record(const char *service, uint64_t latency_us,
		    int failed);

/*
 * Every service with at least one request, merged over the tables and
 * sorted by name; *n is their number. The array is the caller's to free
 * (NULL when *n is 0).
 */
struct svcstats_service *svcstats_collect(size_t *n);

/*
 * Quantile q (0 < q < 1) in milliseconds, estimated from the histogram
 * the way Prometheus' histogram_quantile does; NaN without requests.
 */
double		 svcstats_quantile_ms(const struct svcstats_service *,
		    double q);

#endif
