/*
 * Shared-memory rings for the broker (see ring.h and doc/broker.md).
 *
 * A ring is a byte log addressed by ever-growing 64-bit positions; the
 * offset is position & (size - 1). The writer moves "tail" past the
 * records it is about to overwrite (release fence), writes, then
 * publishes "head" (release store). A reader copies a record out, then
 * (acquire fence) checks that tail has not passed it: if it has, the copy
 * may be torn and is thrown away. This is the seqlock argument, with the
 * sequence replaced by the tail position.
 *
 * Stray bytes (doc/broker.md): the geometry is kept in each process, as
 * bring_create() made it, never read back from the segment; a reader
 * bounds every position and size it loads before use, so that whatever
 * the segment holds it reads inside the ring and finishes. The writer
 * keeps its own ring's head and tail in struct bring and only stores them
 * to the segment; its tail walks records it wrote, bounded, and drops
 * the ring's queue at a bad one.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/ring.h"
#include "log.h"
#include "util.h"

#define BRING_MAGIC		0x4d42524bU	/* "MBRK" */
#define BRING_MIN_SIZE		(1024 * 1024)
#define BRING_ALIGN(n)		(((n) + 7) & ~(size_t)7)
#define BRING_F_PAD		0x1
/* A freed topic slot: lookups probe on past it (0 ends them). */
#define BRING_GONE		1
/* No honest position gets here (2^62 bytes: 14 years at 10 GB/s). */
#define BRING_POS_MAX		((uint64_t)1 << 62)
#define BRING_LOCK_WAIT_MS	100	/* for the queue group table (bring_lock) */
/* Records of each ring counted one by one for a dead reader (bring_unread). */
#define BRING_UNREAD_MAX	16384

const char *const bring_counter_names[BRING_NCOUNTERS] = {
	[BRING_PUBLISHED] = "published",
	[BRING_DELIVERED] = "delivered",
	[BRING_DROPPED] = "dropped_subscribers",
	[BRING_LOST] = "lost",
	[BRING_UNROUTED] = "unrouted",
};

/* On the wire of the ring; followed by targets, topic, ctype, body. */
struct bring_rec {
	uint32_t	 size;		/* whole record, aligned */
	uint16_t	 flags;
	uint16_t	 ntargets;
	uint16_t	 topic_len;
	uint16_t	 ctype_len;
	uint32_t	 body_len;
	uint64_t	 seq;		/* the ring's published count before it */
};

/* A record's bytes beyond its body, at most: header, targets, names. */
#define BRING_REC_OVERHEAD	(sizeof(struct bring_rec) + BRING_GROUPS * \
				    sizeof(struct bring_target) + \
				    BRING_NAME_MAX + BRING_CTYPE_MAX + 7)

/*
 * Slots are claimed and freed under the table's lock; a publisher reads
 * them without it and checks seq, odd while a slot is freed, around what
 * it read (bring_targets).
 */
struct bring_group {
	_Atomic uint64_t	 qhash;		/* 0: free */
	_Atomic uint64_t	 ticket;
	_Atomic uint32_t	 seq;
	_Atomic uint32_t	 members[BRING_MAX_RINGS];
};

struct bring_topic {
	_Atomic uint64_t	 thash;		/* 0: free, or BRING_GONE */
	_Atomic uint32_t	 seq;
	struct bring_group	 groups[BRING_GROUPS];
};

/* How far the owner read a ring: a dead one's unread is counted. */
struct bring_read {
	_Atomic uint64_t	 cursor;
	_Atomic uint64_t	 seq;		/* expected at cursor */
};

struct bring_ring {
	_Alignas(64) _Atomic uint64_t head;
	_Alignas(64) _Atomic uint64_t tail;
	_Atomic int32_t		 owner;		/* pid, 0: free */
	_Atomic uint32_t	 sleeping;
	_Atomic uint64_t	 counters[BRING_NCOUNTERS];
	_Alignas(64) struct bring_read reads[BRING_MAX_RINGS];
};

struct bring_hdr {
	uint32_t		 magic;
	uint32_t		 version;
	uint64_t		 size;		/* whole segment */
	uint64_t		 ring_size;	/* power of two */
	uint64_t		 data_off;
	uint64_t		 nonce;		/* names the wake sockets */
	struct bring_ring	 rings[BRING_MAX_RINGS];
	struct bring_topic	 topics[BRING_TOPICS];
	_Atomic int32_t		 lock;		/* pid changing the topics */
	_Atomic uint32_t	 sweep;		/* members were cleared */
};

/* A process's view: its ring, cursors into every ring, a copy buffer. */
struct bring {
	struct bring_hdr	*hdr;
	uint64_t		 ring_size;	/* private copies of the */
	uint8_t			*data;		/* geometry: ring 0's data */
	unsigned		 self;
	uint64_t		 head;		/* our ring's, ours alone: */
	uint64_t		 tail;		/* stored, never trusted back */
	int			 wake_fd;
	uint64_t		 cursor[BRING_MAX_RINGS];
	uint64_t		 seq[BRING_MAX_RINGS];	/* expected at cursor */
	unsigned		 next_ring;	/* where bring_next looks */
	uint8_t			*copy;
	struct sockaddr_un	 addrs[BRING_MAX_RINGS];
	socklen_t		 addrlen[BRING_MAX_RINGS];
};

static struct bring_hdr	*bring_segment;
static uint64_t		 bring_ring_size;	/* inherited, not shared */
static uint64_t		 bring_data_off;

static uint8_t *
bring_data(const struct bring *b, unsigned r)
{
	return b->data + (size_t)r * b->ring_size;
}

