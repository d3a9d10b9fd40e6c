/* The plain-JSON-object scanner (see jscan.h), after RFC 8259's grammar. */
#include "config.h"

#include <string.h>

#include "jscan.h"

/* Longest number vouched for: an int64 or a double holds it exactly. */
#define JSCAN_DIGITS_MAX	15

struct jscan {
	const char	*p;
	const char	*end;
	int		 depth;
	int		 any;	/* the text is valid: take all of JSON */
};

static int	 jscan_value(struct jscan *);

static void
jscan_ws(struct jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
jscan_at(struct jscan *s, char c)
{
	return s->p < s->end && *s->p == c;
}

/* A string, s->p on its opening quote; *escaped if it holds escapes. */
static int
jscan_string(struct jscan *s, int *escaped)
{
	unsigned char	 c;

	*escaped = 0;
	for (s->p++; s->p < s->end; s->p++) {
		c = (unsigned char)*s->p;
		if (c == '"') {
			s->p++;
			return 0;
		}
		if (c < 0x20 || (c >= 0x80 && !s->any))
			return -1;
		if (c == '\\') {
			if (++s->p == s->end || strchr(s->any ?
			    "\"\\/bfnrtu" : "\"\\/bfnrt", *s->p) == NULL ||
			    *s->p == '\0')
				return -1;
			*escaped = 1;
		}
	}
	return -1;
}

static int
jscan_digits(struct jscan *s, int *n)
{
	const char	*start = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	*n += (int)(s->p - start);
	return s->p > start ? 0 : -1;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)?, no exponent, few digits. */
static int
jscan_number(struct jscan *s)
{
	int	 n = 0;

	if (jscan_at(s, '-'))
		s->p++;
	if (jscan_at(s, '0')) {
		s->p++;
		n++;
	} else if (jscan_digits(s, &n) == -1)
		return -1;
	if (jscan_at(s, '.')) {
		s->p++;
		if (jscan_digits(s, &n) == -1)
			return -1;
	}
	if (s->any && (jscan_at(s, 'e') || jscan_at(s, 'E'))) {
		s->p++;
		if (jscan_at(s, '+') || jscan_at(s, '-'))
			s->p++;
		return jscan_digits(s, &n);
	}
	if (jscan_at(s, 'e') || jscan_at(s, 'E') ||
	    (s->p < s->end && *s->p >= '0' && *s->p <= '9'))
		return -1;
	return n <= JSCAN_DIGITS_MAX || s->any ? 0 : -1;
}

static int
jscan_word(struct jscan *s, const char *w)
{
	size_t	 n = strlen(w);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return -1;
	s->p += n;
	return 0;
}

/*
 * The members of an object or the elements of an array, s->p on its
 * opening bracket; member (objects only) is called for each.
 */
static int
jscan_container(struct jscan *s, char close, jscan_member_cb cb, void *arg)
{
	struct jscan_member	 m;
	int			 esc;

	if (++s->depth > JSCAN_DEPTH_MAX)
		return -1;
	s->p++;
	jscan_ws(s);
	if (jscan_at(s, close)) {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			m.key = s->p + 1;
			if (!jscan_at(s, '"') || jscan_string(s, &esc) == -1 ||
			    esc)
				return -1;
			m.key_len = (size_t)(s->p - m.key - 1);
			jscan_ws(s);
			if (!jscan_at(s, ':'))
				return -1;
			s->p++;
			jscan_ws(s);
		}
		m.value = s->p;
		if (jscan_value(s) == -1)
			return -1;
		m.value_len = (size_t)(s->p - m.value);
		m.escaped = m.value[0] == '"' &&
		    memchr(m.value, '\\', m.value_len) != NULL;
		if (cb != NULL && cb(&m, arg) == -1)
			return -1;
		jscan_ws(s);
		if (jscan_at(s, close)) {
			s->p++;
			s->depth--;
			return 0;
		}
		if (!jscan_at(s, ','))
			return -1;
		s->p++;
		jscan_ws(s);
	}
}

static int
jscan_value(struct jscan *s)
{
	int	 esc;

	if (s->p == s->end)
		return -1;
	switch (*s->p) {
	case '{':
		return jscan_container(s, '}', NULL, NULL);
	case '[':
		return jscan_container(s, ']', NULL, NULL);
	case '"':
		return jscan_string(s, &esc);
	case 't':
		return jscan_word(s, "true");
	case 'f':
		return jscan_word(s, "false");
	case 'n':
		return jscan_word(s, "null");
	default:
		return jscan_number(s);
	}
}

static int
jscan_top(struct jscan *s, jscan_member_cb cb, void *arg)
{
	jscan_ws(s);
	if (!jscan_at(s, '{') || jscan_container(s, '}', cb, arg) == -1)
		return -1;
	jscan_ws(s);
	return s->p == s->end ? 0 : -1;
}

int
jscan_object(const char *text, size_t len, jscan_member_cb cb, void *arg)
{
	struct jscan	 s = { text, text + len, 0, 0 };

	return jscan_top(&s, cb, arg);
}

int
jscan_object_valid(const char *text, size_t len, jscan_member_cb cb,
    void *arg)
{
	struct jscan	 s = { text, text + len, 0, 1 };

	return jscan_top(&s, cb, arg);
}
