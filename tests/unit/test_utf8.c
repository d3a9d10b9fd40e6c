/*
 * lib/utf8.c: which byte sequences are UTF-8 (checked against jansson's
 * own verdict on random bytes) and how invalid ones are repaired.
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

#include "utf8.h"

static void
test_sequences(void **state)
{
	static const struct {
		const char	*s;
		size_t		 len;
	} cases[] = {
		{ "a", 1 }, { "\xc3\xa9", 2 }, { "\xe2\x82\xac", 3 },
		{ "\xf0\x9f\x98\x80", 4 }, { "\xf4\x8f\xbf\xbf", 4 },
		{ "\xc0\x80", 0 },		/* overlong NUL */
		{ "\xe0\x80\x80", 0 },		/* overlong */
		{ "\xed\xa0\x80", 0 },		/* surrogate */
		{ "\xf4\x90\x80\x80", 0 },	/* past U+10FFFF */
		{ "\xe2\x82", 0 },		/* cut short */
		{ "\x80", 0 }, { "\xff", 0 }, { "\xf5\x80\x80\x80", 0 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(utf8_sequence((const unsigned char *)
		    cases[i].s, strlen(cases[i].s)), cases[i].len);
}

static void
test_repair(void **state)
{
	char	*s;
	size_t	 n;

	s = utf8_repair("caf\xe9!", 5, &n);
	assert_string_equal(s, "caf\xef\xbf\xbd!");
	assert_int_equal(n, 7);
	free(s);
	/* One U+FFFD per byte that starts no sequence, as Go writes. */
	s = utf8_repair("\xe2\x82x\xc3\xa9", 5, &n);
	assert_string_equal(s, "\xef\xbf\xbd\xef\xbf\xbdx\xc3\xa9");
	free(s);
}

/* Random short byte strings: valid for us exactly when for jansson. */
static void
test_agrees_with_jansson(void **state)
{
	unsigned char	 buf[6];
	json_t		*j;
	size_t		 i, k, n, at;
	int		 ours;

	srandom(7);
	for (i = 0; i < 200000; i++) {
		n = 1 + (size_t)random() % sizeof(buf);
		for (k = 0; k < n; k++)
			buf[k] = (unsigned char)(random() % 4 == 0 ?
			    random() % 0x80 : 0x80 + random() % 0x80);
		ours = 1;
		for (at = 0; at < n && ours; at += k)
			ours = (k = utf8_sequence(buf + at, n - at)) != 0 &&
			    memchr(buf + at, 0, k) == NULL;
		j = json_stringn((const char *)buf, n);
		if (memchr(buf, 0, n) == NULL)
			assert_int_equal(ours, j != NULL);
		json_decref(j);
		j = utf8_json_string((const char *)buf, n);
		assert_non_null(j);
		json_decref(j);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequences),
		cmocka_unit_test(test_repair),
		cmocka_unit_test(test_agrees_with_jansson),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
