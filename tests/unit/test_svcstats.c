/* Per-service request statistics: recording, merging, the histogram. */
#include "config.h"

#include <sys/wait.h>

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/svcstats.h"

#define TEST_SLOTS	16

/* The counts of name now, or a zeroed row when it has none. */
static struct svcstats_service
find(const char *name)
{
	struct svcstats_service	*v, row;
	size_t			 i, n;

	memset(&row, 0, sizeof(row));
	v = svcstats_collect(&n);
	for (i = 0; i < n; i++) {
		if (i > 0)
			assert_true(strcmp(v[i - 1].name, v[i].name) < 0);
		if (strcmp(v[i].name, name) == 0)
			row = v[i];
	}
	free(v);
	return row;
}

static int
setup(void **state)
{
	const char	*cause;

	return svcstats_create(TEST_SLOTS, &cause);
}

static void
test_create_bad(void **state)
{
	const char	*cause = NULL;

	assert_int_equal(svcstats_create(0, &cause), -1);
	assert_non_null(cause);
}

static void
test_unbound_records_nothing(void **state)
{
	struct svcstats_service	 s;

	svcstats_bind(TEST_SLOTS);
	svcstats_record("unbound.svc", 10, 0);
	s = find("unbound.svc");
	assert_int_equal(s.requests, 0);
}

static void
test_record(void **state)
{
	struct svcstats_service	 s;

	svcstats_bind(0);
	svcstats_record("rec.a", 500, 0);
	svcstats_record("rec.a", 3000, 1);
	svcstats_record("rec.a", 7000000, 1);
	svcstats_record("rec.b", 100, 0);
	s = find("rec.a");
	assert_int_equal(s.requests, 3);
	assert_int_equal(s.errors, 2);
	assert_int_equal(s.sum_us, 500 + 3000 + 7000000);
	assert_int_equal(s.buckets[0], 1);
	assert_int_equal(s.buckets[2], 1);	/* 2.5 ms < 3 ms <= 5 ms */
	assert_int_equal(s.buckets[SVCSTATS_BUCKETS - 1], 1);
	s = find("rec.b");
	assert_int_equal(s.requests, 1);
	assert_int_equal(s.errors, 0);
}

/* A bound is the bucket's upper end, included (Prometheus' "le"). */
static void
test_bucket_bounds(void **state)
{
	struct svcstats_service	 s;
	size_t			 i;

	svcstats_bind(1);
	for (i = 0; i < SVCSTATS_BOUNDS; i++) {
		svcstats_record("bounds", svcstats_bounds_us[i], 0);
		svcstats_record("bounds", svcstats_bounds_us[i] + 1, 0);
	}
	s = find("bounds");
	assert_int_equal(s.requests, 2 * SVCSTATS_BOUNDS);
	assert_int_equal(s.buckets[0], 1);
	for (i = 1; i < SVCSTATS_BOUNDS; i++)
		assert_int_equal(s.buckets[i], 2);
	assert_int_equal(s.buckets[SVCSTATS_BOUNDS], 1);
}

static void
test_merge_slots(void **state)
{
	struct svcstats_service	 s;

	svcstats_bind(2);
	svcstats_record("merged", 2000, 0);
	svcstats_bind(3);
	svcstats_record("merged", 2000, 1);
	svcstats_record("merged", 40000, 0);
	s = find("merged");
	assert_int_equal(s.requests, 3);
	assert_int_equal(s.errors, 1);
	assert_int_equal(s.sum_us, 44000);
	assert_int_equal(s.buckets[1], 2);
	assert_int_equal(s.buckets[5], 1);
}

/* A full table counts new names into "other", known names as before. */
static void
test_full_table_other(void **state)
{
	struct svcstats_service	 s, before;
	char			 name[32];
	int			 i, named = 0;

	before = find(SVCSTATS_OTHER);
	svcstats_bind(4);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "full.%03d", i);
		svcstats_record(name, 10, i % 2);
	}
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "full.%03d", i);
		s = find(name);
		assert_true(s.requests <= 1);
		named += (int)s.requests;
	}
	assert_true(named > 0 && named < 64);
	s = find(SVCSTATS_OTHER);
	assert_int_equal(s.requests - before.requests, 100 - named);
	/* The first name was taken: it is still counted by name. */
	svcstats_record("full.000", 10, 0);
	assert_int_equal(find("full.000").requests, 2);
	assert_int_equal(find(SVCSTATS_OTHER).requests, s.requests);
}

