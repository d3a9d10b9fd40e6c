#include "config.h"

#include "microd/backoff.h"

uint64_t
backoff_next(struct backoff *b, uint64_t lived_ms)
{
	uint64_t	 delay;
	unsigned	 shift;

	if (lived_ms >= BACKOFF_STABLE_MS)
		b->failures = 0;
	b->failures++;
	if (b->failures == 1)
		return 0;
	shift = b->failures - 2;
	if (shift >= 16)
		return BACKOFF_MAX_MS;
	delay = (uint64_t)BACKOFF_BASE_MS << shift;
	return delay > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay;
}

int
backoff_crashlooping(const struct backoff *b)
{
	return b->failures >= BACKOFF_CRASHLOOP;
}
