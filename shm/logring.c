/*
 * Log rings (shm/logring.h). Layout and the argument for consistent
 * reads: doc/shm-layout.md, "Log rings".
 */
#include "config.h"

#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "shm/anon.h"
#include "shm/logring.h"
#include "util.h"

#define LOGRING_MAGIC		"MICROLOG"
#define LOGRING_HEAD_WORDS	4	/* seq and the fields before text */
#define LOGRING_WORDS		(sizeof(struct logring_entry) / 8)

struct logring_hdr {
	char		 magic[8];
	uint32_t	 version;
	uint32_t	 nslots;
	uint32_t	 entries;
	uint32_t	 entry_size;
	uint32_t	 text_max;
	uint32_t	 reserved0;
	uint64_t	 rings_off;
	uint64_t	 ring_size;
	uint64_t	 reserved[2];
};

/*
 * seq is 2n + 1 while line n is copied in, 2n + 2 once it is whole: a
 * reader knows which line an entry holds without another word. Every
 * other field is written and read as relaxed atomic 64-bit words.
 */
struct logring_entry {
	uint64_t	 seq;
	uint64_t	 time_ms;
	int32_t		 pid;
	uint16_t	 role;
	uint16_t	 id;
	uint8_t		 level;
	uint8_t		 reserved0;
	uint16_t	 len;
	uint32_t	 reserved1;
	char		 text[LOGRING_TEXT_MAX];
};

/* count has a cache line of its own: no writer shares a line. */
struct logring_ring {
	uint64_t		 count;		/* lines written */
	uint64_t		 reserved[7];
	struct logring_entry	 entries[LOGRING_ENTRIES];
};

/* An entry as 64-bit words, as both sides copy it. */
union logring_words {
	struct logring_entry	 e;
	uint64_t		 w[LOGRING_WORDS];
};

_Static_assert(sizeof(struct logring_hdr) == 64, "logring header");
_Static_assert(sizeof(struct logring_entry) == 256, "logring entry");
_Static_assert(offsetof(struct logring_entry, text) ==
    LOGRING_HEAD_WORDS * 8, "logring entry head");
_Static_assert((LOGRING_ENTRIES & (LOGRING_ENTRIES - 1)) == 0,
    "logring entries");

static struct {
	unsigned		 nslots;	/* the header's is writable */
	struct logring_ring	*rings;
	struct logring_ring	*own;
	pid_t			 pid;		/* the process that bound */
	uint16_t		 role;
	uint16_t		 id;
	int			 writing;	/* a thread holds the ring */
} logring;

int
logring_create(unsigned nslots, const char **cause)
{
	struct logring_hdr	*hdr;
	size_t			 size;

	size = sizeof(*hdr) + (size_t)nslots * sizeof(struct logring_ring);
	if ((hdr = shm_anon_create(nslots, size, cause)) == NULL)
		return -1;
	memcpy(hdr->magic, LOGRING_MAGIC, sizeof(hdr->magic));
	hdr->version = LOGRING_VERSION;
	hdr->nslots = nslots;
	hdr->entries = LOGRING_ENTRIES;
	hdr->entry_size = sizeof(struct logring_entry);
	hdr->text_max = LOGRING_TEXT_MAX;
	hdr->rings_off = sizeof(*hdr);
	hdr->ring_size = sizeof(struct logring_ring);
	logring.nslots = nslots;
	logring.rings = (struct logring_ring *)(hdr + 1);
	return 0;
}

void
logring_bind(unsigned slot, unsigned role, unsigned id)
{
	logring.own = NULL;
	if (slot >= logring.nslots)
		return;
	logring.own = &logring.rings[slot];
	logring.writing = 0;	/* a thread of the parent may have held it */
	logring.pid = getpid();
	logring.role = role;
	logring.id = id;
}

/* The words holding the head and len bytes of text. */
static size_t
logring_words(size_t len)
{
	return LOGRING_HEAD_WORDS + (len + 7) / 8;
}

