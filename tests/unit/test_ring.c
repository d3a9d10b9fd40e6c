/*
 * broker/ring.c against bytes its writers did not mean (doc/broker.md,
 * "Stray bytes" in doc/shm-layout.md for the rule): a record that leaves
 * no room at the ring's end for a pad's header, geometry and positions
 * overwritten in the segment, stray bytes in a writer's own ring; and a
 * dead owner's ring freed (by the master's reap, by two at once), what
 * it left unread counted (lapped, past the walk's bound); queue
 * group slots given back, also while a publisher reads them and by a
 * holder of the table's lock killed half way. ring.c is compiled in, to
 * reach the segment, which it moves to the heap (a write past the last
 * ring is one past an allocation: AddressSanitizer), and hooks where a
 * publisher reads a slot (BRING_TEST_READING); tests/unit/test_broker.c
 * tests the rings through their API.
 */
#include "config.h"

#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static const void	*test_ring_at;
static void		(*test_ring_reading)(void);
static void		 test_ring_read_hook(const void *);

#define BRING_TEST_HEAP
#define BRING_TEST_READING(slot) test_ring_read_hook(slot)
#include "broker/ring.c"

#define TEST_RING_REC	4096		/* a record's size, header included */
#define TEST_RING_STOP	100000		/* more messages than a ring holds */

static size_t	 test_ring_others;	/* read on other topics */

/* A record of size bytes on topic "a" (no ctype). */
static void
test_ring_publish_sized(struct bring *w, size_t size)
{
	static char	 body[TEST_RING_REC];
	const char	*cause;

	assert_true(size > sizeof(struct bring_rec) + 1 &&
	    size <= sizeof(body));
	assert_int_equal(bring_publish(w, "a", "", body,
	    size - sizeof(struct bring_rec) - 1, &cause), 0);
}

/* Read all there is: how many messages on topic t (others counted). */
static size_t
test_ring_drain(struct bring *r, const char *t)
{
	struct bring_msg m;
	size_t		 n = 0, i;

	for (i = 0; i < TEST_RING_STOP && bring_next(r, &m); i++)
		if (m.topic_len == strlen(t) && memcmp(m.topic, t,
		    m.topic_len) == 0)
			n++;
		else
			test_ring_others++;
	return n;
}

/*
 * Records ending 8 bytes short of the ring's end: the next one must not
 * start a pad there, whose header would spill into the next ring.
 */
static void
test_ring_pad_room(void **state)
{
	struct bring	*r, *a, *b;
	const char	*cause;
	size_t		 i, n, got = 0;

	assert_non_null(r = bring_attach(&cause));
	assert_non_null(a = bring_attach(&cause));
	assert_non_null(b = bring_attach(&cause));
	assert_int_equal(bring_self(b), bring_self(a) + 1);
	n = a->ring_size / TEST_RING_REC - 1;
	for (i = 0; i < n; i++) {
		test_ring_publish_sized(a, TEST_RING_REC);
		got += test_ring_drain(r, "a");
	}
	test_ring_publish_sized(a, TEST_RING_REC - 8);
	got += test_ring_drain(r, "a");
	/* Waiting at the start of the next ring: */
	assert_int_equal(bring_publish(b, "b", "", "x", 1, &cause), 0);
	test_ring_publish_sized(a, TEST_RING_REC);
	test_ring_others = 0;
	got += test_ring_drain(r, "a");
	assert_int_equal(got, n + 2);
	assert_int_equal(test_ring_others, 1);
	bring_detach(a);
	bring_detach(b);
	bring_detach(r);
}

/* The segment's ring_size and data_off overwritten: neither is used. */
static void
test_ring_stray_geometry(void **state)
{
	struct bring_hdr	*h = bring_segment;
	struct bring		*r, *w;
	const char		*cause;
	uint64_t		 ring_size = h->ring_size, off = h->data_off;

	assert_non_null(r = bring_attach(&cause));
	assert_non_null(w = bring_attach(&cause));
	h->ring_size = ring_size * 64;
	h->data_off = off + ring_size * BRING_MAX_RINGS;
	assert_int_equal(bring_publish(w, "a", "", "x", 1, &cause), 0);
	assert_int_equal(test_ring_drain(r, "a"), 1);
	h->ring_size = ring_size;
	h->data_off = off;
	bring_detach(w);
	bring_detach(r);
}

