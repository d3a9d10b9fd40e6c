#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util.h"

/* Percent-decode len bytes in place ('+' to space if plus); -1 if bad. */
static int
http_percent_decode(char *s, size_t *len, int plus)
{
	size_t	 i, j;
	int	 hi, lo;

	for (i = j = 0; i < *len; i++) {
		if (s[i] == '%') {
			if (i + 2 >= *len)
				return -1;
			if ((hi = util_hexval(s[i + 1])) < 0 ||
			    (lo = util_hexval(s[i + 2])) < 0)
				return -1;
			s[j++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+' && plus)
			s[j++] = ' ';
		else
			s[j++] = s[i];
	}
	*len = j;
	return 0;
}

char *
http_query_decode(const char *s, size_t len)
{
	/* All len bytes: a NUL among them is refused below, not a stop. */
	char	*out = xmalloc(len + 1);

	memcpy(out, s, len);
	if (http_percent_decode(out, &len, 1) == -1 ||
	    memchr(out, '\0', len) != NULL) {
		free(out);
		return NULL;
	}
	out[len] = '\0';
	return out;
}

int
http_query_valid(const char *query)
{
	const char	*p;
	size_t		 n;
	char		*part;

	for (p = query; p != NULL && *p != '\0'; p += n + (p[n] != '\0')) {
		n = strcspn(p, "&;");
		if ((part = http_query_decode(p, n)) == NULL)
			return 0;
		free(part);
	}
	return 1;
}

char *
http_query_get(const char *query, const char *name)
{
	const char	*p, *eq;
	size_t		 n;
	char		*key;
	int		 match;

	if (query == NULL)
		return NULL;
	for (p = query; *p != '\0'; p += n + (p[n] != '\0')) {
		n = strcspn(p, "&;");
		eq = memchr(p, '=', n);
		if ((key = http_query_decode(p, eq ? (size_t)(eq - p) : n))
		    == NULL)
			continue;
		match = strcmp(key, name) == 0;
		free(key);
		if (!match)
			continue;
		if (eq == NULL)
			return xstrdup("");
		return http_query_decode(eq + 1, n - (size_t)(eq + 1 - p));
	}
	return NULL;
}