/* FNV-1a, never 0 (0 marks a free slot). */
uint64_t
bring_name_hash(const char *name, size_t len)
{
	uint64_t	 h = util_fnv1a(UTIL_FNV_BASIS, name, len);

	return h != 0 ? h : 1;
}

static uint64_t
bring_topic_hash(const char *topic)
{
	uint64_t	 h = bring_name_hash(topic, strlen(topic));

	return h != BRING_GONE ? h : BRING_GONE + 1;
}

uint64_t
bring_group_hash(const char *topic, const char *queue)
{
	uint64_t	 h;

	h = util_fnv1a(UTIL_FNV_BASIS, topic, strlen(topic) + 1);
	h = util_fnv1a(h, queue, strlen(queue));
	return h != 0 ? h : 1;
}

int
bring_create(size_t max_message, const char **cause)
{
	struct bring_hdr	*h;
	size_t			 ring_size = BRING_MIN_SIZE, size, off;

	if (bring_segment != NULL) {
		*cause = "broker segment already created";
		return -1;
	}
	/* Two of the largest records fit, so a reader can always catch up. */
	while (ring_size / 2 < max_message + BRING_REC_OVERHEAD)
		ring_size *= 2;
	off = (sizeof(*h) + 4095) & ~(size_t)4095;
	size = off + BRING_MAX_RINGS * ring_size;
	h = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (h == MAP_FAILED) {
		*cause = strerror(errno);
		return -1;
	}
	h->magic = BRING_MAGIC;
	h->version = BRING_VERSION;
	h->size = size;
	h->ring_size = ring_size;
	h->data_off = off;
	if (getrandom(&h->nonce, sizeof(h->nonce), 0) != sizeof(h->nonce))
		h->nonce = (uint64_t)getpid() << 32 | (uint64_t)util_now_ms();
	bring_ring_size = ring_size;
	bring_data_off = off;
	bring_segment = h;
	return 0;
}

static void
bring_addr(struct bring *b, unsigned r)
{
	struct sockaddr_un	*sun = &b->addrs[r];
	int			 n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* Abstract namespace: sun_path[0] stays NUL. */
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1,
	    "microd-broker-%016llx-%u", (unsigned long long)b->hdr->nonce, r);
	b->addrlen[r] = offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

/*
 * Forget a process's queue group members. The groups left empty are
 * freed by the next holder of the table's lock: we may be the master,
 * which never waits for it.
 */
static void
bring_clear_members(struct bring_hdr *h, unsigned r)
{
	size_t	 t, g;

	for (t = 0; t < BRING_TOPICS; t++)
		for (g = 0; g < BRING_GROUPS; g++)
			atomic_store(&h->topics[t].groups[g].members[r], 0);
	atomic_store(&h->sweep, 1);
}

static int
bring_owner_dead(int32_t pid)
{
	return pid != 0 && kill(pid, 0) == -1 && errno == ESRCH;
}

/*
 * The header of the record at pos of a ring's data, into *rec, if it is
 * one a writer could have written: inside the ring, ending by head. Its
 * size, else 0. Every walk of a ring bounds what it loads here.
 */
static uint32_t
bring_rec_at(const uint8_t *data, uint64_t ring_size, uint64_t pos,
    uint64_t head, struct bring_rec *rec)
{
	uint64_t	 off = pos & (ring_size - 1);

	if (pos >= head || off > ring_size - sizeof(*rec))
		return 0;
	memcpy(rec, data + off, sizeof(*rec));
	if (rec->size < sizeof(*rec) || rec->size % 8 != 0 ||
	    rec->size > ring_size - off || rec->size > head - pos)
		return 0;
	return rec->size;
}

/*
 * A reader expecting message *next reads the one numbered seq: those
 * between were skipped. A number that went back (a ring taken over,
 * stray bytes) only sets where it is.
 */
static uint64_t
bring_gap(uint64_t *next, uint64_t seq)
{
	uint64_t	 n = seq > *next ? seq - *next : 0;

	*next = seq + 1;
	return n;
}

/*
 * Queue group copies for ring r in the record at pos of ring s, which
 * ends before head; 0 when it is a pad. -1 if it is none we could have
 * written (stray bytes), else its header in *rec.
 */
static int64_t
bring_copies_at(struct bring_hdr *h, unsigned s, unsigned r, uint64_t pos,
    uint64_t head, struct bring_rec *rec)
{
	const uint8_t		*p = (uint8_t *)h + bring_data_off +
				    (size_t)s * bring_ring_size;
	struct bring_msg	 m;

	if (bring_rec_at(p, bring_ring_size, pos, head, rec) == 0 ||
	    sizeof(*rec) + rec->ntargets * sizeof(*m.targets) > rec->size)
		return -1;
	if (rec->flags & BRING_F_PAD)
		return 0;
	m.targets = (const struct bring_target *)(p + (pos &
	    (bring_ring_size - 1)) + sizeof(*rec));
	m.ntargets = rec->ntargets;
	return (int64_t)bring_msg_targets_of(&m, r);
}

/* What a dead process left unread, for bring_free. */
struct bring_unread {
	uint64_t	 copies;	/* chosen for it: unrouted */
	uint64_t	 lost;		/* lapped before anyone read them */
};

/*
 * The messages of ring s from the one expected next, *seq, on to its
 * published count: lost, the walk of bring_unread having given up on
 * them (a hung worker's rings must not stall the master).
 */
static uint64_t
bring_unread_rest(struct bring_ring *ring, uint64_t *seq)
{
	uint64_t	 pub, n;

	pub = atomic_load_explicit(&ring->counters[BRING_PUBLISHED],
	    memory_order_relaxed);
	n = pub > *seq ? pub - *seq : 0;
	*seq = pub;
	return n;
}

