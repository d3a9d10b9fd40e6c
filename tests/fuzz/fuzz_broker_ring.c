/*
 * The broker's shared rings (broker/ring.c) as a reader finds them after
 * stray writes: a writer appends a few messages to a valid ring, the
 * input is XORed over the segment's header (geometry, the writer's head
 * and tail, another ring's head) and over the records, and a reader
 * reads every ring. It must not crash, read outside the ring or loop:
 * what it hands out lies in its own copy buffer and is bounded. Then the
 * writer, as it was or taken over by a new one (data[1]'s top bit),
 * publishes over its spoilt ring, messages large enough that its tail
 * walks the spoilt records, and the reader reads again: the writer must
 * not loop or write outside its ring.
 *
 * The segment is moved to the heap, the writer holding the last ring, so
 * that a read or write past the ring is past the allocation
 * (AddressSanitizer; bring_test_heap). ring.c is compiled in, for its
 * layout.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"

#define BRING_TEST_HEAP
#include "broker/ring.c"

#define FUZZ_RING_WRITER	(BRING_MAX_RINGS - 1)
#define FUZZ_RING_OTHER		(BRING_MAX_RINGS - 2)
#define FUZZ_RING_WINDOW	4096	/* data touched at each end */
#define FUZZ_RING_LAPS		5	/* where positions start */
#define FUZZ_RING_LARGE		3	/* messages of half a ring, after */

static struct bring	*fuzz_rd, *fuzz_wr;
static char		*fuzz_large;	/* the largest body */
static uint8_t		*fuzz_saved;	/* header up to the topics */
static volatile uint8_t	 fuzz_sink;

/* What the input XORs in the header: the bytes a reader loads. */
static uint8_t *
fuzz_ring_field(size_t i, size_t *len)
{
	struct bring_hdr	*h = bring_segment;
	static const size_t	 geometry = offsetof(struct bring_hdr, rings);

	if (i < geometry) {
		*len = geometry - i;
		return (uint8_t *)h + i;
	}
	i -= geometry;
	*len = 8 - i % 8;
	if (i < 8)
		return (uint8_t *)&h->rings[FUZZ_RING_WRITER].head + i;
	if (i < 16)
		return (uint8_t *)&h->rings[FUZZ_RING_WRITER].tail + i - 8;
	if (i < 24)
		return (uint8_t *)&h->rings[FUZZ_RING_OTHER].head + i - 16;
	return NULL;
}

static size_t
fuzz_ring_xor_header(const uint8_t *in, size_t n)
{
	uint8_t	*p;
	size_t	 i = 0, len;

	while (i < n && (p = fuzz_ring_field(i, &len)) != NULL) {
		p[0] ^= in[i];
		i++;
	}
	return i;
}

/* The rest over the records, from where the writer started, wrapping. */
static void
fuzz_ring_xor_data(uint64_t start, const uint8_t *in, size_t n)
{
	uint8_t	*data = bring_data(fuzz_wr, FUZZ_RING_WRITER);
	size_t	 i;

	if (n > FUZZ_RING_WINDOW)
		n = FUZZ_RING_WINDOW;
	for (i = 0; i < n; i++)
		data[(start + i) & (fuzz_wr->ring_size - 1)] ^= in[i];
}

/* Back to the segment as the writer had it before this input. */
static void
fuzz_ring_reset(uint64_t start)
{
	uint8_t		*data = bring_data(fuzz_wr, FUZZ_RING_WRITER);
	unsigned	 r;

	memcpy(bring_segment, fuzz_saved, offsetof(struct bring_hdr, topics));
	memset(data, 0, fuzz_wr->ring_size);
	atomic_store(&bring_segment->rings[FUZZ_RING_WRITER].head, start);
	atomic_store(&bring_segment->rings[FUZZ_RING_WRITER].tail, start);
	fuzz_wr->head = fuzz_wr->tail = start;
	for (r = 0; r < BRING_MAX_RINGS; r++)
		fuzz_rd->cursor[r] = atomic_load(&bring_segment->rings[r].head);
	fuzz_rd->next_ring = 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char		*cause;

	log_init("fuzz", LOG_LEVEL_ERR);
	if (bring_create(0, &cause) == -1)
		fatalx("bring_create: %s", cause);
	bring_test_heap();
	if ((fuzz_rd = bring_attach(&cause)) == NULL)
		fatalx("bring_attach: %s", cause);
	if ((fuzz_wr = bring_test_attach_last(&cause)) == NULL)
		fatalx("bring_attach: %s", cause);
	if (bring_group_join(fuzz_rd, "orders", "billing", &cause) == NULL)
		fatalx("bring_group_join: %s", cause);
	fuzz_large = xcalloc(1, fuzz_wr->ring_size / 2 - BRING_REC_OVERHEAD);
	fuzz_saved = xmalloc(offsetof(struct bring_hdr, topics));
	memcpy(fuzz_saved, bring_segment, offsetof(struct bring_hdr, topics));
	return 0;
}

