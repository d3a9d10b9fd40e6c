#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rpc/select.h"

static const struct select_node nodes[] = {
	{ "a", "127.0.0.1:1", "1.0", 0 },
	{ "b", "127.0.0.1:2", "2.0", 0 },
	{ "c", "127.0.0.1:3", "1.0", 0 },
};
#define NNODES	(sizeof(nodes) / sizeof(nodes[0]))

static struct selector *
make(enum select_policy p)
{
	struct select_config	 cfg = { p, 3, 1000, 4000 };

	return selector_new(&cfg, 42);
}

static void
test_select_policy_parse(void **state)
{
	enum select_policy	 p;

	assert_int_equal(select_policy_parse("roundrobin", &p), 0);
	assert_int_equal(p, SELECT_ROUNDROBIN);
	assert_int_equal(select_policy_parse("leastconn", &p), 0);
	assert_int_equal(p, SELECT_LEASTCONN);
	assert_int_equal(select_policy_parse("random", &p), 0);
	assert_int_equal(p, SELECT_RANDOM);
	assert_int_equal(select_policy_parse("fastest", &p), -1);
}

static void
test_select_roundrobin(void **state)
{
	struct selector	*s = make(SELECT_ROUNDROBIN);
	int		 seen[NNODES] = { 0 };
	size_t		 i;
	ssize_t		 k;

	for (i = 0; i < 30; i++) {
		k = selector_pick(s, "svc", nodes, NNODES, NULL, NULL, 0);
		assert_in_range(k, 0, NNODES - 1);
		seen[k]++;
	}
	assert_int_equal(seen[0], 10);
	assert_int_equal(seen[1], 10);
	assert_int_equal(seen[2], 10);
	/* Version filter: only a and c. */
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 10; i++)
		seen[selector_pick(s, "svc", nodes, NNODES, "1.0", NULL, 0)]++;
	assert_int_equal(seen[0], 5);
	assert_int_equal(seen[1], 0);
	assert_int_equal(seen[2], 5);
	assert_int_equal(selector_pick(s, "svc", nodes, NNODES, "3.0", NULL,
	    0), -1);
	/* Calls with and without a filter interleaved: both rotate. */
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 10; i++) {
		seen[selector_pick(s, "svc", nodes, NNODES, "1.0", NULL, 0)]++;
		selector_pick(s, "svc", nodes, NNODES, NULL, NULL, 0);
	}
	assert_int_equal(seen[0], 5);
	assert_int_equal(seen[2], 5);
	selector_free(s);
}

static void
test_select_random(void **state)
{
	struct selector	*s = make(SELECT_RANDOM);
	int		 seen[NNODES] = { 0 };
	uint8_t		 tried[NNODES] = { 1, 0, 0 };
	size_t		 i;

	for (i = 0; i < 3000; i++)
		seen[selector_pick(s, "svc", nodes, NNODES, NULL, NULL, 0)]++;
	for (i = 0; i < NNODES; i++)
		assert_in_range(seen[i], 800, 1200);
	/* Tried nodes are skipped. */
	for (i = 0; i < 100; i++)
		assert_int_not_equal(selector_pick(s, "svc", nodes, NNODES,
		    NULL, tried, 0), 0);
	tried[1] = tried[2] = 1;
	assert_int_equal(selector_pick(s, "svc", nodes, NNODES, NULL, tried,
	    0), -1);
	selector_free(s);
}

static void
test_select_leastconn(void **state)
{
	struct selector	*s = make(SELECT_LEASTCONN);
	ssize_t		 k;

	selector_start(s, "svc", &nodes[0], 0);
	selector_start(s, "svc", &nodes[0], 0);
	selector_start(s, "svc", &nodes[1], 0);
	assert_int_equal(selector_outstanding(s, "svc", &nodes[0]), 2);
	assert_int_equal(selector_pick(s, "svc", nodes, NNODES, NULL, NULL, 0),
	    2);
	selector_start(s, "svc", &nodes[2], 0);
	selector_start(s, "svc", &nodes[2], 0);
	assert_int_equal(selector_pick(s, "svc", nodes, NNODES, NULL, NULL, 0),
	    1);
	selector_end(s, "svc", &nodes[0], SELECT_OK, 0);
	selector_end(s, "svc", &nodes[0], SELECT_ABANDONED, 0);
	assert_int_equal(selector_outstanding(s, "svc", &nodes[0]), 0);
	assert_int_equal(selector_pick(s, "svc", nodes, NNODES, NULL, NULL, 0),
	    0);
	/* Ties rotate instead of always hitting the first node. */
	selector_end(s, "svc", &nodes[1], SELECT_OK, 0);
	selector_end(s, "svc", &nodes[2], SELECT_OK, 0);
	selector_end(s, "svc", &nodes[2], SELECT_OK, 0);
	k = selector_pick(s, "svc", nodes, NNODES, NULL, NULL, 0);
	assert_int_not_equal(selector_pick(s, "svc", nodes, NNODES, NULL, NULL,
	    0), k);
	/* Separate services have separate state. */
	selector_start(s, "other", &nodes[0], 0);
	assert_int_equal(selector_outstanding(s, "svc", &nodes[0]), 0);
	selector_free(s);
}

