/*
 * lib/jscan.c against jansson: whatever the scanner vouches for, jansson
 * must accept as an object with the same members and values; plain bodies
 * must be vouched for (else the fast path would never run).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jscan.h"
#include "util.h"

#define MUTATIONS	40000

static const char *plain[] = {
	"{}",
	" { } ",
	"{\"service\":\"go.micro.srv.greeter\",\"method\":\"Say.Hello\","
	    "\"request\":{\"name\":\"John\"}}",
	"{\"service\": \"a\", \"request\": {\"n\": [1, -2.5, 0, true, false,"
	    " null, {}, []], \"s\": \"x\\\"y\\n\"}}",
	"{\"request\":\"{\\\"a\\\":1}\",\"endpoint\":\"E.F\"}",
	"{\"a\":{\"b\":{\"c\":[[[\"deep\"]]]}},\"n\":-0.125}",
	"\t\r\n{\"k\"\t:\n\"v\"\r}\n",
	"{\"service\":1,\"version\":\"1.0\",\"address\":\"127.0.0.1:1\"}",
};

/* Valid JSON the scanner leaves to jansson, and invalid JSON. */
static const char *declined[] = {
	"{\"a\":\"\\u00e9\"}",		/* \u escape */
	"{\"a\":\"\xc3\xa9\"}",		/* non-ASCII */
	"{\"a\":1e3}",			/* exponent */
	"{\"a\":1234567890123456}",	/* 16 digits */
	"{\"k\\n\":1}",			/* escaped key */
	"[1]", "\"s\"", "1", "",	/* not an object */
	"{\"a\":01}", "{\"a\":1.}", "{\"a\":-}", "{\"a\":.5}",
	"{\"a\":tru}", "{\"a\":nul}", "{\"a\" 1}", "{\"a\":1,}", "{,}",
	"{\"a\":1}x", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}", "{\"a\":[1,]}",
	"{\"a\":\"unterminated}", "{'a':1}", "{\"a\":1", "{\"a\":[}",
};

#define SEEN_MAX	64

/* What the scanner reported, to hold against jansson's reading. */
struct seen {
	char	*keys[SEEN_MAX];
	json_t	*values[SEEN_MAX];
	size_t	 n;
	int	 overflow;
};

static int
record_member(const struct jscan_member *m, void *arg)
{
	struct seen	*s = arg;

	if (s->n == SEEN_MAX) {
		s->overflow = 1;
		return 0;
	}
	s->keys[s->n] = xstrndup(m->key, m->key_len);
	s->values[s->n] = json_loadb(m->value, m->value_len, JSON_DECODE_ANY,
	    NULL);
	s->n++;
	return 0;
}

/* jansson keeps the last value of a key given twice: compare with it. */
static int
seen_matches(const struct seen *s, json_t *obj)
{
	size_t	 i, j;

	if (s->overflow)
		return 0;
	for (i = 0; i < s->n; i++) {
		for (j = i + 1; j < s->n; j++)
			if (strcmp(s->keys[i], s->keys[j]) == 0)
				break;
		if (j < s->n)
			continue;	/* not the last one */
		if (s->values[i] == NULL || !json_equal(s->values[i],
		    json_object_get(obj, s->keys[i])))
			return 0;
	}
	/* And no member of jansson's went unreported. */
	for (i = 0; i < s->n; i++)
		if (json_object_get(obj, s->keys[i]) == NULL)
			return 0;
	return json_object_size(obj) <= s->n;
}

static void
seen_free(struct seen *s)
{
	size_t	 i;

	for (i = 0; i < s->n; i++) {
		free(s->keys[i]);
		json_decref(s->values[i]);
	}
}

/* -1 declined, else 0 with *agrees set; agrees is 1 when declined. */
static int
scan_against_jansson(const char *text, size_t len, int *agrees)
{
	struct seen	 s;
	json_t		*obj;
	int		 rc;

	memset(&s, 0, sizeof(s));
	obj = json_loadb(text, len, 0, NULL);
	rc = jscan_object(text, len, record_member, &s);
	*agrees = rc == -1 || (obj != NULL && json_is_object(obj) &&
	    seen_matches(&s, obj));
	seen_free(&s);
	json_decref(obj);
	return rc;
}

static int	count_member(const struct jscan_member *, void *);

/*
 * jscan_object_valid on what jansson takes for an object: every member,
 * as the tree reads it; it may give up only on an escaped key.
 */
static int
valid_agrees_with_jansson(const char *text, size_t len)
{
	struct seen	 s;
	json_t		*obj;
	int		 rc, agrees = 1;

	obj = json_loadb(text, len, 0, NULL);
	if (obj == NULL || !json_is_object(obj)) {
		json_decref(obj);
		return 1;	/* not its input */
	}
	memset(&s, 0, sizeof(s));
	rc = jscan_object_valid(text, len, record_member, &s);
	if (rc == 0)
		agrees = seen_matches(&s, obj);
	else
		agrees = memchr(text, '\\', len) != NULL;
	seen_free(&s);
	json_decref(obj);
	return agrees;
}