/*
 * A head far ahead of the reader, over a ring full of old records: they
 * are lost, not read round and round.
 */
static void
test_ring_stray_head(void **state)
{
	struct bring	*r, *w;
	const char	*cause;
	size_t		 i;

	assert_non_null(r = bring_attach(&cause));
	assert_non_null(w = bring_attach(&cause));
	for (i = 0; i < 2 * w->ring_size / TEST_RING_REC; i++)
		test_ring_publish_sized(w, TEST_RING_REC);
	(void)test_ring_drain(r, "a");
	atomic_fetch_add(&bring_segment->rings[w->self].head,
	    (uint64_t)1 << 40);
	assert_int_equal(test_ring_drain(r, "a"), 0);
	atomic_fetch_sub(&bring_segment->rings[w->self].head,
	    (uint64_t)1 << 40);
	bring_detach(w);
	bring_detach(r);
}

/* A tail stray past the head, or an odd head: no read off the ring. */
static void
test_ring_stray_positions(void **state)
{
	struct bring_ring	*ring;
	struct bring		*r, *w;
	const char		*cause;
	uint64_t		 head;

	assert_non_null(r = bring_attach(&cause));
	assert_non_null(w = bring_attach(&cause));
	ring = &bring_segment->rings[w->self];
	test_ring_publish_sized(w, TEST_RING_REC);
	head = atomic_load(&ring->head);
	atomic_store(&ring->tail, head + ((uint64_t)1 << 40));
	assert_int_equal(test_ring_drain(r, "a"), 0);
	assert_int_equal(r->cursor[w->self], head);
	/* a cursor 4 bytes short of the ring's end */
	atomic_store(&ring->tail, 0);
	r->cursor[w->self] = w->ring_size * 3 - 4;
	atomic_store(&ring->head, w->ring_size * 3 + 8);
	assert_int_equal(test_ring_drain(r, "a"), 0);
	assert_int_equal(r->cursor[w->self], w->ring_size * 3 + 8);
	atomic_store(&ring->head, head);
	atomic_store(&ring->tail, head);
	bring_detach(w);
	bring_detach(r);
}

/* Stray bytes over a writer's own ring: its positions, its records. */
static void
test_ring_spoil_zero(struct bring_ring *ring, uint8_t *data, uint64_t size)
{
	memset(data, 0, size);		/* records of size 0 */
}

static void
test_ring_spoil_ones(struct bring_ring *ring, uint8_t *data, uint64_t size)
{
	memset(data, 0xff, size);	/* larger than the ring */
}

static void
test_ring_spoil_odd(struct bring_ring *ring, uint8_t *data, uint64_t size)
{
	uint32_t	 odd = 12;	/* unaligned */
	uint64_t	 i;

	for (i = 0; i < size; i += 8)
		memcpy(data + i, &odd, sizeof(odd));
}

static void
test_ring_spoil_tail_ahead(struct bring_ring *ring, uint8_t *data,
    uint64_t size)
{
	atomic_store(&ring->tail, atomic_load(&ring->head) +
	    ((uint64_t)1 << 40));
}

static void
test_ring_spoil_tail_odd(struct bring_ring *ring, uint8_t *data,
    uint64_t size)
{
	atomic_store(&ring->tail, atomic_load(&ring->head) - size / 2 - 4);
}

static void
test_ring_spoil_head_end(struct bring_ring *ring, uint8_t *data,
    uint64_t size)
{
	/* No room for a pad's header before the ring's end. */
	atomic_store(&ring->head, (atomic_load(&ring->head) | (size - 1)) - 7);
	atomic_store(&ring->tail, atomic_load(&ring->head) - size / 2);
}

static void
test_ring_spoil_head_max(struct bring_ring *ring, uint8_t *data,
    uint64_t size)
{
	atomic_store(&ring->head, UINT64_MAX - 3);
}

static void
test_ring_spoil_head_back(struct bring_ring *ring, uint8_t *data,
    uint64_t size)
{
	atomic_store(&ring->head, 40);
	atomic_store(&ring->tail, 8);
}

