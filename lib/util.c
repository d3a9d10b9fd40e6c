#include "config.h"

#include <sys/random.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		fatal("malloc %zu", n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if ((p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size)) == NULL)
		fatal("calloc %zu x %zu", nmemb, size);
	return p;
}

void *
xrealloc(void *old, size_t n)
{
	void	*p;

	if ((p = realloc(old, n == 0 ? 1 : n)) == NULL)
		fatal("realloc %zu", n);
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("strdup");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		fatal("strndup");
	return p;
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatal("vasprintf");
	return n;
}

static uint64_t
util_clock_ms(clockid_t id)
{
	struct timespec	 ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
util_fnv1a(uint64_t h, const void *p, size_t len)
{
	const unsigned char	*s = p;

	while (len-- > 0)
		h = (h ^ *s++) * 0x100000001b3ULL;
	return h;
}

uint64_t
util_now_ms(void)
{
	return util_clock_ms(CLOCK_MONOTONIC);
}

uint64_t
util_wall_ms(void)
{
	return util_clock_ms(CLOCK_REALTIME);
}

struct timeval
util_timeval(uint64_t ms)
{
	struct timeval	 tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

int
util_parse_units(const char *s, const struct util_unit *units, size_t n,
    uint64_t *out)
{
	char			*end;
	unsigned long long	 v;
	size_t			 i;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (v > UINT64_MAX / units[i].mult)
			return -1;
		*out = v * units[i].mult;
		return 0;
	}
	return -1;
}

/* Go's duration units, in ns; "ms" before "m", which would match it. */
static const struct util_unit util_duration_units[] = {
	{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 },
	{ "\xce\xbcs", 1000 }, { "ms", 1000000 }, { "s", 1000000000ULL },
	{ "m", 60000000000ULL }, { "h", 3600000000000ULL },
};

static const struct util_unit *
util_duration_unit(const char **p)
{
	size_t	 i, n;

	for (i = 0; i < nitems(util_duration_units); i++) {
		n = strlen(util_duration_units[i].suffix);
		if (strncmp(*p, util_duration_units[i].suffix, n) == 0) {
			*p += n;
			return &util_duration_units[i];
		}
	}
	return NULL;
}

/*
 * One term of a duration ("90", "1.5" and a unit) at *p, in ns, *p moved
 * past it; UINT64_MAX if it does not fit, so that a range check says
 * "too large". Digits of the fraction finer than a nanosecond are dropped.
 */
static int
util_duration_term(const char **p, uint64_t *ns)
{
	const struct util_unit	*u;
	const char		*s = *p, *frac = NULL;
	uint64_t		 whole = 0, part, scale;
	int			 digits = 0, over = 0;

	for (; isdigit((unsigned char)*s); s++, digits++) {
		over |= whole > (UINT64_MAX - 9) / 10;
		whole = whole * 10 + (uint64_t)(*s - '0');
	}
	if (*s == '.')
		for (frac = ++s; isdigit((unsigned char)*s); s++)
			digits++;
	if (digits == 0 || (u = util_duration_unit(&s)) == NULL)
		return -1;
	over |= whole > UINT64_MAX / u->mult;
	part = whole * u->mult;
	for (scale = u->mult / 10; frac != NULL && isdigit((unsigned char)*frac);
	    frac++, scale /= 10)
		part += (uint64_t)(*frac - '0') * scale;
	over |= part < whole * u->mult;
	*ns = over ? UINT64_MAX : part;
	*p = s;
	return 0;
}

/*
 * A duration as Go's time.ParseDuration reads it ("1m30s", "1.5s",
 * "500ms", "250us"; what go-micro's clients write), but without a sign,
 * or a bare number of seconds; in ms, fractions of a ms dropped.
 */
int
util_parse_duration_ms(const char *s, uint64_t *ms)
{
	static const struct util_unit seconds[] = { { "", 1000 } };
	uint64_t	 ns = 0, term;

	if (util_parse_units(s, seconds, nitems(seconds), ms) == 0)
		return 0;
	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		if (util_duration_term(&s, &term) == -1)
			return -1;
		ns = ns + term < ns ? UINT64_MAX : ns + term;
	}
	/* Under a ms is 1 ms: 0 would be no TTL, no timeout at all. */
	*ms = ns != 0 && ns < 1000000 ? 1 : ns / 1000000;
	return 0;
}

int
util_parse_size(const char *s, uint64_t *bytes)
{
	static const struct util_unit units[] = {
		{ "", 1 },
		{ "K", 1ULL << 10 }, { "k", 1ULL << 10 },
		{ "M", 1ULL << 20 }, { "m", 1ULL << 20 },
		{ "G", 1ULL << 30 }, { "g", 1ULL << 30 },
	};

	return util_parse_units(s, units, nitems(units), bytes);
}

char *
util_trim(char *s)
{
	size_t	 n;

	s += strspn(s, " \t\r\n");
	for (n = strlen(s); n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL; n--)
		s[n - 1] = '\0';
	return s;
}

