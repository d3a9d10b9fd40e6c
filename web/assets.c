/*
 * GET /assets/NAME: the files compiled in from web/assets/. They change
 * only with the binary, so a strong ETag of their content lets browsers
 * revalidate cheaply.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "util.h"
#include "web/assets.h"
#include "web/html.h"
#include "web/web.h"
#include "workers/worker.h"

#define ASSETS_PREFIX	"/assets/"

static const struct {
	const char	*suffix;
	const char	*type;
} assets_types[] = {
	{ ".css", "text/css; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".html", "text/html; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
};

const struct web_asset *
web_asset_find(const char *name)
{
	const struct web_asset	*a;

	for (a = web_assets; a->name != NULL; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

static const char *
assets_type(const char *name)
{
	size_t	 i, len = strlen(name), slen;

	for (i = 0; i < nitems(assets_types); i++) {
		slen = strlen(assets_types[i].suffix);
		if (len > slen && strcmp(name + len - slen,
		    assets_types[i].suffix) == 0)
			return assets_types[i].type;
	}
	return "application/octet-stream";
}

/* FNV-1a: a content hash for the ETag, not a security boundary. */
static void
assets_etag(const struct web_asset *a, char *buf, size_t len)
{
	uint64_t	 h = util_fnv1a(UTIL_FNV_BASIS, a->data, a->len);

	snprintf(buf, len, "\"%016llx\"", (unsigned long long)h);
}

/*
 * If-None-Match (RFC 9110 13.1.2): "*" or a list of entity tags, compared
 * weakly (a W/ prefix does not count). Caches merge tags into lists.
 */
static int
assets_etag_matches(const char *header, const char *etag)
{
	const char	*p = header, *end;
	size_t		 len = strlen(etag);

	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p != '"' || (end = strchr(p + 1, '"')) == NULL)
			return 0;
		if ((size_t)(end + 1 - p) == len && strncmp(p, etag, len) == 0)
			return 1;
		p = end + 1;
	}
}

void
web_assets_serve(struct worker *w, struct http_request *req)
{
	const char		*path = http_request_path(req);
	const char		*match;
	const struct web_asset	*a = NULL;
	struct http_headers	*h = http_reply_headers(req);
	char			 etag[24];

	http_reply_data_headers(req);
	if (strncmp(path, ASSETS_PREFIX, strlen(ASSETS_PREFIX)) == 0)
		a = web_asset_find(path + strlen(ASSETS_PREFIX));
	if (a == NULL) {
		http_reply_error(req, 404, WEB_ID, "no such asset");
		return;
	}
	assets_etag(a, etag, sizeof(etag));
	http_headers_set(h, "ETag", etag);
	http_headers_set(h, "Cache-Control", "no-cache");
	match = http_request_header(req, "If-None-Match");
	if (match != NULL && assets_etag_matches(match, etag))
		http_reply(req, 304, NULL, NULL, 0);
	else
		http_reply(req, 200, assets_type(a->name), a->data, a->len);
}