static void
test_valid_takes_all(void **state)
{
	static const char	*t = "{\"u\":18446744073709551615,\"e\":-1.5E+3}";
	size_t			 i;
	int			 n = 0;

	for (i = 0; i < nitems(plain); i++)
		assert_true(valid_agrees_with_jansson(plain[i],
		    strlen(plain[i])));
	for (i = 0; i < nitems(declined); i++)
		assert_true(valid_agrees_with_jansson(declined[i],
		    strlen(declined[i])));
	/* Beyond int64, which jansson's tree refuses; an exponent. */
	assert_int_equal(jscan_object_valid(t, strlen(t), count_member, &n), 0);
	assert_int_equal(n, 2);
}

static void
test_plain_vouched(void **state)
{
	size_t	 i;
	int	 agrees;

	for (i = 0; i < nitems(plain); i++) {
		assert_int_equal(scan_against_jansson(plain[i], strlen(plain[i]),
		    &agrees), 0);
		assert_true(agrees);
	}
}

static void
test_declined(void **state)
{
	size_t	 i;
	int	 agrees;

	for (i = 0; i < nitems(declined); i++) {
		assert_int_equal(scan_against_jansson(declined[i],
		    strlen(declined[i]), &agrees), -1);
	}
}

static int
count_member(const struct jscan_member *m, void *arg)
{
	(*(int *)arg)++;
	return m->key_len == 4 && memcmp(m->key, "stop", 4) == 0 ? -1 : 0;
}

static void
test_members_and_stop(void **state)
{
	const char	*t = "{\"a\":1,\"b\":{\"c\":2},\"d\":[3]}";
	int		 n = 0;

	/* Only top-level members are reported. */
	assert_int_equal(jscan_object(t, strlen(t), count_member, &n), 0);
	assert_int_equal(n, 3);
	n = 0;
	t = "{\"a\":1,\"stop\":2,\"c\":3}";
	assert_int_equal(jscan_object(t, strlen(t), count_member, &n), -1);
	assert_int_equal(n, 2);
}

static void
test_depth(void **state)
{
	char	 t[200];
	size_t	 i, n = 0;
	int	 agrees;

	n += (size_t)snprintf(t, sizeof(t), "{\"a\":");
	for (i = 0; i < JSCAN_DEPTH_MAX; i++)
		t[n++] = '[';
	for (i = 0; i < JSCAN_DEPTH_MAX; i++)
		t[n++] = ']';
	t[n++] = '}';
	assert_int_equal(scan_against_jansson(t, n, &agrees), -1);
	/* One level less fits (the object itself is a level). */
	memmove(t + 5, t + 6, n - 6);
	memmove(t + 5 + JSCAN_DEPTH_MAX - 1, t + 5 + JSCAN_DEPTH_MAX,
	    n - 6 - JSCAN_DEPTH_MAX);
	assert_int_equal(scan_against_jansson(t, n - 2, &agrees), 0);
	assert_true(agrees);
}

/* Flip, insert and delete bytes of the corpus: never vouch for a lie. */
static void
test_mutations(void **state)
{
	const char	*alphabet = "{}[]\":,\\ 0123456789.-+eEtrufalsn\x01\x80x";
	char		 buf[512];
	uint64_t	 r = 0x9e3779b97f4a7c15ULL;
	size_t		 i, len, at, vouched = 0;
	int		 agrees, k;

	for (i = 0; i < MUTATIONS; i++) {
		len = strlen(plain[i % nitems(plain)]);
		memcpy(buf, plain[i % nitems(plain)], len);
		for (k = 0; k < 1 + (int)(i % 3); k++) {
			r ^= r << 13, r ^= r >> 7, r ^= r << 17;
			at = len > 0 ? (r >> 8) % len : 0;
			switch (r % 3) {
			case 0:
				buf[at] = alphabet[(r >> 24) % strlen(alphabet)];
				break;
			case 1:
				if (len + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = alphabet[(r >> 24) %
					    strlen(alphabet)];
					len++;
				}
				break;
			default:
				if (len > 0) {
					memmove(buf + at, buf + at + 1,
					    len - at - 1);
					len--;
				}
				break;
			}
		}
		if (scan_against_jansson(buf, len, &agrees) == 0)
			vouched++;
		if (!agrees || !valid_agrees_with_jansson(buf, len))
			fail_msg("scanner and jansson disagree on: %.*s",
			    (int)len, buf);
	}
	/* Mutations that stay valid are still scanned. */
	assert_true(vouched > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_vouched),
		cmocka_unit_test(test_declined),
		cmocka_unit_test(test_members_and_stop),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_valid_takes_all),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
