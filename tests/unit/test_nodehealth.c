/*
 * Per-node health tables: updates, merging the tables, a full table,
 * consistent reads against a writer in another process, a slot's next
 * owner.
 */
#include "config.h"

#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/nodehealth.h"
#include "util.h"

#define TEST_SLOTS	16
#define TEST_CHURN	(NODEHEALTH_ENTRIES * 4)	/* keys, > a table */

static struct nodehealth
get(const char *service, const char *id, uint64_t now)
{
	struct nodehealth	 h;

	nodehealth_get(service, id, now, &h);
	return h;
}

static const char *
churn_id(size_t i)
{
	static char	 id[32];

	snprintf(id, sizeof(id), "node-%zu", i);
	return id;
}

static int
setup(void **state)
{
	const char	*cause;

	return nodehealth_create(TEST_SLOTS, &cause);
}

static void
test_create_bad(void **state)
{
	const char	*cause = NULL;

	assert_int_equal(nodehealth_create(0, &cause), -1);
	assert_non_null(cause);
}

static void
test_unbound_records_nothing(void **state)
{
	struct nodehealth	 h;

	nodehealth_bind(TEST_SLOTS);
	nodehealth_answered("unbound.svc", "n1", 5000);
	nodehealth_ejected("unbound.svc", "n1", 9000);
	h = get("unbound.svc", "n1", 1000);
	assert_int_equal(h.last_ok, 0);
	assert_false(h.ejected);
}

static void
test_insert_update(void **state)
{
	struct nodehealth	 h;

	nodehealth_bind(0);
	h = get("upd.svc", "n1", 100);
	assert_int_equal(h.last_ok, 0);
	assert_false(h.ejected);
	nodehealth_answered("upd.svc", "n1", 1700000000000ULL);
	nodehealth_ejected("upd.svc", "n1", 2000);
	h = get("upd.svc", "n1", 1999);
	assert_int_equal(h.last_ok, 1700000000000ULL);
	assert_true(h.ejected);
	/* The ejection lapses with time; the answer is kept. */
	h = get("upd.svc", "n1", 2000);
	assert_false(h.ejected);
	assert_int_equal(h.last_ok, 1700000000000ULL);
	nodehealth_answered("upd.svc", "n1", 1700000000500ULL);
	assert_int_equal(get("upd.svc", "n1", 0).last_ok, 1700000000500ULL);
	/* The key is service and id: neither alone, nor a prefix. */
	assert_int_equal(get("upd.svc", "n", 0).last_ok, 0);
	assert_int_equal(get("upd.sv", "n1", 0).last_ok, 0);
	assert_int_equal(get("upd.svc.n1", "", 0).last_ok, 0);
}

/* Any worker ejecting a node makes it ejected; the latest answer wins. */
static void
test_merge_slots(void **state)
{
	struct nodehealth	 h;

	nodehealth_bind(1);
	nodehealth_answered("merge.svc", "a", 300);
	nodehealth_ejected("merge.svc", "b", 1000);
	nodehealth_bind(2);
	nodehealth_answered("merge.svc", "a", 700);
	nodehealth_answered("merge.svc", "b", 200);
	h = get("merge.svc", "a", 500);
	assert_int_equal(h.last_ok, 700);
	assert_false(h.ejected);
	h = get("merge.svc", "b", 500);
	assert_int_equal(h.last_ok, 200);
	assert_true(h.ejected);
}

static void
test_key_too_long(void **state)
{
	struct nodehealth_overflow	 before, after;
	char				 id[NODEHEALTH_KEY_MAX];

	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	nodehealth_overflow(&before);
	nodehealth_bind(3);
	nodehealth_answered("long.svc", id, 1000);
	nodehealth_overflow(&after);
	assert_int_equal(after.untracked, before.untracked + 1);
	assert_int_equal(get("long.svc", id, 0).last_ok, 0);
	/* The longest key that fits is kept. */
	id[NODEHEALTH_KEY_MAX - sizeof("long.svc") - 1] = '\0';
	nodehealth_answered("long.svc", id, 1000);
	assert_int_equal(get("long.svc", id, 0).last_ok, 1000);
}

/*
 * A full table replaces the entries written longest ago and counts
 * them; updating a kept key takes no new entry.
 */