/*
 * What dead ring r left unread of ring s, walked from where it was as it
 * would have read on: copies publishers chose it for, and messages lapped
 * before the walk reached them (its cursor behind the tail, or a writer
 * passing the walk), by their seq, as a lapped reader counts them. Past
 * BRING_UNREAD_MAX records, the rest is lost; stray bytes end the walk.
 * Where it stopped becomes r's cursor in s: counted up to there.
 */
static void
bring_unread(struct bring_hdr *h, unsigned s, unsigned r,
    struct bring_unread *u)
{
	struct bring_ring	*ring = &h->rings[s];
	struct bring_read	*rd = &h->rings[r].reads[s];
	struct bring_rec	 rec;
	uint64_t		 head, tail, pos, seq, n;
	int64_t			 c;

	head = atomic_load_explicit(&ring->head, memory_order_acquire);
	tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
	pos = atomic_load_explicit(&rd->cursor, memory_order_relaxed);
	seq = atomic_load_explicit(&rd->seq, memory_order_relaxed);
	if (tail > head || head - tail > bring_ring_size)
		tail = head;
	if (pos < tail || pos > head)
		pos = tail;
	for (n = 0; pos < head; n++) {
		if (n == BRING_UNREAD_MAX) {
			u->lost += bring_unread_rest(ring, &seq);
			pos = head;
			break;
		}
		c = bring_copies_at(h, s, r, pos, head, &rec);
		atomic_thread_fence(memory_order_acquire);
		tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
		if (pos < tail)
			/* Lapped, what we read maybe torn: on from the tail. */
			pos = tail < head ? tail : head;
		else if (c == -1)
			break;
		else {
			if (!(rec.flags & BRING_F_PAD))
				u->lost += bring_gap(&seq, rec.seq);
			u->copies += (uint64_t)c;
			pos += rec.size;
		}
	}
	atomic_store_explicit(&rd->seq, seq, memory_order_relaxed);
	atomic_store_explicit(&rd->cursor, pos, memory_order_relaxed);
}

/*
 * Free ring r if pid still owns it. We hold it while its members are
 * cleared: two processes freeing it at once, the later clear would
 * otherwise wipe the counts of a process that claimed it meanwhile.
 * Copies publishers chose it for that it never read (between its death
 * and the reap) are unrouted, as for a member that left; messages it
 * could no longer read are lost, as for a lapped reader.
 */
static void
bring_free(struct bring_hdr *h, unsigned r, int32_t pid)
{
	struct bring_unread	 u = { 0, 0 };
	unsigned		 s;

	if (!atomic_compare_exchange_strong(&h->rings[r].owner, &pid,
	    (int32_t)getpid()))
		return;
	bring_clear_members(h, r);
	for (s = 0; s < BRING_MAX_RINGS; s++)
		bring_unread(h, s, r, &u);
	atomic_fetch_add(&h->rings[r].counters[BRING_UNROUTED], u.copies);
	atomic_fetch_add(&h->rings[r].counters[BRING_LOST], u.lost);
	atomic_store(&h->rings[r].owner, 0);
}

void
bring_reaped(pid_t pid)
{
	struct bring_hdr	*h = bring_segment;
	int32_t			 holder = pid;
	unsigned		 r;

	if (h == NULL)
		return;
	for (r = 0; r < BRING_MAX_RINGS; r++)
		if (atomic_load(&h->rings[r].owner) == pid)
			bring_free(h, r, pid);
	/*
	 * It died holding the table's lock: break it, now that its pid may
	 * be reused; the next holder puts right what it left half done.
	 */
	if (atomic_load(&h->lock) == pid) {
		atomic_store(&h->sweep, 1);
		atomic_compare_exchange_strong(&h->lock, &holder, 0);
	}
}

/* Free the rings of dead owners, then take a free one. */
static int
bring_claim(struct bring_hdr *h)
{
	int32_t		 pid, me = getpid();
	unsigned	 r;

	for (r = 0; r < BRING_MAX_RINGS; r++) {
		pid = atomic_load(&h->rings[r].owner);
		if (bring_owner_dead(pid))
			bring_free(h, r, pid);
	}
	for (r = 0; r < BRING_MAX_RINGS; r++) {
		pid = 0;
		if (atomic_compare_exchange_strong(&h->rings[r].owner, &pid,
		    me)) {
			bring_clear_members(h, r);
			return (int)r;
		}
	}
	return -1;
}

static int
bring_bind(struct bring *b, const char **cause)
{
	b->wake_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (b->wake_fd == -1 || bind(b->wake_fd,
	    (struct sockaddr *)&b->addrs[b->self], b->addrlen[b->self]) == -1) {
		*cause = strerror(errno);
		if (b->wake_fd != -1)
			close(b->wake_fd);
		return -1;
	}
	return 0;
}

/*
 * The record at our tail, if it is one we could have written: inside
 * the ring and before our head. Its size, or 0.
 */
static uint32_t
bring_own_rec(const struct bring *b, const uint8_t *data)
{
	struct bring_rec	 rec;

	return bring_rec_at(data, b->ring_size, b->tail, b->head, &rec);
}

/* Do the records from our tail lead to our head? 0 if they do. */
static int
bring_walk(struct bring *b)
{
	const uint8_t	*data = bring_data(b, b->self);
	uint64_t	 tail = b->tail;
	uint32_t	 size;
	int		 rc = 0;

	while (b->tail < b->head)
		if ((size = bring_own_rec(b, data)) == 0) {
			rc = -1;
			break;
		} else
			b->tail += size;
	b->tail = tail;
	return rc;
}

/*
 * Take our ring's positions from its previous owner when they are sane
 * (aligned, room for a pad's header at head, tail at most a ring behind
 * and records leading from it to head): what it left unread stays
 * readable. Otherwise start empty at the shared head, aligned and capped.
 * A head that went back (stray bytes) brings readers back to our tail
 * (bring_next).
 */