static void
strike(struct selector *s, size_t i, uint64_t now)
{
	selector_start(s, "svc", &nodes[i], now);
	selector_end(s, "svc", &nodes[i], SELECT_FAILED, now);
}

static void
test_select_ejection(void **state)
{
	struct selector	*s = make(SELECT_ROUNDROBIN);
	size_t		 i;

	strike(s, 0, 100);
	strike(s, 0, 100);
	assert_false(selector_ejected(s, "svc", &nodes[0], 100));
	/* A success in between forgives. */
	selector_start(s, "svc", &nodes[0], 100);
	selector_end(s, "svc", &nodes[0], SELECT_OK, 100);
	strike(s, 0, 100);
	strike(s, 0, 100);
	assert_false(selector_ejected(s, "svc", &nodes[0], 100));
	strike(s, 0, 100);
	assert_true(selector_ejected(s, "svc", &nodes[0], 100));
	for (i = 0; i < 20; i++)
		assert_int_not_equal(selector_pick(s, "svc", nodes, NNODES,
		    NULL, NULL, 500), 0);
	/* Back after eject_ms... */
	assert_false(selector_ejected(s, "svc", &nodes[0], 1100));
	/* ...and out twice as long on the next strike. */
	strike(s, 0, 1100);
	strike(s, 0, 1100);
	strike(s, 0, 1100);
	assert_true(selector_ejected(s, "svc", &nodes[0], 3000));
	assert_false(selector_ejected(s, "svc", &nodes[0], 3100));
	/* When every candidate is ejected, they are still tried. */
	for (i = 0; i < 3; i++)
		strike(s, 1, 3100);
	for (i = 0; i < 3; i++)
		strike(s, 2, 3100);
	assert_true(selector_ejected(s, "svc", &nodes[1], 3100));
	assert_int_equal(selector_pick(s, "svc", nodes, NNODES, "2.0", NULL,
	    3100), 1);
	/* One tried that way and answering is no longer ejected. */
	selector_start(s, "svc", &nodes[1], 3100);
	selector_end(s, "svc", &nodes[1], SELECT_OK, 3100);
	assert_false(selector_ejected(s, "svc", &nodes[1], 3100));
	assert_true(selector_ejected(s, "svc", &nodes[2], 3100));
	selector_free(s);
}

static void
test_select_moved(void **state)
{
	struct selector		*s = make(SELECT_ROUNDROBIN);
	struct select_node	 moved = nodes[0];
	size_t			 i;

	for (i = 0; i < 3; i++)
		strike(s, 0, 100);
	assert_true(selector_ejected(s, "svc", &nodes[0], 100));
	/* The same id at another address is judged afresh... */
	moved.address = "127.0.0.1:9";
	assert_false(selector_ejected(s, "svc", &moved, 100));
	/* ...and its calls in flight still counted. */
	selector_start(s, "svc", &moved, 100);
	assert_int_equal(selector_outstanding(s, "svc", &nodes[0]), 1);
	selector_free(s);
}

static void
test_select_many(void **state)
{
	struct selector		*s = make(SELECT_RANDOM);
	struct select_node	 n = { NULL, NULL, NULL, 0 };
	char			 name[32];
	size_t			 i;

	/* Thousands of entries grow the table; idle ones are swept later. */
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "svc%zu", i);
		n.id = name;
		selector_start(s, name, &n, 0);
		selector_end(s, name, &n, SELECT_OK, 0);
	}
	/* A call in flight keeps its entry through sweeps. */
	n.id = "busy";
	selector_start(s, "busy", &n, 0);
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "late%zu", i);
		n.id = name;
		selector_start(s, name, &n, 10 * 60 * 1000);
	}
	n.id = "late4999";
	assert_int_equal(selector_outstanding(s, "late4999", &n), 1);
	n.id = "busy";
	assert_int_equal(selector_outstanding(s, "busy", &n), 1);
	selector_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select_policy_parse),
		cmocka_unit_test(test_select_roundrobin),
		cmocka_unit_test(test_select_random),
		cmocka_unit_test(test_select_leastconn),
		cmocka_unit_test(test_select_ejection),
		cmocka_unit_test(test_select_moved),
		cmocka_unit_test(test_select_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