static void (*const test_ring_spoils[])(struct bring_ring *, uint8_t *,
    uint64_t) = {
	test_ring_spoil_zero, test_ring_spoil_ones, test_ring_spoil_odd,
	test_ring_spoil_tail_ahead, test_ring_spoil_tail_odd,
	test_ring_spoil_head_end, test_ring_spoil_head_max,
	test_ring_spoil_head_back,
};

/* A writer on the last ring, its ring full and read: tail walks. */
static struct bring *
test_ring_full_writer(struct bring *r)
{
	struct bring	*w;
	const char	*cause;
	size_t		 i;

	assert_non_null(w = bring_test_attach_last(&cause));
	for (i = 0; i < 2 * w->ring_size / TEST_RING_REC; i++)
		test_ring_publish_sized(w, TEST_RING_REC - 8 * (i % 3));
	(void)test_ring_drain(r, "a");
	return w;
}

/* Messages after the spoil, half a ring, then more than a ring: read. */
static void
test_ring_after_spoil(struct bring *r, struct bring *w)
{
	size_t	 i, n = w->ring_size / TEST_RING_REC / 2;

	for (i = 0; i < n; i++)
		test_ring_publish_sized(w, TEST_RING_REC);
	assert_int_equal(test_ring_drain(r, "a"), n);
	for (i = 0; i < 3 * n; i++)
		test_ring_publish_sized(w, TEST_RING_REC - 8 * (i % 5));
	assert_true(test_ring_drain(r, "a") >= n);
	test_ring_publish_sized(w, TEST_RING_REC);
	assert_int_equal(test_ring_drain(r, "a"), 1);
}

/*
 * Every spoil on a live writer, then on a ring taken over: the writer
 * neither loops (alarm) nor writes past its ring (the heap's end), and
 * readers get what it publishes afterwards.
 */
static void
test_ring_stray_writer(void **state)
{
	struct bring	*r, *w;
	const char	*cause;
	size_t		 i;
	int		 takeover;

	alarm(60);
	assert_non_null(r = bring_attach(&cause));
	for (takeover = 0; takeover < 2; takeover++)
		for (i = 0; i < nitems(test_ring_spoils); i++) {
			w = test_ring_full_writer(r);
			if (takeover)
				bring_detach(w);
			test_ring_spoils[i](&bring_segment->rings[
			    BRING_MAX_RINGS - 1], bring_data(r,
			    BRING_MAX_RINGS - 1), r->ring_size);
			if (takeover)
				assert_non_null(w =
				    bring_test_attach_last(&cause));
			test_ring_after_spoil(r, w);
			bring_detach(w);
		}
	bring_detach(r);
	alarm(0);
}

