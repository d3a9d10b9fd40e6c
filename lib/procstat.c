#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "procstat.h"

static int
procstat_cpu(int64_t pid, int64_t *cpu_ms)
{
	unsigned long long	 utime, stime;
	char			 path[64], buf[1024], *p;
	FILE			*f;
	size_t			 n;
	long			 hz;

	snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields start after the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &utime, &stime) != 2)
		return -1;
	if ((hz = sysconf(_SC_CLK_TCK)) <= 0)
		return -1;
	*cpu_ms = (int64_t)((utime + stime) * 1000 / (unsigned long long)hz);
	return 0;
}

static int
procstat_rss(int64_t pid, int64_t *rss)
{
	unsigned long long	 size, resident;
	char			 path[64];
	FILE			*f;
	int			 n;

	snprintf(path, sizeof(path), "/proc/%lld/statm", (long long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (n != 2)
		return -1;
	*rss = (int64_t)resident * sysconf(_SC_PAGESIZE);
	return 0;
}

int
procstat_read(int64_t pid, int64_t *cpu_ms, int64_t *rss)
{
	if (pid <= 0)
		return -1;
	if (procstat_cpu(pid, cpu_ms) == -1 || procstat_rss(pid, rss) == -1)
		return -1;
	return 0;
}