static void
bring_adopt(struct bring *b)
{
	struct bring_ring	*ring = &b->hdr->rings[b->self];
	const uint64_t		 mask = b->ring_size - 1;
	uint64_t		 head, tail;

	head = atomic_load_explicit(&ring->head, memory_order_relaxed);
	tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
	if (head > BRING_POS_MAX)
		head = BRING_POS_MAX;
	b->head = BRING_ALIGN(head);
	if ((b->head & mask) > b->ring_size - sizeof(struct bring_rec))
		b->head = (b->head | mask) + 1;
	b->tail = tail;
	if (b->head != head || tail % 8 != 0 || tail > head ||
	    head - tail > b->ring_size || bring_walk(b) == -1)
		b->tail = b->head;
	atomic_store_explicit(&ring->tail, b->tail, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&ring->head, b->head, memory_order_release);
}

/* Where we are in ring r, for whoever frees our ring once we died. */
static void
bring_mark_read(struct bring *b, unsigned r)
{
	struct bring_read	*rd = &b->hdr->rings[b->self].reads[r];

	atomic_store_explicit(&rd->seq, b->seq[r], memory_order_relaxed);
	atomic_store_explicit(&rd->cursor, b->cursor[r], memory_order_relaxed);
}

struct bring *
bring_attach(const char **cause)
{
	struct bring	*b;
	int		 r;
	unsigned	 i;

	if (bring_segment == NULL) {
		*cause = "no broker segment (the master creates it)";
		errno = ENOENT;
		return NULL;
	}
	if ((r = bring_claim(bring_segment)) == -1) {
		*cause = "every broker ring is taken";
		errno = EBUSY;
		return NULL;
	}
	b = xcalloc(1, sizeof(*b));
	b->hdr = bring_segment;
	b->ring_size = bring_ring_size;
	b->data = (uint8_t *)bring_segment + bring_data_off;
	b->self = (unsigned)r;
	b->copy = xmalloc(b->ring_size);
	bring_adopt(b);
	for (i = 0; i < BRING_MAX_RINGS; i++) {
		b->cursor[i] = atomic_load_explicit(&b->hdr->rings[i].head,
		    memory_order_acquire);
		b->seq[i] = atomic_load_explicit(
		    &b->hdr->rings[i].counters[BRING_PUBLISHED],
		    memory_order_relaxed);
		bring_mark_read(b, i);
		bring_addr(b, i);
	}
	if (bring_bind(b, cause) == -1) {
		atomic_store(&b->hdr->rings[r].owner, 0);
		free(b->copy);
		free(b);
		return NULL;
	}
	return b;
}

void
bring_detach(struct bring *b)
{
	bring_clear_members(b->hdr, b->self);
	atomic_store(&b->hdr->rings[b->self].sleeping, 0);
	/* The socket's name goes first: the next owner binds it. */
	close(b->wake_fd);
	atomic_store(&b->hdr->rings[b->self].owner, 0);
	free(b->copy);
	free(b);
}

int
bring_wake_fd(const struct bring *b)
{
	return b->wake_fd;
}

unsigned
bring_self(const struct bring *b)
{
	return b->self;
}

void
bring_count(struct bring *b, enum bring_counter c, uint64_t n)
{
	_Atomic uint64_t	*v = &b->hdr->rings[b->self].counters[c];

	/* Our ring's counters have one writer: no locked instruction. */
	atomic_store_explicit(v, atomic_load_explicit(v,
	    memory_order_relaxed) + n, memory_order_relaxed);
}

void
bring_stats(uint64_t *out)
{
	unsigned	 r, c;

	memset(out, 0, BRING_NCOUNTERS * sizeof(*out));
	if (bring_segment == NULL)
		return;
	for (r = 0; r < BRING_MAX_RINGS; r++)
		for (c = 0; c < BRING_NCOUNTERS; c++)
			out[c] += atomic_load_explicit(
			    &bring_segment->rings[r].counters[c],
			    memory_order_relaxed);
}

/*
 * The table of topics with queue groups (linear probing) changes only
 * under its lock, a pid: claims and frees are rare (a group's first
 * member joining, its last leaving), publishers never take it. A holder
 * killed meanwhile has its lock broken by the master's reap
 * (bring_reaped), or here once its pid is gone; the next holder sweeps
 * what it left half done. A holder stopped (SIGSTOP, a debugger) or
 * stray bytes in the word must not hang every worker's loop: the lock is
 * waited for BRING_LOCK_WAIT_MS at most.
 */
static void	 bring_sweep(struct bring_hdr *);

/* 0 with the lock held, -1 if it stayed taken. */
static int
bring_lock(struct bring_hdr *h)
{
	int32_t		 holder = 0;
	uint64_t	 deadline = util_now_ms() + BRING_LOCK_WAIT_MS;

	while (!atomic_compare_exchange_weak(&h->lock, &holder,
	    (int32_t)getpid())) {
		if (holder < 0 || bring_owner_dead(holder)) {
			atomic_store(&h->sweep, 1);
			atomic_compare_exchange_strong(&h->lock, &holder, 0);
		} else if (holder != 0 && util_now_ms() >= deadline)
			return -1;
		else
			sched_yield();
		holder = 0;
	}
	if (atomic_exchange(&h->sweep, 0))
		bring_sweep(h);
	return 0;
}

static void
bring_unlock(struct bring_hdr *h)
{
	atomic_store_explicit(&h->lock, 0, memory_order_release);
}