static void
test_long_names(void **state)
{
	char			 a[300], b[300];
	struct svcstats_service	*v;
	size_t			 i, n, found = 0;

	memset(a, 'a', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[250] = 'b';
	svcstats_bind(5);
	svcstats_record(a, 10, 0);
	svcstats_record(b, 10, 0);
	svcstats_record(a, 10, 0);
	v = svcstats_collect(&n);
	for (i = 0; i < n; i++) {
		if (strncmp(v[i].name, "aaaa", 4) != 0)
			continue;
		found++;
		assert_int_equal(strlen(v[i].name), SVCSTATS_NAME_MAX - 1);
		assert_int_equal(v[i].name[SVCSTATS_NAME_MAX - 10], '~');
		assert_true(v[i].requests == 1 || v[i].requests == 2);
	}
	free(v);
	assert_int_equal(found, 2);
}

/* A cut never splits a UTF-8 character. */
static void
test_long_name_utf8(void **state)
{
	char			 name[400];
	struct svcstats_service	*v;
	size_t			 i, n, len = 0;

	name[len++] = 'x';
	while (len < 300) {
		memcpy(name + len, "\xc3\xa9", 2);	/* é */
		len += 2;
	}
	name[len] = '\0';
	svcstats_bind(6);
	svcstats_record(name, 10, 0);
	v = svcstats_collect(&n);
	for (i = 0; i < n; i++)
		if (v[i].name[0] == 'x' && v[i].name[1] == '\xc3')
			break;
	assert_true(i < n);
	/* 'x' and whole characters: an odd length before the '~'. */
	len = strchr(v[i].name, '~') - v[i].name;
	assert_int_equal(len % 2, 1);
	assert_int_equal(strlen(v[i].name), len + 9);
	free(v);
}

static void
test_quantile(void **state)
{
	struct svcstats_service	 s;

	memset(&s, 0, sizeof(s));
	assert_true(isnan(svcstats_quantile_ms(&s, 0.99)));
	s.requests = s.buckets[0] = 100;
	assert_true(fabs(svcstats_quantile_ms(&s, 0.99) - 0.99) < 1e-9);
	/* Interpolated inside 25..50 ms: 25 + 25 * (99 - 50) / 50. */
	memset(&s, 0, sizeof(s));
	s.buckets[3] = s.buckets[5] = 50;
	s.requests = 100;
	assert_true(fabs(svcstats_quantile_ms(&s, 0.99) - 49.5) < 1e-9);
	assert_true(fabs(svcstats_quantile_ms(&s, 0.5) - 10.0) < 1e-9);
	/* In +Inf: the highest finite bound. */
	memset(&s, 0, sizeof(s));
	s.buckets[0] = 1;
	s.buckets[SVCSTATS_BUCKETS - 1] = 99;
	s.requests = 100;
	assert_true(fabs(svcstats_quantile_ms(&s, 0.99) - 5000.0) < 1e-9);
}

static void
child_records(unsigned slot, const char *name, int count)
{
	pid_t	 pid;
	int	 status, i;

	if ((pid = fork()) == 0) {
		svcstats_bind(slot);
		for (i = 0; i < count; i++)
			svcstats_record(name, 1500, 0);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * Workers write, others read, across fork. A slot handed to the next
 * process keeps its counts: the host's sums never go backwards.
 */
static void
test_processes_and_respawn(void **state)
{
	struct svcstats_service	 s;

	child_records(7, "forked", 3);
	s = find("forked");
	assert_int_equal(s.requests, 3);
	assert_int_equal(s.buckets[1], 3);
	child_records(7, "forked", 2);
	assert_int_equal(find("forked").requests, 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_bad),
		cmocka_unit_test(test_unbound_records_nothing),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_bucket_bounds),
		cmocka_unit_test(test_merge_slots),
		cmocka_unit_test(test_full_table_other),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_long_name_utf8),
		cmocka_unit_test(test_quantile),
		cmocka_unit_test(test_processes_and_respawn),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
