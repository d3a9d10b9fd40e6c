/*
 * Respawn policy: the first restart is immediate, quick successive failures
 * double the delay up to a ceiling, and enough of them in a row is reported
 * as a crash loop (still retried, at the ceiling, never spun).
 */
#ifndef MICRO_BACKOFF_H
#define MICRO_BACKOFF_H

#include <stdint.h>

#define BACKOFF_BASE_MS		100
#define BACKOFF_MAX_MS		30000
#define BACKOFF_STABLE_MS	10000	/* a run this long resets the count */
#define BACKOFF_CRASHLOOP	5	/* quick failures in a row */

struct backoff {
	unsigned	 failures;	/* quick failures in a row */
};

/* A worker that ran for lived_ms exited: how long to wait before respawn. */
uint64_t	 backoff_next(struct backoff *, uint64_t lived_ms);
int		 backoff_crashlooping(const struct backoff *);

#endif
