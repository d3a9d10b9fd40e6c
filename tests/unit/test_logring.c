/*
 * Log rings: lines read back with their labels, wrap-around, a long line
 * cut on a UTF-8 boundary, a lapped reader counting what it lost, a
 * forked child that did not bind writing nothing, a writer in another
 * process writing flat out while the reader checks that every line it
 * accepts is whole, and two threads of one process writing at once.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/logring.h"
#include "utf8.h"
#include "util.h"

#define TEST_SLOTS	16
#define TORN_SLOT	9
#define TORN_MS		3000	/* the reader's time, at least */
#define TORN_MIN_LINES	10000	/* lines the reader must have checked */
#define TORN_MAX_MS	60000	/* to check them on a loaded machine */
#define THREAD_SLOT	10
#define THREAD_LINES	50000	/* each of two threads */

/* Every line the reader gets, kept for the test to look at. */
struct lines {
	struct logring_line	 v[4 * LOGRING_ENTRIES];
	size_t			 n;
};

static struct lines	 got;

static void
keep(const struct logring_line *l, void *arg)
{
	struct lines	*g = arg;

	if (g->n < nitems(g->v))
		g->v[g->n++] = *l;
}

static uint64_t
read_all(unsigned slot, uint64_t *next)
{
	got.n = 0;
	return logring_read(slot, next, keep, &got);
}

static void
write_str(enum log_level level, const char *s)
{
	logring_write(level, s, strlen(s));
}

static int
setup(void **state)
{
	const char	*cause;

	return logring_create(TEST_SLOTS, &cause);
}

static void
test_create_bad(void **state)
{
	const char	*cause = NULL;

	assert_int_equal(logring_create(0, &cause), -1);
	assert_non_null(cause);
}

static void
test_unbound_writes_nothing(void **state)
{
	uint64_t	 next = 0;

	write_str(LOG_LEVEL_INFO, "nobody's line");
	assert_int_equal(logring_count(0), 0);
	assert_int_equal(read_all(0, &next), 0);
	assert_int_equal(got.n, 0);
	/* Out of range: still nothing, nowhere. */
	logring_bind(TEST_SLOTS, 1, 0);
	write_str(LOG_LEVEL_INFO, "nowhere");
	assert_int_equal(logring_count(TEST_SLOTS), 0);
}

static void
test_write_read(void **state)
{
	uint64_t	 next = 0, before = util_wall_ms();

	logring_bind(1, 3, 7);
	write_str(LOG_LEVEL_WARN, "first");
	write_str(LOG_LEVEL_DEBUG, "");
	write_str(LOG_LEVEL_ERR, "third line");
	assert_int_equal(logring_count(1), 3);
	assert_int_equal(read_all(1, &next), 0);
	assert_int_equal(next, 3);
	assert_int_equal(got.n, 3);
	assert_string_equal(got.v[0].text, "first");
	assert_int_equal(got.v[0].len, 5);
	assert_int_equal(got.v[0].level, LOG_LEVEL_WARN);
	assert_int_equal(got.v[0].role, 3);
	assert_int_equal(got.v[0].id, 7);
	assert_int_equal(got.v[0].pid, getpid());
	assert_int_equal(got.v[0].slot, 1);
	assert_true(got.v[0].time_ms >= before);
	assert_string_equal(got.v[1].text, "");
	assert_int_equal(got.v[2].n, 2);
	assert_string_equal(got.v[2].text, "third line");
	/* Nothing new: nothing read, nothing lost. */
	assert_int_equal(read_all(1, &next), 0);
	assert_int_equal(got.n, 0);
}

/* The ring laps itself many times; the newest lines read back intact. */
static void
test_wrap_around(void **state)
{
	uint64_t	 next, total = 5 * LOGRING_ENTRIES + 17, i;
	char		 s[64];

	logring_bind(2, 1, 0);
	for (i = 0; i < total; i++) {
		snprintf(s, sizeof(s), "line %llu", (unsigned long long)i);
		write_str(LOG_LEVEL_INFO, s);
	}
	next = total - LOGRING_ENTRIES;
	assert_int_equal(read_all(2, &next), 0);
	assert_int_equal(got.n, LOGRING_ENTRIES);
	for (i = 0; i < got.n; i++) {
		snprintf(s, sizeof(s), "line %llu", (unsigned long long)
		    (total - LOGRING_ENTRIES + i));
		assert_string_equal(got.v[i].text, s);
		assert_int_equal(got.v[i].n, total - LOGRING_ENTRIES + i);
	}
}