/*
 * Boehm's seqlock writer, the sequence being the line's own number. A
 * forked child inherits the binding of its parent: the pid tells, and a
 * child that has not bound a slot of its own writes nothing. One process
 * is one writer, but it may have threads that log (cnats's, in the NATS
 * plugin): they take the ring in turn, for the time of a 256-byte copy.
 */
void
logring_write(enum log_level level, const char *text, size_t len)
{
	struct logring_ring	*r = logring.own;
	struct logring_entry	*e;
	union logring_words	 u;
	uint64_t		 n, *w;
	size_t			 i;

	if (r == NULL || getpid() != logring.pid)
		return;
	memset(&u, 0, sizeof(u));
	u.e.time_ms = util_wall_ms();
	u.e.pid = logring.pid;
	u.e.role = logring.role;
	u.e.id = logring.id;
	u.e.level = level;
	u.e.len = log_cut(text, len, u.e.text, LOGRING_TEXT_MAX);
	while (__atomic_exchange_n(&logring.writing, 1, __ATOMIC_ACQUIRE))
		sched_yield();
	n = r->count;
	e = &r->entries[n & (LOGRING_ENTRIES - 1)];
	w = (uint64_t *)e;
	__atomic_store_n(&e->seq, 2 * n + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (i = 1; i < logring_words(u.e.len); i++)
		__atomic_store_n(&w[i], u.w[i], __ATOMIC_RELAXED);
	__atomic_store_n(&e->seq, 2 * n + 2, __ATOMIC_RELEASE);
	__atomic_store_n(&r->count, n + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&logring.writing, 0, __ATOMIC_RELEASE);
}

unsigned
logring_nslots(void)
{
	return logring.nslots;
}

uint64_t
logring_count(unsigned slot)
{
	if (slot >= logring_nslots())
		return 0;
	return __atomic_load_n(&logring.rings[slot].count, __ATOMIC_ACQUIRE);
}

/*
 * Boehm's seqlock reader: copy, then check that seq was line n's, whole,
 * and did not move. -1 if the entry holds another line by now.
 */
static int
logring_copy(const struct logring_entry *e, uint64_t n, union logring_words *u)
{
	const uint64_t	*w = (const uint64_t *)e;
	uint64_t	 seq;
	size_t		 i;

	seq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
	if (seq != 2 * n + 2)
		return -1;
	for (i = 1; i < LOGRING_HEAD_WORDS; i++)
		u->w[i] = __atomic_load_n(&w[i], __ATOMIC_RELAXED);
	if (u->e.len > LOGRING_TEXT_MAX)	/* torn: seq will tell */
		u->e.len = LOGRING_TEXT_MAX;
	for (; i < logring_words(u->e.len); i++)
		u->w[i] = __atomic_load_n(&w[i], __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&e->seq, __ATOMIC_RELAXED) == seq ? 0 : -1;
}

static void
logring_line(unsigned slot, uint64_t n, const union logring_words *u,
    struct logring_line *l)
{
	l->slot = slot;
	l->n = n;
	l->time_ms = u->e.time_ms;
	l->pid = u->e.pid;
	l->role = u->e.role;
	l->id = u->e.id;
	l->level = u->e.level;
	l->len = u->e.len;
	memcpy(l->text, u->e.text, l->len);
	l->text[l->len] = '\0';
}

uint64_t
logring_read(unsigned slot, uint64_t *next, logring_fn fn, void *arg)
{
	const struct logring_ring	*r;
	struct logring_line		 l;
	union logring_words		 u;
	uint64_t			 head, lost = 0;

	if (slot >= logring_nslots())
		return 0;
	r = &logring.rings[slot];
	head = logring_count(slot);
	if (head - *next > LOGRING_ENTRIES) {
		lost = head - LOGRING_ENTRIES - *next;
		*next = head - LOGRING_ENTRIES;
	}
	for (; *next < head; (*next)++) {
		if (logring_copy(&r->entries[*next & (LOGRING_ENTRIES - 1)],
		    *next, &u) == -1) {
			lost++;
			continue;
		}
		logring_line(slot, *next, &u, &l);
		fn(&l, arg);
	}
	return lost;
}