static void
test_full_table(void **state)
{
	struct nodehealth_overflow	 before, after;
	size_t				 i, extra = 10;

	nodehealth_overflow(&before);
	nodehealth_bind(4);
	for (i = 0; i < NODEHEALTH_ENTRIES; i++)
		nodehealth_answered("full.svc", churn_id(i), 1000 + i);
	for (i = 0; i < NODEHEALTH_ENTRIES; i++)
		nodehealth_answered("full.svc", churn_id(i), 5000 + i);
	nodehealth_overflow(&after);
	assert_int_equal(after.evicted, before.evicted);
	for (i = 0; i < NODEHEALTH_ENTRIES; i++)
		assert_int_equal(get("full.svc", churn_id(i), 0).last_ok,
		    5000 + i);
	for (i = NODEHEALTH_ENTRIES; i < NODEHEALTH_ENTRIES + extra; i++)
		nodehealth_answered("full.svc", churn_id(i), 5000 + i);
	nodehealth_overflow(&after);
	assert_int_equal(after.evicted, before.evicted + extra);
	for (i = 0; i < NODEHEALTH_ENTRIES + extra; i++)
		assert_int_equal(get("full.svc", churn_id(i), 0).last_ok,
		    i < extra ? 0 : 5000 + i);
}

static pid_t
child_churn(unsigned slot, unsigned rounds)
{
	pid_t		 pid;
	unsigned	 r;
	size_t		 i;

	if ((pid = fork()) == 0) {
		nodehealth_bind(slot);
		for (r = 0; r < rounds; r++)
			for (i = 0; i < TEST_CHURN; i++)
				nodehealth_answered("churn.svc", churn_id(i),
				    1000 + i);
		_exit(0);
	}
	assert_true(pid > 0);
	return pid;
}

static void
child_wait(pid_t pid)
{
	int	 status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * A writer in another process churns more keys than its table holds, so
 * entries are replaced all the time under the reader: a key read must
 * always come with its own value, never its predecessor's.
 */
static void
test_reader_consistent(void **state)
{
	pid_t		 pid = child_churn(5, 200);
	uint64_t	 v, deadline = util_now_ms() + 10000;
	size_t		 i = 0, seen = 0, reads = 0;
	pid_t		 done;
	int		 status;

	while ((done = waitpid(pid, &status, WNOHANG)) == 0 &&
	    util_now_ms() < deadline) {
		i = (i + 7) % TEST_CHURN;
		v = get("churn.svc", churn_id(i), 0).last_ok;
		assert_true(v == 0 || v == 1000 + i);
		seen += v != 0;
		reads++;
	}
	if (done == 0)
		child_wait(pid);	/* slow machine: the deadline came first */
	else
		assert_true(done == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0);
	assert_true(reads > 0);
	assert_true(seen > 0);
}

/*
 * The next process on a slot: its selector ejects nothing yet, so the
 * ejections it inherits go; when nodes last answered stays true.
 */
static void
test_rebind(void **state)
{
	pid_t	 pid;

	if ((pid = fork()) == 0) {
		nodehealth_bind(6);
		nodehealth_answered("rebind.svc", "n1", 4242);
		nodehealth_ejected("rebind.svc", "n1", UINT64_MAX);
		_exit(0);
	}
	child_wait(pid);
	assert_true(get("rebind.svc", "n1", 1000).ejected);
	if ((pid = fork()) == 0) {
		nodehealth_bind(6);
		_exit(0);
	}
	child_wait(pid);
	assert_false(get("rebind.svc", "n1", 1000).ejected);
	assert_int_equal(get("rebind.svc", "n1", 1000).last_ok, 4242);
	/* The new owner keeps the entry: the next update finds it. */
	if ((pid = fork()) == 0) {
		nodehealth_bind(6);
		nodehealth_ejected("rebind.svc", "n1", 2000);
		_exit(0);
	}
	child_wait(pid);
	assert_true(get("rebind.svc", "n1", 1000).ejected);
	assert_int_equal(get("rebind.svc", "n1", 1000).last_ok, 4242);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_bad),
		cmocka_unit_test(test_unbound_records_nothing),
		cmocka_unit_test(test_insert_update),
		cmocka_unit_test(test_merge_slots),
		cmocka_unit_test(test_key_too_long),
		cmocka_unit_test(test_full_table),
		cmocka_unit_test(test_reader_consistent),
		cmocka_unit_test(test_rebind),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