/* Touch every byte handed out: ASan checks they are ours. */
static void
fuzz_ring_check(const struct bring_msg *m)
{
	const uint8_t	*lo = fuzz_rd->copy, *hi = lo + fuzz_rd->ring_size;
	const uint8_t	*body = m->body;
	uint8_t		 sum = 0;
	size_t		 i;

	if ((const uint8_t *)m->topic < lo || body + m->body_len > hi)
		fatalx("broker ring: message outside the copy buffer");
	for (i = 0; i < m->topic_len; i++)
		sum ^= (uint8_t)m->topic[i];
	for (i = 0; i < m->ctype_len; i++)
		sum ^= (uint8_t)m->ctype[i];
	for (i = 0; i < m->body_len; i++)
		sum ^= body[i];
	(void)bring_msg_targets_of(m, fuzz_rd->self);
	(void)bring_msg_target(m, bring_group_hash("orders", "billing"));
	fuzz_sink ^= sum;
}

/* Read every ring: at most every 16 bytes of two rings, plus extra. */
static void
fuzz_ring_read(size_t extra)
{
	struct bring_msg	 m;
	size_t			 got, max;

	max = 2 * fuzz_rd->ring_size / sizeof(struct bring_rec) + extra;
	for (got = 0; bring_next(fuzz_rd, &m); got++) {
		if (got >= max)
			fatalx("broker ring: the reader does not stop");
		fuzz_ring_check(&m);
	}
}

/*
 * The writer, or its successor on the ring, publishes over the spoilt
 * ring: large messages walk its tail over every record.
 */
static void
fuzz_ring_publish_more(int takeover)
{
	const char	*cause;
	size_t		 i, len = fuzz_wr->ring_size / 2 - BRING_REC_OVERHEAD;

	if (takeover) {
		bring_detach(fuzz_wr);
		if ((fuzz_wr = bring_test_attach_last(&cause)) == NULL)
			fatalx("bring_attach: %s", cause);
	}
	for (i = 0; i < FUZZ_RING_LARGE; i++)
		if (bring_publish(fuzz_wr, "orders", "", fuzz_large,
		    len - i * 4099 % 4096, &cause) == -1)
			fatalx("bring_publish: %s", cause);
	fuzz_ring_read(FUZZ_RING_LARGE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*topics[] = { "orders", "audit", "o" };
	const char		*cause;
	char			 body[256];
	uint64_t		 ring_size = fuzz_wr->ring_size, start;
	size_t			 nmsg, i, n;

	if (size < 2)
		return 0;
	/*
	 * Within the last KiB, so that records wrap with a pad, where the
	 * writer may be: at a record's end, room for a pad's header left.
	 */
	start = FUZZ_RING_LAPS * ring_size + ring_size -
	    sizeof(struct bring_rec) - 8 * (data[0] % 126);
	nmsg = 1 + data[1] % 8;
	fuzz_ring_reset(start);
	for (i = 0; i < nmsg; i++) {
		memset(body, 'a' + (int)i, sizeof(body));
		if (bring_publish(fuzz_wr, topics[i % nitems(topics)],
		    "text/plain", body, i * 37 % sizeof(body), &cause) == -1)
			fatalx("bring_publish: %s", cause);
	}
	n = fuzz_ring_xor_header(data + 2, size - 2);
	fuzz_ring_xor_data(start, data + 2 + n, size - 2 - n);
	fuzz_ring_read(nmsg);
	fuzz_ring_publish_more(data[1] & 0x80);
	return 0;
}