/*
 * The next item of a comma separated list, blanks around it trimmed,
 * empty items skipped; NULL at the end. *rest is cut up as by strsep.
 */
char *
util_list_next(char **rest)
{
	char	*item;

	while ((item = strsep(rest, ",")) != NULL) {
		item = util_trim(item);
		if (*item != '\0')
			return item;
	}
	return NULL;
}

size_t
util_list_count(const char *list)
{
	char	*copy, *rest;
	size_t	 n = 0;

	copy = rest = xstrdup(list);
	while (util_list_next(&rest) != NULL)
		n++;
	free(copy);
	return n;
}

static int
util_ascii_fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int
util_ascii_contains(const char *text, const char *word)
{
	size_t	 i;

	for (; *text != '\0'; text++) {
		for (i = 0; word[i] != '\0' && util_ascii_fold(text[i]) ==
		    util_ascii_fold(word[i]); i++)
			;
		if (word[i] == '\0')
			return 1;
	}
	return *word == '\0';
}

const char *
util_printable(const char *s, char *buf, size_t len)
{
	size_t	 i;

	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	if (s[i] != '\0')
		memcpy(buf + i - 3, "...", 3);
	return buf;
}

int
util_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
util_parse_port(const char *s, uint16_t *port)
{
	char		*end;
	unsigned long	 v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
util_parse_addr(const char *addr, struct sockaddr_storage *ss,
    socklen_t *len, const char **cause)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	char			 host[128];
	const char		*colon, *h;
	uint16_t		 port;

	memset(ss, 0, sizeof(*ss));
	if ((colon = strrchr(addr, ':')) == NULL) {
		*cause = "missing :port";
		return -1;
	}
	if (util_parse_port(colon + 1, &port) == -1) {
		*cause = "bad port";
		return -1;
	}
	if ((size_t)(colon - addr) >= sizeof(host)) {
		*cause = "host too long";
		return -1;
	}
	memcpy(host, addr, colon - addr);
	host[colon - addr] = '\0';
	h = host;
	if (h[0] == '[') {
		size_t	 n = strlen(h);

		if (n < 2 || h[n - 1] != ']') {
			*cause = "bad IPv6 address";
			return -1;
		}
		host[n - 1] = '\0';
		h++;
		if (inet_pton(AF_INET6, h, &sin6->sin6_addr) != 1) {
			*cause = "bad IPv6 address";
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	if (*h == '\0' || strcmp(h, "*") == 0)
		h = "0.0.0.0";
	else if (strcmp(h, "localhost") == 0)
		h = "127.0.0.1";
	if (inet_pton(AF_INET, h, &sin->sin_addr) != 1) {
		*cause = "host is not a numeric address";
		return -1;
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	*len = sizeof(*sin);
	return 0;
}

char *
util_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else
		snprintf(buf, len, "unknown");
	return buf;
}

int
util_set_nonblock(int fd)
{
	int	 flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return -1;
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

uint64_t
util_backoff_next(uint64_t ms, uint64_t first, uint64_t max)
{
	if (ms == 0)
		return first;
	return ms * 2 > max ? max : ms * 2;
}

uint64_t
util_backoff_jitter(uint64_t ms)
{
	uint32_t	 r = 0;

	/* No entropy yet (early boot) is no reason to stop: the full wait. */
	(void)getrandom(&r, sizeof(r), GRND_NONBLOCK);
	return ms - r % (ms / 2 + 1);
}

int
util_hold_stdio(void)
{
	int	 fd;

	for (fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", fd == STDIN_FILENO ? O_WRONLY :
		    O_RDONLY) == -1)
			return -1;
	}
	return 0;
}

/* The first failed write's errno on util_stdout_keep's stdout, or 0. */
static int	 util_stdout_errno;

static ssize_t
util_stdout_write(void *cookie, const char *buf, size_t len)
{
	size_t	 done = 0;
	ssize_t	 n;

	/* glibc counts a short write as a failure: finish it here. */
	while (done < len) {
		if ((n = write(STDOUT_FILENO, buf + done, len - done)) == -1) {
			if (util_stdout_errno == 0)
				util_stdout_errno = errno;
			return -1;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

void
util_stdout_keep(void)
{
	cookie_io_functions_t	 io = { .write = util_stdout_write };
	FILE			*f;

	if ((f = fopencookie(NULL, "w", io)) == NULL)
		fatal("fopencookie");
	/* As stdio buffers fd 1: by line on a terminal, else by block. */
	if (isatty(STDOUT_FILENO))
		setvbuf(f, NULL, _IOLBF, BUFSIZ);
	stdout = f;
}

const char *
util_stdout_lost(void)
{
	int	 failed = fflush(stdout) == EOF;

	if (util_stdout_errno != 0)
		return strerror(util_stdout_errno);
	if (failed)
		return strerror(errno);
	return ferror(stdout) ? "write error" : NULL;
}
