/*
 * CPU time and resident size of a local process from /proc, for workers
 * whose stats do not carry them (micro-top reads, never writes).
 */
#ifndef MICRO_TUI_PROCSTAT_H
#define MICRO_TUI_PROCSTAT_H

#include <stdint.h>

/* -1 if the process is gone or not readable. */
int	 procstat_read(int64_t, int64_t *cpu_ms, int64_t *rss);

#endif
