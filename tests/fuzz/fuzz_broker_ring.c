/*
 * The broker's shared rings (broker/ring.c) as a reader finds them after
 * stray writes: a writer appends a few messages to a valid ring, the
 * input is XORed over the segment's header (geometry, the writer's head
 * and tail, another ring's head) and over the records, and a reader
 * reads every ring. It must not crash, read outside the ring or loop:
 * what it hands out lies in its own copy buffer and is bounded.
 *
 * The segment is moved to the heap, the writer holding the last ring, so
 * that a read past the ring is past the allocation (AddressSanitizer).
 * ring.c is compiled in, for its layout.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"

#include "broker/ring.c"

#define FUZZ_RING_WRITER	(BRING_MAX_RINGS - 1)
#define FUZZ_RING_OTHER		(BRING_MAX_RINGS - 2)
#define FUZZ_RING_WINDOW	4096	/* data touched at each end */
#define FUZZ_RING_LAPS		5	/* where positions start */

static struct bring	*fuzz_rd, *fuzz_wr;
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
	memset(data, 0, FUZZ_RING_WINDOW);
	memset(data + fuzz_wr->ring_size - FUZZ_RING_WINDOW, 0,
	    FUZZ_RING_WINDOW);
	atomic_store(&bring_segment->rings[FUZZ_RING_WRITER].head, start);
	atomic_store(&bring_segment->rings[FUZZ_RING_WRITER].tail, start);
	for (r = 0; r < BRING_MAX_RINGS; r++)
		fuzz_rd->cursor[r] = atomic_load(&bring_segment->rings[r].head);
	fuzz_rd->next_ring = 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct bring_hdr	*heap;
	const char		*cause;
	unsigned		 r;

	log_init("fuzz", LOG_LEVEL_ERR);
	if (bring_create(0, &cause) == -1)
		fatalx("bring_create: %s", cause);
	heap = xcalloc(1, bring_segment->size);
	memcpy(heap, bring_segment, sizeof(*heap));
	munmap(bring_segment, bring_segment->size);
	bring_segment = heap;
	if ((fuzz_rd = bring_attach(&cause)) == NULL)
		fatalx("bring_attach: %s", cause);
	for (r = fuzz_rd->self + 1; r < FUZZ_RING_WRITER; r++)
		atomic_store(&heap->rings[r].owner, getpid());
	if ((fuzz_wr = bring_attach(&cause)) == NULL ||
	    fuzz_wr->self != FUZZ_RING_WRITER)
		fatalx("bring_attach: writer not on the last ring");
	if (bring_group_join(fuzz_wr, "orders", "billing", &cause) == NULL)
		fatalx("bring_group_join: %s", cause);
	fuzz_saved = xmalloc(offsetof(struct bring_hdr, topics));
	memcpy(fuzz_saved, heap, offsetof(struct bring_hdr, topics));
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*topics[] = { "orders", "audit", "o" };
	struct bring_msg	 m;
	const char		*cause;
	char			 body[256];
	uint64_t		 ring_size = fuzz_wr->ring_size, start;
	size_t			 nmsg, i, n, got, max;

	if (size < 2)
		return 0;
	/*
	 * Within the last KiB, so that records wrap with a pad, where the
	 * writer may be: at a record's end, room for a pad's header left.
	 */
	start = FUZZ_RING_LAPS * ring_size + ring_size - 8 * (2 + data[0] %
	    126);
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

	/* At most every 16 bytes of the two rings touched, read once. */
	max = 2 * ring_size / sizeof(struct bring_rec) + nmsg;
	for (got = 0; bring_next(fuzz_rd, &m); got++) {
		if (got >= max)
			fatalx("broker ring: the reader does not stop");
		fuzz_ring_check(&m);
	}
	return 0;
}