/* A slot changes hands between these (seqlock writer, under the lock). */
static void
bring_seq_begin(_Atomic uint32_t *seq)
{
	atomic_store_explicit(seq, atomic_load_explicit(seq,
	    memory_order_relaxed) + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void
bring_seq_end(_Atomic uint32_t *seq)
{
	atomic_store_explicit(seq, atomic_load_explicit(seq,
	    memory_order_relaxed) + 1, memory_order_release);
}

static struct bring_topic *
bring_topic_find(struct bring_hdr *h, uint64_t thash)
{
	struct bring_topic	*t;
	uint64_t		 cur;
	size_t			 n;

	for (n = 0; n < BRING_TOPICS; n++) {
		t = &h->topics[(thash + n) % BRING_TOPICS];
		if ((cur = atomic_load(&t->thash)) == thash)
			return t;
		if (cur == 0)
			return NULL;
	}
	return NULL;
}

/* Under the lock: find thash, or claim the first free slot on its way. */
static struct bring_topic *
bring_topic_claim(struct bring_hdr *h, uint64_t thash)
{
	struct bring_topic	*t, *free = NULL;
	uint64_t		 cur;
	size_t			 n;

	for (n = 0; n < BRING_TOPICS; n++) {
		t = &h->topics[(thash + n) % BRING_TOPICS];
		if ((cur = atomic_load(&t->thash)) == thash)
			return t;
		if ((cur == 0 || cur == BRING_GONE) && free == NULL)
			free = t;
		if (cur == 0)
			break;
	}
	if (free != NULL)
		atomic_store_explicit(&free->thash, thash,
		    memory_order_release);
	return free;
}

/*
 * Whether some topic's way from its home passes slot i: one held after
 * it, before the next free slot, whose home is at i or before.
 */
static int
bring_topic_crossed(struct bring_hdr *h, size_t i)
{
	uint64_t	 cur;
	size_t		 n, p;

	for (n = 1; n < BRING_TOPICS; n++) {
		p = (i + n) % BRING_TOPICS;
		if ((cur = atomic_load(&h->topics[p].thash)) == 0)
			return 0;
		if (cur != BRING_GONE &&
		    (p + BRING_TOPICS - cur % BRING_TOPICS) % BRING_TOPICS >= n)
			return 1;
	}
	return 0;
}

/*
 * A freed slot on no topic's way from its home becomes free, and the one
 * before it if freed too, so that lookups stop as early as if it was
 * never used (a table once full has no free slot to start from).
 */
static void
bring_topic_unlink(struct bring_hdr *h, size_t i)
{
	size_t	 n;

	for (n = 0; n < BRING_TOPICS; n++) {
		if (atomic_load(&h->topics[i].thash) != BRING_GONE ||
		    bring_topic_crossed(h, i))
			return;
		atomic_store(&h->topics[i].thash, 0);
		i = (i + BRING_TOPICS - 1) % BRING_TOPICS;
	}
}

static int
bring_group_idle(struct bring_group *g)
{
	unsigned	 r;

	for (r = 0; r < BRING_MAX_RINGS; r++)
		if (atomic_load(&g->members[r]) != 0)
			return 0;
	return 1;
}

/*
 * Under the lock: free t's groups that no process counts a member in,
 * and t with the last. A member joins under the lock, and a process
 * adds more only while it counts one: an idle group stays idle.
 */
static void
bring_topic_gc(struct bring_hdr *h, struct bring_topic *t)
{
	struct bring_group	*g;
	uint64_t		 thash = atomic_load(&t->thash);
	size_t			 i, live = 0;

	if (thash == 0 || thash == BRING_GONE)
		return;
	for (i = 0; i < BRING_GROUPS; i++) {
		g = &t->groups[i];
		if (atomic_load(&g->qhash) != 0 && bring_group_idle(g)) {
			bring_seq_begin(&g->seq);
			atomic_store_explicit(&g->qhash, 0,
			    memory_order_relaxed);
			bring_seq_end(&g->seq);
		}
		live += atomic_load(&g->qhash) != 0;
	}
	if (live > 0)
		return;
	bring_seq_begin(&t->seq);
	atomic_store_explicit(&t->thash, BRING_GONE, memory_order_relaxed);
	bring_seq_end(&t->seq);
	bring_topic_unlink(h, (size_t)(t - h->topics));
}

/*
 * Under the lock, when members were cleared (dead processes) or a
 * holder died: a slot it left odd is whole again (freed or not), every
 * idle group and topic is freed, and a freed topic slot it left before
 * a free one is made free.
 */
static void
bring_sweep(struct bring_hdr *h)
{
	struct bring_topic	*t;
	size_t			 i, g;

	for (i = 0; i < BRING_TOPICS; i++) {
		t = &h->topics[i];
		if (atomic_load(&t->seq) & 1)
			bring_seq_end(&t->seq);
		for (g = 0; g < BRING_GROUPS; g++)
			if (atomic_load(&t->groups[g].seq) & 1)
				bring_seq_end(&t->groups[g].seq);
		bring_topic_gc(h, t);
		bring_topic_unlink(h, i);
	}
}

/* Under the lock: the group named qhash in t, or a free one claimed. */
static struct bring_group *
bring_group_claim(struct bring_topic *t, uint64_t qhash)
{
	struct bring_group	*g, *free = NULL;
	uint64_t		 cur;
	size_t			 i;

	for (i = 0; i < BRING_GROUPS; i++) {
		g = &t->groups[i];
		if ((cur = atomic_load(&g->qhash)) == qhash)
			return g;
		if (cur == 0 && free == NULL)
			free = g;
	}
	if (free != NULL)
		atomic_store_explicit(&free->qhash, qhash,
		    memory_order_release);
	return free;
}

struct bring_group *
bring_group_join(struct bring *b, const char *topic, const char *queue,
    const char **cause)
{
	struct bring_topic	*t;
	struct bring_group	*g = NULL;

	if (bring_lock(b->hdr) == -1) {
		*cause = "the queue group table is busy";
		return NULL;
	}
	if ((t = bring_topic_claim(b->hdr, bring_topic_hash(topic))) == NULL)
		*cause = "too many topics with queue groups";
	else if ((g = bring_group_claim(t, bring_group_hash(topic,
	    queue))) == NULL)
		*cause = "too many queue groups on this topic";
	else
		atomic_fetch_add(&g->members[b->self], 1);
	bring_unlock(b->hdr);
	return g;
}

/* Our last member of g left: the group may be idle, free its slot. */
void
bring_group_count(struct bring *b, struct bring_group *g, int delta)
{
	struct bring_hdr	*h = b->hdr;
	size_t			 t;

	if (atomic_fetch_add(&g->members[b->self], (uint32_t)delta) +
	    (uint32_t)delta != 0)
		return;
	t = (size_t)((uint8_t *)g - (uint8_t *)h->topics) /
	    sizeof(struct bring_topic);
	if (bring_lock(h) == -1) {
		atomic_store(&h->sweep, 1);	/* the next holder frees it */
		return;
	}
	bring_topic_gc(h, &h->topics[t]);
	bring_unlock(h);
}

/* Weighted round robin over every process's members of the group. */
static int
bring_group_pick(struct bring_group *g)
{
	uint32_t	 n[BRING_MAX_RINGS], total = 0;
	uint64_t	 t;
	unsigned	 r;

	for (r = 0; r < BRING_MAX_RINGS; r++)
		total += n[r] = atomic_load_explicit(&g->members[r],
		    memory_order_relaxed);
	if (total == 0)
		return -1;
	t = atomic_fetch_add_explicit(&g->ticket, 1, memory_order_relaxed) %
	    total;
	for (r = 0; r < BRING_MAX_RINGS; r++) {
		if (t < n[r])
			return (int)r;
		t -= n[r];
	}
	return -1;
}

/* Tests: where a slot may change hands while a publisher reads it. */
#ifndef BRING_TEST_READING
#define BRING_TEST_READING(slot)
#endif

/*
 * g's copy, if it has a member: read as a seqlock reader. A group freed
 * (or freed and claimed again) while we read it had no member at that
 * moment, or its first joined meanwhile: it gets no copy.
 */
static size_t
bring_group_target(struct bring_group *g, struct bring_target *out)
{
	uint32_t	 seq;
	uint64_t	 qhash;
	int		 r;

	seq = atomic_load_explicit(&g->seq, memory_order_acquire);
	qhash = atomic_load_explicit(&g->qhash, memory_order_relaxed);
	BRING_TEST_READING(g);
	if (seq & 1 || qhash == 0 || (r = bring_group_pick(g)) < 0)
		return 0;
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&g->seq, memory_order_relaxed) != seq)
		return 0;
	out->qhash = qhash;
	out->ring = (uint32_t)r;
	out->pad = 0;
	return 1;
}

