/*
 * Logging. One line per call, written with a single write(2) so lines from
 * the master and its workers never interleave mid-line on a shared stderr.
 * A message is made UTF-8 (utf8_repair), its control characters written
 * as '?' (log_scrub) and a long one cut (log_cut) before the line goes to
 * stderr and the sink alike.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "utf8.h"

#define LOG_LINE_MAX	2048
/* What marks a line cut short: "…", U+2026. */
#define LOG_CUT		"\xe2\x80\xa6"
#define LOG_CUT_LEN	(sizeof(LOG_CUT) - 1)
/* Lines a call site may log at once (log_limit); then one a second. */
#define LOG_BURST	20
#define LOG_SITES	64

struct log_site {
	const char		*site;		/* LOG_SITE */
	time_t			 last;		/* tokens added, in s */
	unsigned		 tokens;
	unsigned long long	 left_out;	/* since its last line */
};

static const char	*log_name = "microd";
static char		 log_proc[32];
static enum log_level	 log_level = LOG_LEVEL_INFO;
static int		 log_journal;
static log_sink_fn	 log_sink;
static int		 log_socket;	/* stderr is, and is not waited for */
static unsigned long long log_dropped;	/* since the last line written */
static struct log_site	 log_sites[LOG_SITES];
static int		 log_sites_busy;	/* a thread holds them */

static const struct {
	const char	*name;
	enum log_level	 level;
} log_levels[] = {
	{ "error", LOG_LEVEL_ERR },
	{ "warn", LOG_LEVEL_WARN },
	{ "info", LOG_LEVEL_INFO },
	{ "debug", LOG_LEVEL_DEBUG },
};

/*
 * Whether stderr is the journal's stream: JOURNAL_STREAM names its
 * device and inode (systemd.exec(5)), and a process run by a service
 * with stderr sent elsewhere (a wrapper's log file) still has it set.
 */
static int
log_stderr_is_journal(void)
{
	const char		*env = getenv("JOURNAL_STREAM");
	unsigned long long	 dev, ino;
	struct stat		 sb;

	return env != NULL && sscanf(env, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &sb) == 0 && sb.st_dev == dev &&
	    sb.st_ino == ino;
}