/* 1 if the len bytes at s are whole UTF-8 characters. */
static int
utf8_whole(const char *s, size_t len)
{
	size_t	 i, k;

	for (i = 0; i < len; i += k) {
		if ((k = utf8_sequence((const unsigned char *)s + i,
		    len - i)) == 0)
			return 0;
	}
	return 1;
}

static void
test_long_line_cut(void **state)
{
	char		 s[600];
	const char	*mark = "\xe2\x80\xa6";
	uint64_t	 next = 0;
	size_t		 i, head;

	/* "x" then euros (3 bytes): the limit falls inside a character. */
	s[0] = 'x';
	for (i = 1; i + 3 < sizeof(s); i += 3)
		memcpy(s + i, "\xe2\x82\xac", 3);
	s[i] = '\0';
	logring_bind(3, 1, 0);
	write_str(LOG_LEVEL_INFO, s);
	write_str(LOG_LEVEL_INFO, "short");
	assert_int_equal(read_all(3, &next), 0);
	assert_int_equal(got.n, 2);
	assert_true(got.v[0].len <= LOGRING_TEXT_MAX);
	assert_true(got.v[0].len > LOGRING_TEXT_MAX - 3 - 3);
	head = got.v[0].len - strlen(mark);
	assert_memory_equal(got.v[0].text + head, mark, strlen(mark));
	assert_memory_equal(got.v[0].text, s, head);
	assert_true(utf8_whole(got.v[0].text, got.v[0].len));
	assert_int_equal(strlen(got.v[0].text), got.v[0].len);
	assert_string_equal(got.v[1].text, "short");
	/* Exactly the limit is kept whole. */
	memset(s, 'a', LOGRING_TEXT_MAX);
	s[LOGRING_TEXT_MAX] = '\0';
	write_str(LOG_LEVEL_INFO, s);
	assert_int_equal(read_all(3, &next), 0);
	assert_string_equal(got.v[0].text, s);
}

/* A reader more than a ring behind learns how many lines it missed. */
static void
test_lapped_reader(void **state)
{
	uint64_t	 next = 0, i;
	char		 s[32];

	logring_bind(4, 1, 0);
	for (i = 0; i < 10; i++)
		write_str(LOG_LEVEL_INFO, "early");
	assert_int_equal(read_all(4, &next), 0);
	assert_int_equal(next, 10);
	for (i = 10; i < 10 + LOGRING_ENTRIES + 37; i++) {
		snprintf(s, sizeof(s), "%llu", (unsigned long long)i);
		write_str(LOG_LEVEL_INFO, s);
	}
	assert_int_equal(read_all(4, &next), 37);
	assert_int_equal(got.n, LOGRING_ENTRIES);
	assert_int_equal(next, 10 + LOGRING_ENTRIES + 37);
	snprintf(s, sizeof(s), "%d", 10 + 37);
	assert_string_equal(got.v[0].text, s);
	assert_int_equal(got.v[0].n, 10 + 37);
}

