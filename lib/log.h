/*
 * Logging to stderr, OpenBSD style. Under systemd (JOURNAL_STREAM set) each
 * line carries a "<N>" syslog priority prefix that journald understands.
 * A message's control characters (C0, DEL, C1) are written as '?': a peer's
 * bytes in it cannot end the line, forge a priority or reach a terminal.
 * Warnings and info lines are rate limited per call site (its format): 20
 * at once, then one a second, the next one written saying how many were
 * left out.
 */
#ifndef MICRO_LOG_H
#define MICRO_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARN = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/*
 * Called after each line reaches stderr with its message alone: no
 * "<N>", no "name[pid]: proc: " (the sink knows who is logging), no
 * newline. It must not log. Once a process has a sink, a line stderr
 * cannot take at once (a full pipe or journald stream) is dropped there
 * rather than waited for; the next line written says how many were.
 */
typedef void	(*log_sink_fn)(enum log_level, const char *, size_t);

void	log_init(const char *, enum log_level);
void	log_set_sink(log_sink_fn);
void	log_procname(const char *);
void	log_setlevel(enum log_level);
enum log_level	log_getlevel(void);
int	log_parse_level(const char *, enum log_level *);
const char	*log_level_name(enum log_level);	/* "warn" */

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
/*
 * At a level a plugin gave: an error there is a warning here (only
 * microd's own fatal errors are errors), an unknown level debug.
 */
void	log_at(enum log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