/*
 * A copy for each group of topic. The topic's slot is checked the same
 * way: freed (so every group in it was) and claimed for another topic
 * while we read it, what we read may be that one's groups.
 */
static size_t
bring_targets(struct bring_hdr *h, const char *topic,
    struct bring_target *out)
{
	struct bring_topic	*t;
	uint64_t		 thash = bring_topic_hash(topic);
	uint32_t		 seq;
	size_t			 i, n = 0;

	if ((t = bring_topic_find(h, thash)) == NULL)
		return 0;
	seq = atomic_load_explicit(&t->seq, memory_order_acquire);
	if (seq & 1 || atomic_load_explicit(&t->thash,
	    memory_order_relaxed) != thash)
		return 0;
	BRING_TEST_READING(t);
	for (i = 0; i < BRING_GROUPS; i++)
		n += bring_group_target(&t->groups[i], &out[n]);
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&t->seq, memory_order_relaxed) == seq ?
	    n : 0;
}

/*
 * Move our tail until [.., end) fits in the ring. A record we cannot
 * have written (stray bytes) ends the walk: the tail jumps to the head,
 * dropping what is queued (readers count it lost). The shared tail is
 * stored when it moved or differs from ours (stray bytes again).
 */
static void
bring_reserve(struct bring *b, struct bring_ring *ring, const uint8_t *data,
    uint64_t end)
{
	uint32_t	 size;

	while (end - b->tail > b->ring_size) {
		if ((size = bring_own_rec(b, data)) == 0) {
			/* Readers count what they miss (bring_seen). */
			log_warnx("broker ring %u: bad record at %llu, "
			    "dropping the queue", b->self,
			    (unsigned long long)b->tail);
			b->tail = b->head;
			break;
		}
		b->tail += size;
	}
	if (atomic_load_explicit(&ring->tail, memory_order_relaxed) == b->tail)
		return;
	atomic_store_explicit(&ring->tail, b->tail, memory_order_relaxed);
	/* Readers must see the new tail before any overwritten byte. */
	atomic_thread_fence(memory_order_release);
}

/* Wake every reader that announced it sleeps (once per sleep). */
static void
bring_wake(struct bring *b)
{
	struct bring_ring	*ring;
	unsigned		 r;

	atomic_thread_fence(memory_order_seq_cst);
	for (r = 0; r < BRING_MAX_RINGS; r++) {
		ring = &b->hdr->rings[r];
		if (r == b->self || atomic_load_explicit(&ring->sleeping,
		    memory_order_relaxed) == 0)
			continue;
		if (atomic_exchange(&ring->sleeping, 0) == 1)
			(void)sendto(b->wake_fd, "", 1, MSG_DONTWAIT,
			    (struct sockaddr *)&b->addrs[r], b->addrlen[r]);
	}
}

