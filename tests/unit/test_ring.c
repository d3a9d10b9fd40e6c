/*
 * broker/ring.c against bytes its writers did not mean (doc/broker.md,
 * "Stray bytes" in doc/shm-layout.md for the rule): a record that leaves
 * no room at the ring's end for a pad's header, geometry and positions
 * overwritten in the segment. ring.c is compiled in, to reach the
 * segment; tests/unit/test_broker.c tests the rings through their API.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_pad_room),
		cmocka_unit_test(test_ring_stray_geometry),
		cmocka_unit_test(test_ring_stray_head),
		cmocka_unit_test(test_ring_stray_positions),
	};
	const char	*cause;

	log_init("test_ring", LOG_LEVEL_ERR);
	if (bring_create(0, &cause) == -1) {
		fprintf(stderr, "bring_create: %s\n", cause);
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
