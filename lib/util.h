/*
 * Small helpers every binary needs: allocation that cannot fail, clocks,
 * durations, and "host:port" addresses.
 */
#ifndef MICRO_UTIL_H
#define MICRO_UTIL_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <stddef.h>
#include <stdint.h>

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* Out of memory is fatal: these never return NULL. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* FNV-1a: start with UTIL_FNV_BASIS, pass the result on to continue. */
#define UTIL_FNV_BASIS	0xcbf29ce484222325ULL
uint64_t	 util_fnv1a(uint64_t, const void *, size_t);

uint64_t	 util_now_ms(void);	/* CLOCK_MONOTONIC */
uint64_t	 util_wall_ms(void);	/* CLOCK_REALTIME */
/* A duration in ms as the timeval libevent takes. */
struct timeval	 util_timeval(uint64_t);
/* The retry wait after ms (0: none yet): first, then doubled up to max. */
uint64_t	 util_backoff_next(uint64_t ms, uint64_t first, uint64_t max);
/*
 * A wait from util_backoff_next less up to half of it at random, so that
 * hosts which lost a server together do not all knock at once when it is
 * back. Wait this, but pass util_backoff_next the unjittered value: the
 * jitter must not compound.
 */
uint64_t	 util_backoff_jitter(uint64_t ms);

/* A number with a unit suffix from a table ("" for none). */
struct util_unit {
	const char	*suffix;
	uint64_t	 mult;
};
int	 util_parse_units(const char *, const struct util_unit *, size_t,
	    uint64_t *);
/*
 * "30s", "500ms", "2m", "1h", "1m30s", "1.5s" (Go's time.ParseDuration,
 * unsigned), or a bare number of seconds; in ms.
 */
int	 util_parse_duration_ms(const char *, uint64_t *);
/* "512", "64K", "4M", "1G" (either case). */
int	 util_parse_size(const char *, uint64_t *);
/* 0..15 for a hex digit, -1 otherwise. */
int	 util_hexval(char);
/* s without the blanks (space, tab, CR, LF) around it: in place. */
char	*util_trim(char *s);
/* Whether text holds word: ASCII letters in either case, in any locale. */
int	 util_ascii_contains(const char *text, const char *word);
/* Comma separated lists (addresses): items trimmed, empty ones skipped. */
char	*util_list_next(char **);
size_t	 util_list_count(const char *);
/*
 * s fit for a log line, in buf (len >= 4 bytes): control characters shown
 * as '?', so that no byte of it forges a line or talks to a terminal, cut
 * with "..." when longer. Returns buf.
 */
const char *util_printable(const char *s, char *buf, size_t len);

/*
 * Parse "host:port", "[v6]:port" or ":port" into a sockaddr (numeric hosts,
 * "localhost" and "*" only: a daemon must not block on DNS at start).
 * Returns -1 and sets *cause (static string) on error.
 */
int	 util_parse_addr(const char *, struct sockaddr_storage *, socklen_t *,
	    const char **);
/* Format as "host:port" ("[v6]:port" for IPv6) into buf. */
char	*util_format_addr(const struct sockaddr *, char *, size_t);

int	 util_set_nonblock(int);
/*
 * Make stdout keep the errno of its first failed write (before any output;
 * not under ncurses, which writes to stdout's fd): stdio keeps only a flag
 * and drops what it held, so the last fflush may have nothing left to fail
 * with, and no errno to say why.
 */
void	 util_stdout_keep(void);
/*
 * Flush stdout: NULL if everything written reached it, else why not (a
 * full disk, a reader gone with SIGPIPE ignored), static text.
 */
const char *util_stdout_lost(void);
/*
 * Put /dev/null, opened the wrong way round, on each of fds 0-2 that is
 * closed: a socket opened later would take it, and microctl or micro-top
 * would read their input from microd or print into its socket. Using one
 * still fails with EBADF, as the closed one did. -1 if /dev/null cannot
 * be opened.
 */
int	 util_hold_stdio(void);

#endif
