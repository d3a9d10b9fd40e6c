/* CORS headers and preflights (rpc/cors.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "rpc/cors.h"
#include "util.h"

#define CORS_METHODS	"POST, GET, OPTIONS, PUT, DELETE"
#define CORS_HEADERS	"Content-Type, Content-Length, Accept-Encoding, " \
			"X-CSRF-Token, Authorization, Timeout"
#define CORS_MAX_AGE	"600"

struct cors {
	char	 *list;		/* comma separated, blanks removed */
	int	  any;
};

/* 1 if s is one of the comma-separated entries of list (no case). */
static int
cors_listed(const char *list, const char *s)
{
	const char	*p;
	size_t		 n, len = strlen(s);

	for (p = list; *p != '\0'; p += n + (p[n] == ',')) {
		n = strcspn(p, ",");
		if (n == len && strncasecmp(p, s, n) == 0)
			return 1;
	}
	return 0;
}

struct cors *
cors_new(const char *list)
{
	struct cors	*c;
	const char	*p;
	char		*q;

	if (list == NULL || list[strspn(list, " \t,")] == '\0')
		return NULL;
	c = xcalloc(1, sizeof(*c));
	q = c->list = xmalloc(strlen(list) + 1);
	for (p = list; *p != '\0'; p++)
		if (*p != ' ' && *p != '\t')
			*q++ = *p;
	*q = '\0';
	c->any = cors_listed(c->list, "*");
	return c;
}

void
cors_free(struct cors *c)
{
	if (c == NULL)
		return;
	free(c->list);
	free(c);
}

/*
 * "null" is the origin of sandboxed frames, data: and file: pages: any
 * page can send it, so "*" does not cover it; listed, it is allowed.
 */
static int
cors_allowed(const struct cors *c, const char *origin)
{
	return cors_listed(c->list, origin) ||
	    (c->any && strcasecmp(origin, "null") != 0);
}

int
cors_overrides(const struct http_headers *reply, const char *name)
{
	return strncasecmp(name, "Access-Control-", 15) == 0 &&
	    http_headers_get(reply, "Access-Control-Allow-Origin") != NULL;
}

int
cors_apply(const struct cors *c, struct http_request *req)
{
	struct http_headers	*h;
	const char		*origin, *want;

	if (c == NULL)
		return 0;
	h = http_reply_headers(req);
	/*
	 * Every answer depends on Origin, those without CORS headers too: a
	 * cache keyed on the URL alone would hand one origin's answer to
	 * another (Fetch, "CORS protocol and HTTP caches").
	 */
	http_headers_add(h, "Vary", "Origin");
	if ((origin = http_request_header(req, "Origin")) == NULL ||
	    !cors_allowed(c, origin))
		return 0;
	http_headers_set(h, "Access-Control-Allow-Origin", origin);
	http_headers_set(h, "Access-Control-Allow-Credentials", "true");
	if (strcmp(http_request_method(req), "OPTIONS") != 0 ||
	    http_request_header(req, "Access-Control-Request-Method") == NULL)
		return 0;
	http_headers_set(h, "Access-Control-Allow-Methods", CORS_METHODS);
	want = http_request_header(req, "Access-Control-Request-Headers");
	http_headers_set(h, "Access-Control-Allow-Headers",
	    want != NULL ? want : CORS_HEADERS);
	http_headers_set(h, "Access-Control-Max-Age", CORS_MAX_AGE);
	http_reply(req, 204, NULL, NULL, 0);
	return 1;
}