static void
bring_write_rec(uint8_t *p, const struct bring_rec *rec,
    const struct bring_target *targets, const char *topic, const char *ctype,
    const void *body)
{
	memcpy(p, rec, sizeof(*rec));
	p += sizeof(*rec);
	memcpy(p, targets, rec->ntargets * sizeof(*targets));
	p += rec->ntargets * sizeof(*targets);
	memcpy(p, topic, rec->topic_len);
	p += rec->topic_len;
	memcpy(p, ctype, rec->ctype_len);
	p += rec->ctype_len;
	/* An empty body may be NULL: an empty evbuffer's pullup. */
	if (rec->body_len > 0)
		memcpy(p, body, rec->body_len);
}

int
bring_publish(struct bring *b, const char *topic, const char *ctype,
    const void *body, size_t len, const char **cause)
{
	struct bring_hdr	*h = b->hdr;
	struct bring_ring	*ring = &h->rings[b->self];
	uint8_t			*data = bring_data(b, b->self);
	struct bring_target	 targets[BRING_GROUPS];
	struct bring_rec	 rec, pad;
	uint64_t		 head, off;

	memset(&rec, 0, sizeof(rec));
	rec.topic_len = (uint16_t)strlen(topic);
	rec.ctype_len = (uint16_t)strlen(ctype);
	rec.body_len = (uint32_t)len;
	rec.seq = atomic_load_explicit(&ring->counters[BRING_PUBLISHED],
	    memory_order_relaxed);
	if (rec.topic_len > BRING_NAME_MAX || rec.ctype_len >
	    BRING_CTYPE_MAX || len > b->ring_size / 2 - BRING_REC_OVERHEAD) {
		*cause = "message too large";
		return -1;
	}
	rec.ntargets = (uint16_t)bring_targets(h, topic, targets);
	rec.size = (uint32_t)BRING_ALIGN(sizeof(rec) + rec.ntargets *
	    sizeof(targets[0]) + rec.topic_len + rec.ctype_len + len);
	head = b->head;
	off = head & (b->ring_size - 1);
	/* Up to the end, or short of it by room for a pad's header. */
	if (off + rec.size > b->ring_size - sizeof(pad) &&
	    off + rec.size != b->ring_size) {
		memset(&pad, 0, sizeof(pad));
		pad.size = (uint32_t)(b->ring_size - off);
		pad.flags = BRING_F_PAD;
		bring_reserve(b, ring, data, head + pad.size + rec.size);
		memcpy(data + off, &pad, sizeof(pad));
		head += pad.size;
		off = 0;
	} else
		bring_reserve(b, ring, data, head + rec.size);
	bring_write_rec(data + off, &rec, targets, topic, ctype, body);
	b->head = head + rec.size;
	atomic_store_explicit(&ring->head, b->head, memory_order_release);
	bring_count(b, BRING_PUBLISHED, 1);
	bring_wake(b);
	return 0;
}

/* Parse a copied record; -1 if its lengths do not add up. */
static int
bring_parse(const uint8_t *p, struct bring_msg *m)
{
	struct bring_rec	 rec;
	size_t			 need;

	memcpy(&rec, p, sizeof(rec));
	need = sizeof(rec) + rec.ntargets * sizeof(struct bring_target) +
	    rec.topic_len + rec.ctype_len + rec.body_len;
	if (need > rec.size)
		return -1;
	p += sizeof(rec);
	m->targets = (const struct bring_target *)p;
	m->ntargets = rec.ntargets;
	p += rec.ntargets * sizeof(struct bring_target);
	m->topic = (const char *)p;
	m->topic_len = rec.topic_len;
	p += rec.topic_len;
	m->ctype = (const char *)p;
	m->ctype_len = rec.ctype_len;
	p += rec.ctype_len;
	m->body = p;
	m->body_len = rec.body_len;
	return 0;
}

/*
 * Where to read on after the record at cur is lost or bad, past cur: the
 * tail if it lies between cur and a ring behind the head, else the head.
 * head is what bring_next saw, never moved back: stray bytes in the
 * positions cost messages, never a loop.
 */
static uint64_t
bring_resume(const struct bring *b, unsigned r, uint64_t cur, uint64_t head)
{
	struct bring_ring	*ring = &b->hdr->rings[r];
	uint64_t		 tail, now;

	now = atomic_load_explicit(&ring->head, memory_order_acquire);
	tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
	if (now < head)
		now = head;
	if (tail > cur && tail <= now && now - tail <= b->ring_size)
		return tail;
	return now;
}

/*
 * A message read: the gap since the last one is what we skipped (lapped,
 * a bad record), counted as lost, however many that was.
 */
static void
bring_seen(struct bring *b, unsigned r, uint64_t seq)
{
	uint64_t	 n;

	if ((n = bring_gap(&b->seq[r], seq)) > 0)
		bring_count(b, BRING_LOST, n);
}

/*
 * 1: *m is the record at our cursor; 0: skipped a pad or a lap. Every
 * value read from the segment is bounded first: the record lies in the
 * ring, before head (cur < head, from bring_next).
 */
static int
bring_read_one(struct bring *b, unsigned r, uint64_t head,
    struct bring_msg *m)
{
	struct bring_ring	*ring = &b->hdr->rings[r];
	uint8_t			*data = bring_data(b, r);
	uint64_t		 cur = b->cursor[r], tail;
	struct bring_rec	 rec;
	int			 ok;

