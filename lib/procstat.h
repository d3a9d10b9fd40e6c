/*
 * CPU time and resident size of a process from /proc: the master reports
 * them for every worker in `workers` and the stats stream.
 */
#ifndef MICRO_PROCSTAT_H
#define MICRO_PROCSTAT_H

#include <stdint.h>

/* -1 if the process is gone or not readable. */
int	 procstat_read(int64_t, int64_t *cpu_ms, int64_t *rss);

#endif
