/*
 * Respawn backoff: immediate first restart, doubling, ceiling, reset; and
 * the retry waits of the clients (util_backoff_next).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "microd/backoff.h"
#include "util.h"

static void
test_first_restart_immediate(void **state)
{
	struct backoff	 b = { 0 };

	assert_int_equal(backoff_next(&b, 5), 0);
	assert_false(backoff_crashlooping(&b));
}

static void
test_doubling_and_ceiling(void **state)
{
	struct backoff	 b = { 0 };
	uint64_t	 prev = 0, d;
	int		 i;

	backoff_next(&b, 1);
	for (i = 0; i < 40; i++) {
		d = backoff_next(&b, 1);
		assert_true(d <= BACKOFF_MAX_MS);
		if (prev != 0 && prev < BACKOFF_MAX_MS)
			assert_true(d == prev * 2 || d == BACKOFF_MAX_MS);
		prev = d;
	}
	assert_int_equal(prev, BACKOFF_MAX_MS);
	assert_true(backoff_crashlooping(&b));
}

static void
test_crashloop_threshold(void **state)
{
	struct backoff	 b = { 0 };
	int		 i;

	for (i = 1; i < BACKOFF_CRASHLOOP; i++) {
		backoff_next(&b, 1);
		assert_false(backoff_crashlooping(&b));
	}
	backoff_next(&b, 1);
	assert_true(backoff_crashlooping(&b));
}

static void
test_stable_run_resets(void **state)
{
	struct backoff	 b = { 0 };
	int		 i;

	for (i = 0; i < 10; i++)
		backoff_next(&b, 1);
	assert_true(backoff_crashlooping(&b));
	assert_int_equal(backoff_next(&b, BACKOFF_STABLE_MS), 0);
	assert_false(backoff_crashlooping(&b));
}

static void
test_retry_waits(void **state)
{
	uint64_t	 ms = 0;
	int		 i;

	assert_int_equal(ms = util_backoff_next(ms, 100, 2000), 100);
	assert_int_equal(ms = util_backoff_next(ms, 100, 2000), 200);
	for (i = 0; i < 70; i++)
		ms = util_backoff_next(ms, 100, 2000);
	assert_int_equal(ms, 2000);
	assert_int_equal(util_backoff_next(1500, 100, 2000), 2000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_restart_immediate),
		cmocka_unit_test(test_doubling_and_ceiling),
		cmocka_unit_test(test_crashloop_threshold),
		cmocka_unit_test(test_stable_run_resets),
		cmocka_unit_test(test_retry_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
