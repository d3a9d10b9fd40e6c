#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "util.h"

struct http_header {
	char		*name;
	char		*value;
};

/* An array: headers are few, and order matters on the wire. */
struct http_headers {
	struct http_header	*v;
	size_t			 n;
	size_t			 cap;
};

struct http_headers *
http_headers_new(void)
{
	return xcalloc(1, sizeof(struct http_headers));
}

void
http_headers_clear(struct http_headers *h)
{
	size_t	 i;

	for (i = 0; i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].value);
	}
	h->n = 0;
}

void
http_headers_free(struct http_headers *h)
{
	if (h == NULL)
		return;
	http_headers_clear(h);
	free(h->v);
	free(h);
}

void
http_headers_add(struct http_headers *h, const char *name, const char *value)
{
	if (h->n == h->cap) {
		h->cap = h->cap == 0 ? 16 : h->cap * 2;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	h->v[h->n].name = xstrdup(name);
	h->v[h->n].value = xstrdup(value);
	h->n++;
}

void
http_headers_remove(struct http_headers *h, const char *name)
{
	size_t	 i, j;

	for (i = j = 0; i < h->n; i++) {
		if (strcasecmp(h->v[i].name, name) == 0) {
			free(h->v[i].name);
			free(h->v[i].value);
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
	size_t	 i;

	for (i = 0; i < h->n; i++) {
		if (strcasecmp(h->v[i].name, name) == 0)
			return h->v[i].value;
	}
	return NULL;
}

/* Is token one of the comma-separated items of list (no case)? */
static int
http_headers_list_has(const char *list, const char *token)
{
	size_t		 len = strlen(token), n;
	const char	*p = list;

	while (*p != '\0') {
		p += strspn(p, " \t,");
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == len && strncasecmp(p, token, len) == 0)
			return 1;
		p += strcspn(p, ",");
	}
	return 0;
}

int
http_headers_has_token(const struct http_headers *h, const char *name,
    const char *token)
{
	size_t	 i;

	for (i = 0; i < h->n; i++) {
		if (strcasecmp(h->v[i].name, name) == 0 &&
		    http_headers_list_has(h->v[i].value, token))
			return 1;
	}
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
