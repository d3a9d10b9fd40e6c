/*
 * Path mapping as micro's api handler does it (MM16 pathToReceiver, GM1
 * toCamel): up to two segments name the service by the first and the
 * method by all; /vN/a/b versions the service; otherwise the last two
 * segments are the method and the rest the service.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "rpc/route.h"
#include "util.h"

struct route_segs {
	const char	*p[ROUTE_SEGMENT_MAX];
	size_t		 len[ROUTE_SEGMENT_MAX];
	size_t		 n;
};

static int
route_name_char(int c)
{
	return isascii(c) && (isalnum(c) || c == '-');
}

/* Split "/a/b/c" into segments; -1 on empty or invalid segments. */
static int
route_split(const char *path, struct route_segs *s, const char **cause)
{
	const char	*p = path, *start;

	s->n = 0;
	if (*p == '/')
		p++;
	while (*p != '\0') {
		if (s->n == ROUTE_SEGMENT_MAX) {
			*cause = "path has too many segments";
			return -1;
		}
		for (start = p; route_name_char((unsigned char)*p); p++)
			;
		if (p == start || (*p != '/' && *p != '\0')) {
			*cause = "invalid path: segments must be [a-zA-Z0-9-]";
			return -1;
		}
		s->p[s->n] = start;
		s->len[s->n++] = p - start;
		if (*p == '/')
			p++;
	}
	if (s->n == 0) {
		*cause = "no service in path";
		return -1;
	}
	return 0;
}

static int
route_is_version(const char *p, size_t len)
{
	size_t	 i;

	if (len < 2 || p[0] != 'v')
		return 0;
	for (i = 1; i < len; i++)
		if (!isdigit((unsigned char)p[i]))
			return 0;
	return 1;
}

/* Append src to dst (size dstsz, holding *used bytes); -1 if it overflows. */
static int
route_append(char *dst, size_t dstsz, size_t *used, const char *src,
    size_t len)
{
	if (*used + len >= dstsz)
		return -1;
	memcpy(dst + *used, src, len);
	*used += len;
	dst[*used] = '\0';
	return 0;
}

/* "ns" + ".seg" for segments [from, to). */
static int
route_service(const char *ns, const struct route_segs *s, size_t from,
    size_t to, char *out, size_t outsz)
{
	size_t	 used = 0, i;

	out[0] = '\0';
	if (route_append(out, outsz, &used, ns, strlen(ns)) == -1)
		return -1;
	for (i = from; i < to; i++) {
		if (used > 0 && route_append(out, outsz, &used, ".", 1) == -1)
			return -1;
		if (route_append(out, outsz, &used, s->p[i], s->len[i]) == -1)
			return -1;
	}
	return 0;
}

/* Camel-case one segment: "say-hi" -> "SayHi". */
static int
route_camel(const char *p, size_t len, char *out, size_t outsz,
    size_t *used)
{
	size_t	 i;
	int	 upper = 1;
	char	 c;

	for (i = 0; i < len; i++) {
		if (p[i] == '-') {
			upper = 1;
			continue;
		}
		c = upper ? toupper((unsigned char)p[i]) : p[i];
		upper = 0;
		if (route_append(out, outsz, used, &c, 1) == -1)
			return -1;
	}
	return 0;
}

/* Method from segments [from, n): camel-cased, joined by '.'. */
static int
route_method(const struct route_segs *s, size_t from, char *out,
    size_t outsz)
{
	size_t	 used = 0, i;

	out[0] = '\0';
	for (i = from; i < s->n; i++) {
		if (i > from && route_append(out, outsz, &used, ".", 1) == -1)
			return -1;
		if (route_camel(s->p[i], s->len[i], out, outsz, &used) == -1)
			return -1;
	}
	return used == 0 ? -1 : 0;
}

int
route_from_path(const char *ns, const char *path, struct route *r,
    const char **cause)
{
	struct route_segs	 s;
	size_t			 svc_end, method_from;

	if (route_split(path, &s, cause) == -1)
		return -1;
	if (s.n <= 2) {
		svc_end = 1;
		method_from = 0;
	} else if (s.n == 3 && route_is_version(s.p[0], s.len[0])) {
		svc_end = 2;
		method_from = 1;
	} else {
		svc_end = s.n - 2;
		method_from = s.n - 2;
	}
	if (route_service(ns, &s, 0, svc_end, r->service,
	    sizeof(r->service)) == -1 ||
	    route_method(&s, method_from, r->method, sizeof(r->method)) == -1) {
		*cause = "path too long";
		return -1;
	}
	return 0;
}

/* The byte at *p, percent-decoded if written %XX; *p moves past it. */
static int
route_path_byte(const char **p)
{
	const char	*s = *p;
	int		 hi, lo;

	if (s[0] == '%' && (hi = util_hexval(s[1])) >= 0 &&
	    (lo = util_hexval(s[2])) >= 0) {
		*p += 3;
		return hi << 4 | lo;
	}
	*p += 1;
	return (unsigned char)s[0];
}

/*
 * The end of the path closes the last segment. A ';' starts a segment's
 * parameters: "..;x" is ".." to Tomcat, Jetty and Spring.
 */
int
route_has_dot_segment(const char *path)
{
	size_t	 len = 0, dots = 0;
	int	 c, end, params = 0;

	for (;;) {
		end = *path == '\0';
		c = end ? '/' : route_path_byte(&path);
		if (c != '/' && c != '\\') {
			params |= c == ';';
			if (!params) {
				len++;
				dots += c == '.';
			}
			continue;
		}
		if (len > 0 && len <= 2 && dots == len)
			return 1;
		if (end)
			return 0;
		len = dots = params = 0;
	}
}

int
route_valid_proxy_name(const char *p, size_t len)
{
	size_t	 i;

	if (len == 0 || p[0] == '-' || p[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++) {
		if (!route_name_char((unsigned char)p[i]))
			return 0;
		if (p[i] == '-' && p[i + 1] == '-')
			return 0;
	}
	return 1;
}

/* The next segment of *p (leading '/' skipped); *p moves past it. */
static const char *
route_next_segment(const char **p, size_t *len)
{
	const char	*seg;

	if (**p == '/')
		(*p)++;
	seg = *p;
	*len = strcspn(seg, "/");
	*p += *len;
	return seg;
}

int
route_proxy_service(const char *ns, const char *path, char *out,
    size_t outsz, const char **cause)
{
	const char	*p = path, *ver = NULL, *name;
	size_t		 verlen = 0, len, used = 0;

	name = route_next_segment(&p, &len);
	if (route_is_version(name, len) && *p == '/') {
		ver = name;
		verlen = len;
		name = route_next_segment(&p, &len);
	}
	if (!route_valid_proxy_name(name, len)) {
		*cause = "invalid service name in path";
		return -1;
	}
	out[0] = '\0';
	if (route_append(out, outsz, &used, ns, strlen(ns)) == -1 ||
	    (ver != NULL && (route_append(out, outsz, &used, ".", 1) == -1 ||
	    route_append(out, outsz, &used, ver, verlen) == -1)) ||
	    route_append(out, outsz, &used, ".", 1) == -1 ||
	    route_append(out, outsz, &used, name, len) == -1) {
		*cause = "service name too long";
		return -1;
	}
	return 0;
}
