/*
 * Logging. One line per call, written with a single write(2) so lines from
 * the master and its workers never interleave mid-line on a shared stderr.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX	2048

static const char	*log_name = "microd";
static char		 log_proc[32];
static enum log_level	 log_level = LOG_LEVEL_INFO;
static int		 log_journal;
static log_sink_fn	 log_sink;

static const struct {
	const char	*name;
	enum log_level	 level;
} log_levels[] = {
	{ "error", LOG_LEVEL_ERR },
	{ "warn", LOG_LEVEL_WARN },
	{ "info", LOG_LEVEL_INFO },
	{ "debug", LOG_LEVEL_DEBUG },
};

void
log_init(const char *name, enum log_level level)
{
	log_name = name;
	log_level = level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void
log_procname(const char *proc)
{
	snprintf(log_proc, sizeof(log_proc), "%s", proc);
}

void
log_setlevel(enum log_level level)
{
	log_level = level;
}

enum log_level
log_getlevel(void)
{
	return log_level;
}

const char *
log_level_name(enum log_level level)
{
	size_t	 i;

	for (i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++) {
		if (log_levels[i].level == level)
			return log_levels[i].name;
	}
	return "?";
}

void
log_set_sink(log_sink_fn sink)
{
	log_sink = sink;
}

int
log_parse_level(const char *s, enum log_level *level)
{
	size_t	 i;

	for (i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++) {
		if (strcasecmp(s, log_levels[i].name) == 0) {
			*level = log_levels[i].level;
			return 0;
		}
	}
	return -1;
}

static void
log_vwrite(enum log_level level, const char *why, const char *fmt,
    va_list ap)
{
	char	 line[LOG_LINE_MAX];
	int	 n = 0, m, msg;
	ssize_t	 w;

	if (level > log_level)
		return;
	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>", level);
	m = snprintf(line + n, sizeof(line) - n, "%s[%d]: %s%s", log_name,
	    (int)getpid(), log_proc, log_proc[0] ? ": " : "");
	n += m;
	msg = n;
	m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = (m < 0 || (size_t)(n + m) >= sizeof(line) - 1) ?
	    (int)sizeof(line) - 2 : n + m;
	if (why != NULL) {
		m = snprintf(line + n, sizeof(line) - n, ": %s", why);
		n = (m < 0 || (size_t)(n + m) >= sizeof(line) - 1) ?
		    (int)sizeof(line) - 2 : n + m;
	}
	line[n++] = '\n';
	do {
		w = write(STDERR_FILENO, line, n);
	} while (w == -1 && errno == EINTR);
	if (log_sink != NULL)
		log_sink(level, line + msg, n - 1 - msg);
}

#define LOG_VA(level, why) do {					\
	va_list	 ap;						\
	va_start(ap, fmt);					\
	log_vwrite((level), (why), fmt, ap);			\
	va_end(ap);						\
} while (0)

void
log_warn(const char *fmt, ...)
{
	const char	*why = strerror(errno);

	LOG_VA(LOG_LEVEL_WARN, why);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_WARN, NULL);
}

void
log_info(const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_INFO, NULL);
}

void
log_debug(const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_DEBUG, NULL);
}

void
fatal(const char *fmt, ...)
{
	const char	*why = strerror(errno);

	LOG_VA(LOG_LEVEL_ERR, why);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_ERR, NULL);
	exit(1);
}