void
log_init(const char *name, enum log_level level)
{
	log_name = name;
	log_level = level;
	log_journal = log_stderr_is_journal();
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

/*
 * A process whose lines reach a sink drops those stderr cannot take at
 * once rather than wait: a full pipe or journald stream nobody reads
 * would otherwise stop its event loop at the next line. A pipe is
 * reopened as stderr, an open file description of our own, so that
 * O_NONBLOCK does not reach the processes sharing the inherited one; a
 * socket is sent to with MSG_DONTWAIT. A file or a terminal is written
 * to as before.
 */
static void
log_nowait(void)
{
	struct stat	 st;
	int		 fd;

	if (fstat(STDERR_FILENO, &st) == -1)
		return;
	log_socket = S_ISSOCK(st.st_mode);
	if (!S_ISFIFO(st.st_mode) || (fd = open("/proc/self/fd/2",
	    O_WRONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return;
	dup2(fd, STDERR_FILENO);
	close(fd);
}

void
log_set_sink(log_sink_fn sink)
{
	log_sink = sink;
	if (sink != NULL)
		log_nowait();
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

/*
 * Messages carry peers' bytes (names from a registry backend, its
 * errors): a control character would end the line and start a forged
 * one, with a "<N>" journald takes for its priority, or reach an
 * operator's terminal as an escape. Each, C1 ones in UTF-8 too, becomes
 * '?'. The length left.
 */
static size_t
log_scrub(char *s, size_t len)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i, o;

	for (i = o = 0; i < len; i++, o++) {
		if (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 &&
		    u[i + 1] <= 0x9f) {
			s[o] = '?';
			i++;
		} else if (u[i] < 0x20 || u[i] == 0x7f)
			s[o] = '?';
		else
			s[o] = s[i];
	}
	return o;
}

/*
 * The message as UTF-8, for journald to store it as text: msg itself, or
 * in *fixed if it had to be repaired. Only such a message allocates:
 * xmalloc's own fatal() ("malloc N") cannot come back here.
 */
static char *
log_utf8(char *msg, size_t *len, char **fixed)
{
	const unsigned char	*u = (const unsigned char *)msg;
	size_t			 i, n;

	for (i = 0; i < *len; i += n) {
		if ((n = utf8_sequence(u + i, *len - i)) == 0) {
			*fixed = utf8_repair(msg, *len, len);
			return *fixed;
		}
	}
	return msg;
}

size_t
log_cut(const char *text, size_t len, char *out, size_t max)
{
	size_t	 cut;

	if (len <= max) {
		memcpy(out, text, len);
		return len;
	}
	cut = max - LOG_CUT_LEN;
	while (cut > 0 && ((unsigned char)text[cut] & 0xc0) == 0x80)
		cut--;
	memcpy(out, text, cut);
	memcpy(out + cut, LOG_CUT, LOG_CUT_LEN);
	return cut + LOG_CUT_LEN;
}

/* One write of line to stderr: a socket is waited for only if wait. */
static ssize_t
log_write(const char *line, size_t len, int wait)
{
	ssize_t	 w;

	do {
		if (log_socket)
			w = send(STDERR_FILENO, line, len, MSG_NOSIGNAL |
			    (wait ? 0 : MSG_DONTWAIT));
		else
			w = write(STDERR_FILENO, line, len);
	} while (w == -1 && errno == EINTR);
	return w;
}

/*
 * The whole line to stderr, or -1. A stream socket may take part of it:
 * its reader is reading, and the rest waits for it, or the next line
 * would be glued on.
 */
static int
log_put(const char *line, size_t len)
{
	ssize_t	 w;
	int	 wait = 0;

	while ((w = log_write(line, len, wait)) != -1 && (size_t)w < len) {
		line += w;
		len -= w;
		wait = 1;
	}
	return w == -1 ? -1 : 0;
}

/* n once snprintf() at line + n returned m, leaving room for '\n'. */
static int
log_fit(int n, int m)
{
	return m < 0 || n + m >= LOG_LINE_MAX - 1 ? LOG_LINE_MAX - 2 : n + m;
}

/* "<N>microd[pid]: proc: " in buf, LOG_LINE_MAX bytes; its length. */
static int
log_prefix(char *buf, enum log_level level)
{
	int	 n = 0;

	if (log_journal)
		n = snprintf(buf, LOG_LINE_MAX, "<%d>", level);
	return log_fit(n, snprintf(buf + n, LOG_LINE_MAX - n, "%s[%d]: %s%s",
	    log_name, (int)getpid(), log_proc, log_proc[0] ? ": " : ""));
}

/*
 * A line to stderr, after saying how many were dropped before it (the
 * sink has them all); one more dropped if it cannot be written either.
 */
static void
log_stderr(const char *line, size_t len)
{
	char	 note[LOG_LINE_MAX];
	int	 n;

	if (log_dropped > 0) {
		n = log_prefix(note, LOG_LEVEL_WARN);
		n = log_fit(n, snprintf(note + n, sizeof(note) - n,
		    "%llu lines dropped: stderr was full", log_dropped));
		note[n++] = '\n';
		if (log_put(note, n) == -1) {
			log_dropped++;
			return;
		}
		log_dropped = 0;
	}
	if (log_put(line, len) == -1)
		log_dropped++;
}

/*
 * Some lines a peer can cause at will (a request refused, a node that
 * fails for each call): one each time would fill the disk or the
 * journal, and push every other line out of the log ring. A call site,
 * known by LOG_SITE, may log LOG_BURST lines at once, then one a
 * second; its next line says how many it left out. The sites used
 * least recently make room for new ones. Threads (cnats's) take the
 * table in turn. -1: leave this line out.
 */
static int
log_limit(const char *site, unsigned long long *left_out)
{
	struct log_site	*s = NULL, *old = &log_sites[0];
	struct timespec	 ts;
	size_t		 i;
	int		 rv = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	while (__atomic_exchange_n(&log_sites_busy, 1, __ATOMIC_ACQUIRE))
		sched_yield();
	for (i = 0; i < LOG_SITES && s == NULL; i++) {
		if (log_sites[i].site == site)
			s = &log_sites[i];
		else if (log_sites[i].last < old->last)
			old = &log_sites[i];
	}
	if (s == NULL) {
		s = old;
		s->site = site;
		s->tokens = LOG_BURST;
		s->left_out = 0;
	} else if (ts.tv_sec - s->last < LOG_BURST - s->tokens)
		s->tokens += ts.tv_sec - s->last;
	else
		s->tokens = LOG_BURST;
	s->last = ts.tv_sec;
	if (s->tokens == 0) {
		s->left_out++;
		rv = -1;
	} else {
		s->tokens--;
		*left_out = s->left_out;
		s->left_out = 0;
	}
	__atomic_store_n(&log_sites_busy, 0, __ATOMIC_RELEASE);
	return rv;
}

/*
 * A line, rate limited if it has a site. The message is formatted apart
 * from the prefix, in a buffer longer than the line has room for: one
 * that did not fit is longer than that room whatever vsnprintf left of
 * it, and log_cut marks it cut.
 */
static void
log_vwrite(enum log_level level, const char *site, const char *why,
    const char *fmt, va_list ap)
{
	char			 msg[LOG_LINE_MAX], line[LOG_LINE_MAX];
	char			*text, *fixed = NULL;
	size_t			 len;
	int			 n, pre;
	unsigned long long	 left_out = 0;

	if (level > log_level || (site != NULL &&
	    log_limit(site, &left_out) == -1))
		return;
	n = log_fit(0, vsnprintf(msg, sizeof(msg), fmt, ap));
	if (why != NULL)
		n = log_fit(n, snprintf(msg + n, sizeof(msg) - n, ": %s", why));
	if (left_out > 0)
		n = log_fit(n, snprintf(msg + n, sizeof(msg) - n,
		    " (%llu similar lines left out)", left_out));
	len = n;
	text = log_utf8(msg, &len, &fixed);
	pre = log_prefix(line, level);
	/* Cut first: scrubbed, a long line may shrink to look whole. */
	n = log_cut(text, len, line + pre, sizeof(line) - 1 - pre);
	n = pre + log_scrub(line + pre, n);
	free(fixed);
	line[n++] = '\n';
	log_stderr(line, n);
	if (log_sink != NULL)
		log_sink(level, line + pre, n - 1 - pre);
}

#define LOG_VA(level, site, why) do {				\
	va_list	 ap;						\
	va_start(ap, fmt);					\
	log_vwrite((level), (site), (why), fmt, ap);		\
	va_end(ap);						\
} while (0)

void
log_site_warn(const char *site, const char *fmt, ...)
{
	const char	*why = strerror(errno);

	LOG_VA(LOG_LEVEL_WARN, site, why);
}

void
log_site_warnx(const char *site, const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_WARN, site, NULL);
}

void
log_site_info(const char *site, const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_INFO, site, NULL);
}

/* Only warnings and info lines are rate limited. */
void
log_site_at(const char *site, enum log_level level, const char *fmt, ...)
{
	if (level < LOG_LEVEL_WARN)
		level = LOG_LEVEL_WARN;
	else if (level != LOG_LEVEL_INFO && level != LOG_LEVEL_WARN)
		level = LOG_LEVEL_DEBUG;
	LOG_VA(level, level == LOG_LEVEL_DEBUG ? NULL : site, NULL);
}

void
log_debug(const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_DEBUG, NULL, NULL);
}

void
log_vhost(log_host_fn log, void *core, int level, const char *fmt,
    va_list ap)
{
	char	*msg;

	if (vasprintf(&msg, fmt, ap) == -1) {
		log(core, level, fmt);	/* out of memory: the line's shape */
		return;
	}
	log(core, level, msg);
	free(msg);
}

void
fatal(const char *fmt, ...)
{
	const char	*why = strerror(errno);

	LOG_VA(LOG_LEVEL_ERR, NULL, why);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_ERR, NULL, NULL);
	exit(1);
}
