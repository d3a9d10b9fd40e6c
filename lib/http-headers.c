#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "http.h"
#include "http-int.h"
#include "log.h"
#include "util.h"

/* Most messages have fewer headers than this: no array to allocate. */
#define HTTP_HEADERS_INLINE	12

/* name and value share one allocation: name, NUL, value, NUL. */
struct http_header {
	char		*name;
	char		*value;
	size_t		 name_len;	/* lookups compare lengths first */
};

/* An array: headers are few, and order matters on the wire. */
struct http_headers {
	struct http_header	*v;
	size_t			 n;
	size_t			 cap;
	struct http_header	 inline_v[HTTP_HEADERS_INLINE];
};

int
http_token_chars(const char *s, size_t n)
{
	static const char	 extra[] = "!#$%&'*+-.^_`|~";
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) &&
		    (s[i] == '\0' || strchr(extra, s[i]) == NULL))
			return 0;
	}
	return 1;
}

struct http_headers *
http_headers_new(void)
{
	struct http_headers	*h = xcalloc(1, sizeof(*h));

	h->v = h->inline_v;
	h->cap = HTTP_HEADERS_INLINE;
	return h;
}

void
http_headers_clear(struct http_headers *h)
{
	size_t	 i;

	for (i = 0; i < h->n; i++)
		free(h->v[i].name);
	h->n = 0;
}

void
http_headers_free(struct http_headers *h)
{
	if (h == NULL)
		return;
	http_headers_clear(h);
	if (h->v != h->inline_v)
		free(h->v);
	free(h);
}

void
http_headers_add(struct http_headers *h, const char *name, const char *value)
{
	size_t	 nlen = strlen(name), vlen = strlen(value);
	char	*p;

	if (h->n == h->cap) {
		h->cap *= 2;
		if (h->v == h->inline_v) {
			h->v = xcalloc(h->cap, sizeof(*h->v));
			memcpy(h->v, h->inline_v, sizeof(h->inline_v));
		} else
			h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	p = xmalloc(nlen + vlen + 2);
	memcpy(p, name, nlen + 1);
	memcpy(p + nlen + 1, value, vlen + 1);
	h->v[h->n].name = p;
	h->v[h->n].value = p + nlen + 1;
	h->v[h->n].name_len = nlen;
	h->n++;
}

static int
http_header_is(const struct http_header *hd, const char *name, size_t len)
{
	return hd->name_len == len && strcasecmp(hd->name, name) == 0;
}

void
http_headers_remove(struct http_headers *h, const char *name)
{
	size_t	 i, j, len = strlen(name);

	for (i = j = 0; i < h->n; i++) {
		if (http_header_is(&h->v[i], name, len)) {
			free(h->v[i].name);
			continue;
		}
		h->v[j++] = h->v[i];
	}
	h->n = j;
}

void
http_headers_set(struct http_headers *h, const char *name, const char *value)
{
	http_headers_remove(h, name);
	http_headers_add(h, name, value);
}

const char *
http_headers_get(const struct http_headers *h, const char *name)
{
	size_t	 i, len = strlen(name);

	for (i = 0; i < h->n; i++) {
		if (http_header_is(&h->v[i], name, len))
			return h->v[i].value;
	}
	return NULL;
}

size_t
http_headers_count_of(const struct http_headers *h, const char *name)
{
	size_t	 i, n = 0, len = strlen(name);

	for (i = 0; i < h->n; i++)
		n += http_header_is(&h->v[i], name, len);
	return n;
}

/*
 * The next comma-separated item of a list at *p, trimmed; its length in
 * *n. Returns NULL past the last item.
 */
static const char *
http_headers_list_next(const char **p, size_t *n)
{
	const char	*item;

	*p += strspn(*p, " \t,");
	if (**p == '\0')
		return NULL;
	item = *p;
	*n = strcspn(item, ",");
	*p += *n;
	while (*n > 0 && (item[*n - 1] == ' ' || item[*n - 1] == '\t'))
		(*n)--;
	return item;
}

static int
http_headers_item_is(const char *item, size_t n, const char *token)
{
	return n == strlen(token) && strncasecmp(item, token, n) == 0;
}

/*
 * Count the items of every name header that are token (want 1) or are not
 * (want 0), no case.
 */
static size_t
http_headers_count_items(const struct http_headers *h, const char *name,
    const char *token, int want)
{
	const char	*p, *item;
	size_t		 i, n, count = 0, len = strlen(name);

	for (i = 0; i < h->n; i++) {
		if (!http_header_is(&h->v[i], name, len))
			continue;
		p = h->v[i].value;
		while ((item = http_headers_list_next(&p, &n)) != NULL)
			count += http_headers_item_is(item, n, token) == want;
	}
	return count;
}

int
http_headers_has_token(const struct http_headers *h, const char *name,
    const char *token)
{
	return http_headers_count_items(h, name, token, 1) > 0;
}

int
http_headers_has_other_token(const struct http_headers *h, const char *name,
    const char *token)
{
	return http_headers_count_items(h, name, token, 0) > 0;
}

int
http_header_hop(const char *name)
{
	static const char *const hop[] = {
		"Connection", "Keep-Alive", "Proxy-Connection",
		"Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
		"Transfer-Encoding", "Upgrade",
	};
	size_t	 i;

	for (i = 0; i < nitems(hop); i++)
		if (strcasecmp(name, hop[i]) == 0)
			return 1;
	return 0;
}

size_t
http_headers_count(const struct http_headers *h)
{
	return h->n;
}

int
http_headers_at(const struct http_headers *h, size_t i, const char **name,
    const char **value)
{
	if (i >= h->n)
		return 0;
	*name = h->v[i].name;
	*value = h->v[i].value;
	return 1;
}

void
http_header_line(struct evbuffer *out, const char *name, const char *value)
{
	struct evbuffer_iovec	 v;
	size_t			 nlen = strlen(name), vlen = strlen(value);
	char			*p;

	if (evbuffer_reserve_space(out, (ev_ssize_t)(nlen + vlen + 4), &v,
	    1) != 1)
		fatalx("evbuffer_reserve_space");
	p = v.iov_base;
	memcpy(p, name, nlen);
	memcpy(p + nlen, ": ", 2);
	memcpy(p + nlen + 2, value, vlen);
	memcpy(p + nlen + 2 + vlen, "\r\n", 2);
	v.iov_len = nlen + vlen + 4;
	evbuffer_commit_space(out, &v, 1);
}
