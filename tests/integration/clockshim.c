/*
 * LD_PRELOAD shim for test_registry.py: CLOCK_REALTIME (and gettimeofday)
 * shifted by the milliseconds written in the file MICROD_TEST_CLOCK_SHIFT
 * names, as an NTP step would shift them; CLOCK_MONOTONIC untouched.
 */
#define _GNU_SOURCE
#include <sys/time.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long
shift_ms(void)
{
	const char	*path = getenv("MICROD_TEST_CLOCK_SHIFT");
	long long	 ms = 0;
	FILE		*f;

	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(f, "%lld", &ms) != 1)
		ms = 0;
	fclose(f);
	return ms;
}

int
clock_gettime(clockid_t clock, struct timespec *ts)
{
	static int	(*real)(clockid_t, struct timespec *);
	long long	 ns;
	int		 rc;

	if (real == NULL)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT,
		    "clock_gettime");
	if ((rc = real(clock, ts)) != 0 || (clock != CLOCK_REALTIME &&
	    clock != CLOCK_REALTIME_COARSE))
		return rc;
	ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec +
	    shift_ms() * 1000000LL;
	ts->tv_sec = ns / 1000000000LL;
	ts->tv_nsec = ns % 1000000000LL;
	return 0;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}