/* A pid that no process has any more. */
static pid_t
test_ring_dead_pid(void)
{
	pid_t	 pid;

	if ((pid = fork()) == 0)
		_exit(0);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

/* b's process is killed as pid: its ring stays claimed, by no one. */
static void
test_ring_kill(struct bring *b, pid_t pid)
{
	atomic_store(&b->hdr->rings[b->self].owner, pid);
	close(b->wake_fd);
	free(b->copy);
	free(b);
}

/*
 * A process killed with a queue member: once the master reaps it, the
 * group's copies go to the member left, not to its ring (nobody would
 * deliver them while no process attaches).
 */
static void
test_ring_reaped(void **state)
{
	struct bring		*r, *w, *d;
	struct bring_group	*g;
	struct bring_msg	 m;
	const char		*cause;
	pid_t			 pid = test_ring_dead_pid();
	unsigned		 dead;
	int			 i;

	assert_non_null(r = bring_attach(&cause));
	assert_non_null(w = bring_attach(&cause));
	assert_non_null(d = bring_attach(&cause));
	assert_non_null(g = bring_group_join(r, "reaped", "q", &cause));
	assert_ptr_equal(bring_group_join(d, "reaped", "q", &cause), g);
	dead = d->self;
	test_ring_kill(d, pid);
	bring_reaped(pid);
	assert_int_equal(atomic_load(&bring_segment->rings[dead].owner), 0);
	assert_int_equal(atomic_load(&g->members[dead]), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(bring_publish(w, "reaped", "", "x", 1,
		    &cause), 0);
		assert_int_equal(bring_next(r, &m), 1);
		assert_int_equal(bring_msg_target(&m, bring_group_hash(
		    "reaped", "q")), (int)r->self);
	}
	bring_detach(w);
	bring_detach(r);
}

/*
 * Two processes free a dead owner's ring at once; a third claims it and
 * joins a group in between: the slower one, acting on the owner it saw,
 * must leave the new owner's members alone.
 */
static void
test_ring_free_race(void **state)
{
	struct bring		*r, *d, *next;
	struct bring_group	*g;
	const char		*cause;
	pid_t			 pid = test_ring_dead_pid();
	unsigned		 dead;

	assert_non_null(r = bring_attach(&cause));
	assert_non_null(d = bring_attach(&cause));
	dead = d->self;
	test_ring_kill(d, pid);
	bring_free(bring_segment, dead, pid);
	assert_non_null(next = bring_attach(&cause));
	assert_int_equal(next->self, dead);
	assert_non_null(g = bring_group_join(next, "race", "q", &cause));
	bring_free(bring_segment, dead, pid);
	assert_int_equal(atomic_load(&g->members[dead]), 1);
	assert_int_equal(atomic_load(&bring_segment->rings[dead].owner),
	    getpid());
	bring_detach(next);
	bring_detach(r);
}

/*
 * The queue group's only member is in a process killed before it read n
 * messages of w: once it is reaped, each one it was chosen for is
 * counted, unrouted if counted in the ring, else lost.
 * How many of each, taken from its ring's counters, into out[2].
 */
static void
test_ring_dead_unread(const char *topic, size_t size, size_t n,
    uint64_t *out)
{
	static char		 body[TEST_RING_REC];
	struct bring_ring	*ring;
	struct bring		*w, *d;
	const char		*cause;
	pid_t			 pid = test_ring_dead_pid();
	uint64_t		 unrouted, lost;
	size_t			 i;

	assert_non_null(w = bring_attach(&cause));
	assert_non_null(d = bring_attach(&cause));
	assert_non_null(bring_group_join(d, topic, "q", &cause));
	ring = &bring_segment->rings[d->self];
	unrouted = atomic_load(&ring->counters[BRING_UNROUTED]);
	lost = atomic_load(&ring->counters[BRING_LOST]);
	test_ring_kill(d, pid);
	for (i = 0; i < n; i++)
		assert_int_equal(bring_publish(w, topic, "", body, size,
		    &cause), 0);
	bring_reaped(pid);
	out[0] = atomic_load(&ring->counters[BRING_UNROUTED]) - unrouted;
	out[1] = atomic_load(&ring->counters[BRING_LOST]) - lost;
	assert_int_equal(out[0] + out[1], n);
	bring_detach(w);
}

/*
 * Lapped while dead, its cursor behind the tail: the walk starts there,
 * and those overwritten were counted nowhere.
 */
static void
test_ring_dead_lapped(void **state)
{
	uint64_t	 got[2];
	size_t		 n = 3 * bring_ring_size / TEST_RING_REC;

	test_ring_dead_unread("lapped", TEST_RING_REC - 64, n, got);
	assert_true(got[0] > 0 && got[1] > 0);
}

/*
 * More records left unread than the walk takes (a hung worker's ring
 * would stall the master): the rest, to the head, is lost.
 */
static void
test_ring_dead_walk_bounded(void **state)
{
	uint64_t	 got[2];
	size_t		 n = BRING_UNREAD_MAX + 1000;

	/* Lapping nothing: */
	assert_true(n * BRING_ALIGN(sizeof(struct bring_rec) +
	    sizeof(struct bring_target) + strlen("bound")) < bring_ring_size);
	test_ring_dead_unread("bound", 0, n, got);
	/* Less a pad, if the ring wrapped. */
	assert_true(got[0] + 1 >= BRING_UNREAD_MAX &&
	    got[0] <= BRING_UNREAD_MAX);
}

/*
 * A reader stores where it is in a ring (for whoever frees its ring)
 * when it moved, not for every idle ring it looks at.
 */
static void
test_ring_idle_not_marked(void **state)
{
	struct bring_read	*reads;
	struct bring		*r, *w;
	const char		*cause;
	unsigned		 idle;

	assert_non_null(r = bring_attach(&cause));
	assert_non_null(w = bring_attach(&cause));
	reads = bring_segment->rings[r->self].reads;
	idle = (w->self + 1) % BRING_MAX_RINGS;
	atomic_store(&reads[idle].cursor, UINT64_MAX);
	atomic_store(&reads[idle].seq, UINT64_MAX);
	test_ring_publish_sized(w, TEST_RING_REC);
	assert_int_equal(test_ring_drain(r, "a"), 1);
	assert_int_equal(atomic_load(&reads[w->self].cursor),
	    r->cursor[w->self]);
	assert_int_equal(atomic_load(&reads[w->self].seq), r->seq[w->self]);
	assert_true(atomic_load(&reads[idle].cursor) == UINT64_MAX);
	assert_true(atomic_load(&reads[idle].seq) == UINT64_MAX);
	bring_detach(w);
	bring_detach(r);
}

/* Names in names[n][16] of topics whose slot would be the same, home. */
static void
test_ring_same_home(char (*names)[16], size_t n)
{
	uint64_t	 home = 0;
	size_t		 i = 0, k;

	for (k = 0; i < n; k++) {
		snprintf(names[i], sizeof(names[i]), "home%zu", k);
		if (i == 0)
			home = bring_topic_hash(names[0]) % BRING_TOPICS;
		if (bring_topic_hash(names[i]) % BRING_TOPICS == home)
			i++;
	}
}

static size_t
test_ring_topics_used(void)
{
	size_t	 i, n = 0;

	for (i = 0; i < BRING_TOPICS; i++)
		n += atomic_load(&bring_segment->topics[i].thash) != 0;
	return n;
}

/*
 * The table of queue groups over a long life: more distinct topics, and
 * queue names on one topic, than it holds at once, each group's last
 * member leaving before the next joins. Its slots are given back, and
 * the table ends as empty as it began (lookups stop at once).
 */
static void
test_ring_groups_reused(void **state)
{
	struct bring		*b;
	struct bring_group	*g;
	const char		*cause;
	char			 name[32];
	int			 i;

	assert_non_null(b = bring_attach(&cause));
	for (i = 0; i < BRING_TOPICS + 44; i++) {
		snprintf(name, sizeof(name), "job-%d", i);
		assert_non_null(g = bring_group_join(b, name, "w", &cause));
		bring_group_count(b, g, -1);
	}
	for (i = 0; i < 3 * BRING_GROUPS; i++) {
		snprintf(name, sizeof(name), "q%d", i);
		assert_non_null(g = bring_group_join(b, "tenant", name,
		    &cause));
		bring_group_count(b, g, -1);
	}
	assert_int_equal(test_ring_topics_used(), 0);
	bring_detach(b);
}

/*
 * The table full at once, then every group's last member leaving: no
 * slot was free to start turning freed ones free from, and every lookup
 * read all 256 slots for good. It ends as empty as it began.
 */
static void
test_ring_groups_full_then_empty(void **state)
{
	struct bring		*b;
	struct bring_group	*g[BRING_TOPICS];
	const char		*cause;
	char			 name[32];
	int			 i;

	assert_non_null(b = bring_attach(&cause));
	for (i = 0; i < BRING_TOPICS; i++) {
		snprintf(name, sizeof(name), "job-%d", i);
		assert_non_null(g[i] = bring_group_join(b, name, "w", &cause));
	}
	assert_int_equal(test_ring_topics_used(), BRING_TOPICS);
	for (i = 0; i < BRING_TOPICS; i++)
		bring_group_count(b, g[i], -1);
	assert_int_equal(test_ring_topics_used(), 0);
	bring_detach(b);
}

/*
 * Topics that probe through each other's slots: one freed in the middle
 * keeps the later ones found; freed from the end, every slot is free.
 */
static void
test_ring_groups_probe_chain(void **state)
{
	struct bring		*b;
	struct bring_group	*g[3];
	struct bring_target	 out[BRING_GROUPS];
	char			 names[3][16];
	const char		*cause;
	int			 i;

	test_ring_same_home(names, 3);
	assert_non_null(b = bring_attach(&cause));
	for (i = 0; i < 3; i++)
		assert_non_null(g[i] = bring_group_join(b, names[i], "q",
		    &cause));
	bring_group_count(b, g[1], -1);
	assert_int_equal(test_ring_topics_used(), 3);
	assert_int_equal(bring_targets(b->hdr, names[2], out), 1);
	assert_int_equal(out[0].qhash, bring_group_hash(names[2], "q"));
	assert_int_equal(bring_targets(b->hdr, names[1], out), 0);
	/* The freed slot is taken again, not one further on. */
	assert_ptr_equal(bring_group_join(b, names[1], "q", &cause), g[1]);
	bring_group_count(b, g[1], -1);
	bring_group_count(b, g[2], -1);
	assert_int_equal(test_ring_topics_used(), 1);
	bring_group_count(b, g[0], -1);
	assert_int_equal(test_ring_topics_used(), 0);
	bring_detach(b);
}

/*
 * A process killed holding the table's lock, half way through freeing a
 * group, with a member in it: once the master reaps it, the lock is
 * free, the next holder makes the slot whole and frees what nobody is a
 * member of any more, and the group is there to join again.
 */
static void
test_ring_groups_holder_killed(void **state)
{
	struct bring		*r, *d;
	struct bring_group	*g;
	struct bring_target	 out[BRING_GROUPS];
	const char		*cause;
	pid_t			 pid = test_ring_dead_pid();

	assert_non_null(r = bring_attach(&cause));
	assert_non_null(d = bring_attach(&cause));
	assert_non_null(g = bring_group_join(d, "held", "q", &cause));
	atomic_store(&bring_segment->lock, pid);
	bring_seq_begin(&g->seq);
	test_ring_kill(d, pid);
	bring_reaped(pid);
	assert_int_equal(atomic_load(&bring_segment->lock), 0);
	assert_int_equal(bring_targets(bring_segment, "held", out), 0);
	assert_ptr_equal(bring_group_join(r, "held", "q", &cause), g);
	assert_int_equal(atomic_load(&g->seq) % 2, 0);
	assert_int_equal(bring_targets(bring_segment, "held", out), 1);
	assert_int_equal(out[0].ring, r->self);
	bring_group_count(r, g, -1);
	assert_int_equal(test_ring_topics_used(), 0);
	bring_detach(r);
}

/*
 * The table's lock held by a live process that does not let go (stopped,
 * say): a join waits BRING_LOCK_WAIT_MS and is refused, a worker's loop
 * is not hung; the last member leaving leaves the free to the next
 * holder. Held by a pid that is gone, or by stray bytes: taken over.
 */
static void
test_ring_groups_lock_held(void **state)
{
	struct bring		*r;
	struct bring_group	*g;
	const char		*cause = NULL;
	const int32_t		 stray[] = { test_ring_dead_pid(), -5 };
	size_t			 i;

	assert_non_null(r = bring_attach(&cause));
	assert_non_null(g = bring_group_join(r, "stuck", "q", &cause));
	atomic_store(&bring_segment->lock, (int32_t)getppid());
	assert_null(bring_group_join(r, "stuck2", "q", &cause));
	assert_string_equal(cause, "the queue group table is busy");
	bring_group_count(r, g, -1);
	assert_int_equal(test_ring_topics_used(), 1);
	for (i = 0; i < nitems(stray); i++) {
		atomic_store(&bring_segment->lock, stray[i]);
		assert_non_null(g = bring_group_join(r, "stuck", "q", &cause));
		assert_int_equal(atomic_load(&bring_segment->lock), 0);
		bring_group_count(r, g, -1);
		assert_int_equal(test_ring_topics_used(), 0);
	}
	bring_detach(r);
}

/*
 * A slot changing hands while a publisher reads it: bring_targets calls
 * test_ring_reading when it reaches test_ring_at.
 */
static void
test_ring_reading_at(const void *slot, void (*fn)(void))
{
	test_ring_at = slot;
	test_ring_reading = fn;
}

static void
test_ring_read_hook(const void *slot)
{
	if (slot != test_ring_at)
		return;
	test_ring_at = NULL;
	test_ring_reading();
}

static struct bring		*test_ring_a, *test_ring_b;
static struct bring_group	*test_ring_g;
static char			 test_ring_names[2][16];

/* a's member of the group read leaves, b joins another group there. */
static void
test_ring_group_changes(void)
{
	const char	*cause;

	bring_group_count(test_ring_a, test_ring_g, -1);
	assert_ptr_equal(bring_group_join(test_ring_b, "read", "q2", &cause),
	    test_ring_g);
}

/*
 * A publisher reads a group whose last member leaves, and another group
 * of the topic claims its slot, before it counted the members: it
 * chooses no process for either (neither had a member all along), not
 * the new group's process for the old group.
 */
static void
test_ring_groups_reused_while_read(void **state)
{
	struct bring		*c;
	struct bring_group	*keep;
	struct bring_target	 out[BRING_GROUPS];
	const char		*cause;

	assert_non_null(c = bring_attach(&cause));
	assert_non_null(test_ring_a = bring_attach(&cause));
	assert_non_null(test_ring_b = bring_attach(&cause));
	assert_non_null(keep = bring_group_join(c, "read", "q0", &cause));
	assert_non_null(test_ring_g = bring_group_join(test_ring_a, "read",
	    "q1", &cause));
	test_ring_reading_at(test_ring_g, test_ring_group_changes);
	assert_int_equal(bring_targets(bring_segment, "read", out), 1);
	assert_null(test_ring_at);
	assert_int_equal(out[0].qhash, bring_group_hash("read", "q0"));
	assert_int_equal(out[0].ring, c->self);
	bring_group_count(test_ring_b, test_ring_g, -1);
	bring_group_count(c, keep, -1);
	assert_int_equal(test_ring_topics_used(), 0);
	bring_detach(test_ring_b);
	bring_detach(test_ring_a);
	bring_detach(c);
}

/* a's member of the topic read leaves, b's topic takes its slot. */
static void
test_ring_topic_changes(void)
{
	const char	*cause;

	bring_group_count(test_ring_a, test_ring_g, -1);
	assert_ptr_equal(bring_group_join(test_ring_b, test_ring_names[1],
	    "q", &cause), test_ring_g);
}

/*
 * The same with the topic's slot: freed with its last group and claimed
 * for another topic before the publisher read the groups in it. What it
 * read there are the other topic's: no copy.
 */
static void
test_ring_topics_reused_while_read(void **state)
{
	struct bring_target	 out[BRING_GROUPS];
	const char		*cause;

	test_ring_same_home(test_ring_names, 2);
	assert_non_null(test_ring_a = bring_attach(&cause));
	assert_non_null(test_ring_b = bring_attach(&cause));
	assert_non_null(test_ring_g = bring_group_join(test_ring_a,
	    test_ring_names[0], "q", &cause));
	test_ring_reading_at(&bring_segment->topics[bring_topic_hash(
	    test_ring_names[0]) % BRING_TOPICS], test_ring_topic_changes);
	assert_int_equal(bring_targets(bring_segment, test_ring_names[0],
	    out), 0);
	assert_null(test_ring_at);
	assert_int_equal(bring_targets(bring_segment, test_ring_names[1],
	    out), 1);
	assert_int_equal(out[0].ring, test_ring_b->self);
	bring_group_count(test_ring_b, test_ring_g, -1);
	assert_int_equal(test_ring_topics_used(), 0);
	bring_detach(test_ring_b);
	bring_detach(test_ring_a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_pad_room),
		cmocka_unit_test(test_ring_stray_geometry),
		cmocka_unit_test(test_ring_stray_head),
		cmocka_unit_test(test_ring_stray_positions),
		cmocka_unit_test(test_ring_stray_writer),
		cmocka_unit_test(test_ring_reaped),
		cmocka_unit_test(test_ring_free_race),
		cmocka_unit_test(test_ring_dead_lapped),
		cmocka_unit_test(test_ring_dead_walk_bounded),
		cmocka_unit_test(test_ring_idle_not_marked),
		cmocka_unit_test(test_ring_groups_reused),
		cmocka_unit_test(test_ring_groups_full_then_empty),
		cmocka_unit_test(test_ring_groups_probe_chain),
		cmocka_unit_test(test_ring_groups_holder_killed),
		cmocka_unit_test(test_ring_groups_lock_held),
		cmocka_unit_test(test_ring_groups_reused_while_read),
		cmocka_unit_test(test_ring_topics_reused_while_read),
	};
	const char	*cause;

	log_init("test_ring", LOG_LEVEL_ERR);
	if (bring_create(0, &cause) == -1) {
		fprintf(stderr, "bring_create: %s\n", cause);
		return 1;
	}
	bring_test_heap();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