	ok = head - cur <= b->ring_size && bring_rec_at(data, b->ring_size,
	    cur, head, &rec) != 0;
	if (ok)
		memcpy(b->copy, data + (cur & (b->ring_size - 1)), rec.size);
	atomic_thread_fence(memory_order_acquire);
	tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
	if (cur < tail || head - cur > b->ring_size) {
		/* Lapped: what we copied may be torn; resume at the tail. */
		b->cursor[r] = bring_resume(b, r, cur, head);
		return 0;
	}
	if (!ok || (!(rec.flags & BRING_F_PAD) && bring_parse(b->copy,
	    m) == -1)) {
		log_warnx("broker ring %u: bad record at %llu, skipping", r,
		    (unsigned long long)cur);
		b->cursor[r] = bring_resume(b, r, cur, head);
		return 0;
	}
	b->cursor[r] = cur + rec.size;
	if (rec.flags & BRING_F_PAD)
		return 0;
	bring_seen(b, r, rec.seq);
	return 1;
}

/*
 * The head went back behind our cursor (stray bytes; a ring taken over
 * with stray positions): back to its tail if that is sane, else to the
 * head; else we would wait until the head passes us. Stray bytes in a
 * live head may thus repeat messages, at most a ring of them.
 */
static void
bring_rewind(struct bring *b, unsigned r, uint64_t head)
{
	uint64_t	 tail;

	tail = atomic_load_explicit(&b->hdr->rings[r].tail,
	    memory_order_relaxed);
	b->cursor[r] = tail <= head && head - tail <= b->ring_size ? tail :
	    head;
}

/* The next unread message of ring r: 1, or 0 when caught up with it. */
static int
bring_next_of(struct bring *b, unsigned r, struct bring_msg *m)
{
	uint64_t	 head, cursor = b->cursor[r];
	int		 got = 0;

	head = atomic_load_explicit(&b->hdr->rings[r].head,
	    memory_order_acquire);
	if (cursor > head)
		bring_rewind(b, r, head);
	while (!got && b->cursor[r] < head)
		got = bring_read_one(b, r, head, m);
	/* Its seq moves with it; an idle ring's line is left alone. */
	if (b->cursor[r] != cursor)
		bring_mark_read(b, r);
	return got;
}

int
bring_next(struct bring *b, struct bring_msg *m)
{
	unsigned	 n, r;

	for (n = 0; n < BRING_MAX_RINGS; n++) {
		r = b->next_ring;
		b->next_ring = (r + 1) % BRING_MAX_RINGS;
		/* One message per ring per turn: a busy writer starves none. */
		if (bring_next_of(b, r, m))
			return 1;
	}
	return 0;
}

/*
 * Is a record of ours that we have not read in the way of a body of len
 * bytes? Counted at their largest: the record's overhead, and before it
 * a pad about as large as the record.
 */
int
bring_laps_self(const struct bring *b, size_t len)
{
	uint64_t	 cursor = b->cursor[b->self];

	return cursor < b->head && b->head + 2 * (BRING_REC_OVERHEAD + len) +
	    sizeof(struct bring_rec) > cursor + b->ring_size;
}

int
bring_next_self(struct bring *b, struct bring_msg *m)
{
	return bring_next_of(b, b->self, m);
}

static int
bring_pending(const struct bring *b)
{
	unsigned	 r;

	for (r = 0; r < BRING_MAX_RINGS; r++)
		if (b->cursor[r] != atomic_load_explicit(&b->hdr->rings[r].head,
		    memory_order_acquire))
			return 1;
	return 0;
}

void
bring_drain(struct bring *b)
{
	char	 buf[64];

	while (recv(b->wake_fd, buf, sizeof(buf), 0) > 0)
		;
}

int
bring_sleep(struct bring *b)
{
	struct bring_ring	*ring = &b->hdr->rings[b->self];

	atomic_store(&ring->sleeping, 1);
	atomic_thread_fence(memory_order_seq_cst);
	if (!bring_pending(b))
		return 0;
	atomic_store(&ring->sleeping, 0);
	return 1;
}

size_t
bring_msg_targets_of(const struct bring_msg *m, unsigned ring)
{
	struct bring_target	 t;
	size_t			 i, n = 0;

	for (i = 0; i < m->ntargets; i++) {
		memcpy(&t, &m->targets[i], sizeof(t));
		n += t.ring == ring;
	}
	return n;
}

int
bring_msg_target(const struct bring_msg *m, uint64_t qhash)
{
	struct bring_target	 t;
	size_t			 i;

	for (i = 0; i < m->ntargets; i++) {
		memcpy(&t, &m->targets[i], sizeof(t));
		if (t.qhash == qhash)
			return (int)t.ring;
	}
	return -1;
}

#ifdef BRING_TEST_HEAP
/*
 * Tests only (test_ring, fuzz_broker_ring): move the segment to the heap
 * before anyone attaches, so that a byte read or written past the last
 * ring is past an allocation, where AddressSanitizer sees it.
 */
static void
bring_test_heap(void)
{
	struct bring_hdr	*heap;

	heap = xcalloc(1, bring_segment->size);
	memcpy(heap, bring_segment, sizeof(*heap));
	munmap(bring_segment, bring_segment->size);
	bring_segment = heap;
}

/* Attach on the last ring, holding the free ones before it meanwhile. */
static struct bring *
bring_test_attach_last(const char **cause)
{
	struct bring	*b;
	int32_t		 pid, me = getpid();
	int		 held[BRING_MAX_RINGS - 1] = { 0 };
	unsigned	 r;

	for (r = 0; r < BRING_MAX_RINGS - 1; r++) {
		pid = 0;
		held[r] = atomic_compare_exchange_strong(
		    &bring_segment->rings[r].owner, &pid, me);
	}
	b = bring_attach(cause);
	for (r = 0; r < BRING_MAX_RINGS - 1; r++)
		if (held[r])
			atomic_store(&bring_segment->rings[r].owner, 0);
	if (b != NULL && b->self != BRING_MAX_RINGS - 1) {
		*cause = "not on the last ring";
		bring_detach(b);
		return NULL;
	}
	return b;
}
#endif
