/*
 * Logging to stderr, OpenBSD style. Under systemd (JOURNAL_STREAM set) each
 * line carries a "<N>" syslog priority prefix that journald understands.
 * A message's control characters (C0, DEL, C1) are written as '?': a peer's
 * bytes in it cannot end the line, forge a priority or reach a terminal.
 * Bytes that are not UTF-8 become U+FFFD (utf8_repair), and a line too long
 * is cut on a character boundary and ends with "…" (U+2026), as the log
 * ring keeps it: journald stores the line as text, not as a blob.
 * Warnings and info lines are rate limited per call site (LOG_SITE, its
 * file and line): 20 at once, then one a second, the next one written
 * saying how many were left out.
 */
#ifndef MICRO_LOG_H
#define MICRO_LOG_H

#include <stdarg.h>
#include <stddef.h>

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

/*
 * The text of len bytes in out, or if more than max, the whole characters
 * of it that leave room for "…" marking the cut; its length. The text
 * is UTF-8 (repaired): what stderr and the log ring keep of a long line.
 */
size_t	log_cut(const char *text, size_t len, char *out, size_t max);

/*
 * "file.c:123": what a line's rate limit knows its call site by. Sites
 * that share a format (a plain "%s") keep budgets of their own.
 */
#define LOG_SITE		__FILE__ ":" LOG_SITE_LINE(__LINE__)
#define LOG_SITE_LINE(n)	LOG_SITE_STR(n)
#define LOG_SITE_STR(n)		#n

#define log_warn(...)	log_site_warn(LOG_SITE, __VA_ARGS__)
#define log_warnx(...)	log_site_warnx(LOG_SITE, __VA_ARGS__)
#define log_info(...)	log_site_info(LOG_SITE, __VA_ARGS__)
/*
 * At a level a plugin gave: an error there is a warning here (only
 * microd's own fatal errors are errors), an unknown level debug.
 */
#define log_at(...)	log_site_at(LOG_SITE, __VA_ARGS__)

void	log_site_warn(const char *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_site_warnx(const char *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_site_info(const char *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_site_at(const char *, enum log_level, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));

/*
 * A plugin's message formatted whole and handed to its host's log
 * callback, which cuts a long line on a character boundary as above (a
 * buffer cut here could split a character).
 */
typedef void	(*log_host_fn)(void *, int, const char *);
void	log_vhost(log_host_fn, void *, int, const char *, va_list)
	    __attribute__((format(printf, 4, 0)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