static void
child_wait(pid_t pid)
{
	int	 status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A child inherits its parent's binding, not the right to write. */
static void
test_child_unbound(void **state)
{
	pid_t	 pid;

	logring_bind(5, 1, 0);
	write_str(LOG_LEVEL_INFO, "parent");
	if ((pid = fork()) == 0) {
		write_str(LOG_LEVEL_INFO, "child, unbound");
		logring_bind(6, 2, 1);
		write_str(LOG_LEVEL_INFO, "child, bound");
		_exit(0);
	}
	child_wait(pid);
	assert_int_equal(logring_count(5), 1);
	assert_int_equal(logring_count(6), 1);
}

/*
 * Line n says "n sum payload", payload of a length that varies with n
 * and sum its hash: a line that mixes two writes, or is labelled with
 * another's number, fails one of the checks.
 */
static size_t
torn_line(uint64_t n, char *s, size_t size)
{
	char	 payload[LOGRING_TEXT_MAX];
	size_t	 len = (n * 37) % 160, i;

	for (i = 0; i < len; i++)
		payload[i] = 'a' + (n + i) % 26;
	payload[len] = '\0';
	return (size_t)snprintf(s, size, "%llu %08x %s", (unsigned long long)n,
	    (unsigned)util_fnv1a(UTIL_FNV_BASIS, payload, len), payload);
}

static void
torn_writer(pid_t parent)
{
	char		 s[LOGRING_TEXT_MAX + 1];
	uint64_t	 n;
	size_t		 len;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(1);
	logring_bind(TORN_SLOT, 1, 0);
	for (n = 0;; n++) {
		len = torn_line(n, s, sizeof(s));
		logring_write(LOG_LEVEL_INFO, s, len);
	}
}

struct torn_check {
	uint64_t	 checked;
	uint64_t	 torn;
};

static void
torn_check(const struct logring_line *l, void *arg)
{
	struct torn_check	*c = arg;
	char			 want[LOGRING_TEXT_MAX + 1];
	size_t			 len;

	len = torn_line(l->n, want, sizeof(want));
	c->checked++;
	if (l->len != len || memcmp(l->text, want, len) != 0 ||
	    l->level != LOG_LEVEL_INFO || l->role != 1)
		c->torn++;
}

static void
test_writer_flat_out(void **state)
{
	struct torn_check	 c = { 0, 0 };
	uint64_t		 next = 0, lost = 0, end, deadline;
	pid_t			 pid, parent = getpid();
	int			 status;

	if ((pid = fork()) == 0)
		torn_writer(parent);
	assert_true(pid > 0);
	end = util_now_ms() + TORN_MS;
	deadline = util_now_ms() + TORN_MAX_MS;
	while ((util_now_ms() < end || c.checked < TORN_MIN_LINES) &&
	    util_now_ms() < deadline)
		lost += logring_read(TORN_SLOT, &next, torn_check, &c);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	print_message("checked %llu lines, lost %llu\n",
	    (unsigned long long)c.checked, (unsigned long long)lost);
	assert_int_equal(c.torn, 0);
	assert_true(c.checked >= TORN_MIN_LINES);
}

/* Line k of thread t, "t k sum payload": checkable on its own. */
static size_t
thread_line(unsigned t, unsigned k, char *s, size_t size)
{
	char	 payload[LOGRING_TEXT_MAX];
	size_t	 len = (k * 13 + t * 7) % 150, i;

	for (i = 0; i < len; i++)
		payload[i] = (t ? 'A' : 'a') + (k + i) % 26;
	payload[len] = '\0';
	return (size_t)snprintf(s, size, "%u %u %08x %s", t, k,
	    (unsigned)util_fnv1a(UTIL_FNV_BASIS, payload, len), payload);
}

static unsigned	 threads_done;

static void *
thread_writer(void *arg)
{
	char		 s[LOGRING_TEXT_MAX + 1];
	unsigned	 t = *(unsigned *)arg, k;
	size_t		 len;

	for (k = 0; k < THREAD_LINES; k++) {
		len = thread_line(t, k, s, sizeof(s));
		logring_write(LOG_LEVEL_INFO, s, len);
	}
	__atomic_add_fetch(&threads_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void
thread_check(const struct logring_line *l, void *arg)
{
	struct torn_check	*c = arg;
	char			 want[LOGRING_TEXT_MAX + 1];
	unsigned		 t, k;
	size_t			 len;

	c->checked++;
	if (sscanf(l->text, "%u %u", &t, &k) != 2 || t > 1) {
		c->torn++;
		return;
	}
	len = thread_line(t, k, want, sizeof(want));
	if (l->len != len || memcmp(l->text, want, len) != 0)
		c->torn++;
}

/*
 * Threads of one process (the NATS plugin's) log too: every line they
 * write is counted once and read back whole, none mixed with another.
 */
static void
test_threads_take_turns(void **state)
{
	struct torn_check	 c = { 0, 0 };
	pthread_t		 th[2];
	unsigned		 id[2] = { 0, 1 }, i;
	uint64_t		 next = 0;

	logring_bind(THREAD_SLOT, 1, 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, thread_writer,
		    &id[i]), 0);
	while (__atomic_load_n(&threads_done, __ATOMIC_ACQUIRE) < 2)
		logring_read(THREAD_SLOT, &next, thread_check, &c);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	logring_read(THREAD_SLOT, &next, thread_check, &c);
	assert_int_equal(logring_count(THREAD_SLOT), 2 * THREAD_LINES);
	assert_int_equal(c.torn, 0);
	assert_true(c.checked >= LOGRING_ENTRIES);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_bad),
		cmocka_unit_test(test_unbound_writes_nothing),
		cmocka_unit_test(test_write_read),
		cmocka_unit_test(test_wrap_around),
		cmocka_unit_test(test_long_line_cut),
		cmocka_unit_test(test_lapped_reader),
		cmocka_unit_test(test_child_unbound),
		cmocka_unit_test(test_writer_flat_out),
		cmocka_unit_test(test_threads_take_turns),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
