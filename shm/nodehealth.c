/*
 * Per-node passive health (shm/nodehealth.h). Layout and the argument
 * for consistent reads: doc/shm-layout.md, "Node health".
 */
#include "config.h"

#include <string.h>

#include "log.h"
#include "shm/anon.h"
#include "shm/nodehealth.h"
#include "util.h"

#define NODEHEALTH_MAGIC	"MICRONOD"
#define NODEHEALTH_KEY_WORDS	(NODEHEALTH_KEY_MAX / 8)
/* Reads of one entry before a reader gives up on it for this time. */
#define NODEHEALTH_RETRIES	64
/* The hash of an entry whose key was lost: its key is empty, so no match. */
#define NODEHEALTH_LOST		1
#define NODEHEALTH_WARN_FULL	0x1
#define NODEHEALTH_WARN_LONG	0x2

struct nodehealth_hdr {
	char		 magic[8];
	uint32_t	 version;
	uint32_t	 nslots;
	uint32_t	 table_size;
	uint32_t	 entries;
	uint32_t	 key_max;
	uint32_t	 reserved0;
	uint64_t	 tables_off;	/* after slots[nslots], 64-aligned */
	uint64_t	 reserved[3];
};

/*
 * Per slot, apart from the tables: a reader skips a table nobody wrote
 * without touching (and so paging in) any of it.
 */
struct nodehealth_slot {
	uint64_t	 used;		/* entries claimed */
	uint64_t	 stamp;		/* writes so far: the entries' clock */
	uint64_t	 evicted;
	uint64_t	 untracked;
};

/*
 * seq is odd while the writer changes the entry; every other field is
 * written and read with relaxed atomics between the seq stores, so a
 * reader never acts on a value torn by a concurrent write.
 */
struct nodehealth_entry {
	uint32_t	 seq;
	uint32_t	 reserved;
	uint64_t	 hash;		/* FNV-1a of key, bit 0 set; 0 free */
	uint64_t	 ejected_until;	/* monotonic ms */
	uint64_t	 last_ok;	/* wall ms */
	uint64_t	 stamp;		/* the slot's stamp at the last write */
	uint64_t	 key[NODEHEALTH_KEY_WORDS];	/* NUL-padded */
};

/* An entry as a reader copied it. */
struct nodehealth_copy {
	uint64_t	 hash;
	uint64_t	 ejected_until;
	uint64_t	 last_ok;
	uint64_t	 key[NODEHEALTH_KEY_WORDS];
};

_Static_assert(sizeof(struct nodehealth_hdr) == 64, "nodehealth header");
_Static_assert(sizeof(struct nodehealth_slot) == 32, "nodehealth slot");
_Static_assert(sizeof(struct nodehealth_entry) == 256, "nodehealth entry");
_Static_assert(NODEHEALTH_KEY_MAX % 8 == 0, "nodehealth key words");

static struct {
	unsigned		 nslots;	/* the header's is writable */
	struct nodehealth_slot	*slots;
	struct nodehealth_entry	*tables;	/* nslots x NODEHEALTH_ENTRIES */
	struct nodehealth_slot	*own_slot;	/* the one this process writes */
	struct nodehealth_entry	*own;
	unsigned		 warned;	/* NODEHEALTH_WARN_* */
} nodehealth;

int
nodehealth_create(unsigned nslots, const char **cause)
{
	struct nodehealth_hdr	*hdr;
	size_t			 size, tables_off;

	tables_off = SHM_ANON_ROUND(sizeof(*hdr) +
	    (size_t)nslots * sizeof(struct nodehealth_slot));
	size = tables_off + (size_t)nslots * NODEHEALTH_ENTRIES *
	    sizeof(struct nodehealth_entry);
	if ((hdr = shm_anon_create(nslots, size, cause)) == NULL)
		return -1;
	memcpy(hdr->magic, NODEHEALTH_MAGIC, sizeof(hdr->magic));
	hdr->version = NODEHEALTH_VERSION;
	hdr->nslots = nslots;
	hdr->table_size = NODEHEALTH_ENTRIES * sizeof(struct nodehealth_entry);
	hdr->entries = NODEHEALTH_ENTRIES;
	hdr->key_max = NODEHEALTH_KEY_MAX;
	hdr->tables_off = tables_off;
	nodehealth.nslots = nslots;
	nodehealth.slots = (struct nodehealth_slot *)(hdr + 1);
	nodehealth.tables = (struct nodehealth_entry *)((char *)hdr +
	    tables_off);
	return 0;
}

static void
nodehealth_store(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* Only the writer counts: a plain increment, published for readers. */
static void
nodehealth_count(uint64_t *p)
{
	nodehealth_store(p, *p + 1);
}

/*
 * Boehm's seqlock writer. An odd seq left by a writer that died inside
 * stays odd on begin, so end always publishes an even one.
 */
static void
nodehealth_write_begin(struct nodehealth_entry *e)
{
	__atomic_store_n(&e->seq, e->seq | 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void
nodehealth_write_end(struct nodehealth_entry *e)
{
	__atomic_store_n(&e->seq, e->seq + 1, __ATOMIC_RELEASE);
}

/* End an update: the entry is now the table's most recently written. */
static void
nodehealth_close(struct nodehealth_entry *e)
{
	nodehealth_count(&nodehealth.own_slot->stamp);
	nodehealth_store(&e->stamp, nodehealth.own_slot->stamp);
	nodehealth_write_end(e);
}

/*
 * The new owner of a table: no node is ejected by its selector yet, and
 * an entry its predecessor died writing may hold a torn key. That key is
 * dropped and the entry made the first to be replaced; it stays taken,
 * since probe chains must not break.
 */
static void
nodehealth_adopt(struct nodehealth_entry *t)
{
	struct nodehealth_entry	*e;
	size_t			 i, w;
	int			 torn;

	for (i = 0; i < NODEHEALTH_ENTRIES; i++) {
		e = &t[i];
		if (e->hash == 0)
			continue;
		torn = e->seq & 1;
		nodehealth_write_begin(e);
		if (torn) {
			for (w = 0; w < NODEHEALTH_KEY_WORDS; w++)
				nodehealth_store(&e->key[w], 0);
			nodehealth_store(&e->hash, NODEHEALTH_LOST);
			nodehealth_store(&e->last_ok, 0);
			nodehealth_store(&e->stamp, 0);
		}
		nodehealth_store(&e->ejected_until, 0);
		nodehealth_write_end(e);
	}
}

void
nodehealth_bind(unsigned slot)
{
	nodehealth.own = NULL;
	if (slot >= nodehealth.nslots)
		return;
	nodehealth.own_slot = &nodehealth.slots[slot];
	nodehealth.own = &nodehealth.tables[(size_t)slot * NODEHEALTH_ENTRIES];
	nodehealth.warned = 0;
	if (nodehealth.own_slot->used > 0)
		nodehealth_adopt(nodehealth.own);
}

/* key <- "service" NUL "id" NUL-padded; its hash, or 0 if too long. */
static uint64_t
nodehealth_key(const char *service, const char *id, uint64_t *key)
{
	size_t	 slen = strlen(service), ilen = strlen(id);
	char	*p = (char *)key;

	if (slen + 1 + ilen + 1 > NODEHEALTH_KEY_MAX)
		return 0;
	memset(key, 0, NODEHEALTH_KEY_MAX);
	memcpy(p, service, slen);
	memcpy(p + slen + 1, id, ilen);
	/* Bit 0 set, so that no key hashes to "free". */
	return util_fnv1a(UTIL_FNV_BASIS, p, slen + 1 + ilen) | 1;
}

/* Logged once per process and reason (a NODEHEALTH_WARN_* bit). */
static void
nodehealth_warn(unsigned reason, const char *why)
{
	if (nodehealth.warned & reason)
		return;
	nodehealth.warned |= reason;
	log_warnx("node health, slot %zu: %s (counted; micro-top may show "
	    "such nodes as never seen)", (size_t)(nodehealth.own_slot -
	    nodehealth.slots), why);
}

/*
 * A full table gives up the entry written longest ago: it stays taken,
 * so the chains through it hold, and a reader probing a full table looks
 * at every entry anyway.
 */
static struct nodehealth_entry *
nodehealth_victim(struct nodehealth_entry *oldest)
{
	nodehealth_count(&nodehealth.own_slot->evicted);
	nodehealth_warn(NODEHEALTH_WARN_FULL,
	    "table full, replacing the nodes updated longest ago");
	return oldest;
}

/* The entry of key, or a fresh one for it (*fresh set). */
static struct nodehealth_entry *
nodehealth_lookup(const uint64_t *key, uint64_t hash, int *fresh)
{
	struct nodehealth_entry	*e, *oldest = NULL;
	size_t			 n, i;

	*fresh = 1;
	for (n = 0, i = hash >> 32; n < NODEHEALTH_ENTRIES; n++, i++) {
		e = &nodehealth.own[i & (NODEHEALTH_ENTRIES - 1)];
		if (e->hash == 0) {
			/* Raised first: a reader skips a table at 0. */
			__atomic_store_n(&nodehealth.own_slot->used,
			    nodehealth.own_slot->used + 1, __ATOMIC_RELEASE);
			return e;
		}
		if (e->hash == hash && memcmp(e->key, key,
		    NODEHEALTH_KEY_MAX) == 0) {
			*fresh = 0;
			return e;
		}
		if (oldest == NULL || e->stamp < oldest->stamp)
			oldest = e;
	}
	return nodehealth_victim(oldest);
}

/* Begin a write to the entry of (service, id); NULL if none is kept. */
static struct nodehealth_entry *
nodehealth_open(const char *service, const char *id)
{
	struct nodehealth_entry	*e;
	uint64_t		 key[NODEHEALTH_KEY_WORDS], hash;
	size_t			 w;
	int			 fresh;

	if (nodehealth.own == NULL)
		return NULL;
	if ((hash = nodehealth_key(service, id, key)) == 0) {
		nodehealth_count(&nodehealth.own_slot->untracked);
		nodehealth_warn(NODEHEALTH_WARN_LONG,
		    "a service name and node id too long to keep");
		return NULL;
	}
	e = nodehealth_lookup(key, hash, &fresh);
	nodehealth_write_begin(e);
	if (fresh) {
		for (w = 0; w < NODEHEALTH_KEY_WORDS; w++)
			nodehealth_store(&e->key[w], key[w]);
		nodehealth_store(&e->hash, hash);
		nodehealth_store(&e->ejected_until, 0);
		nodehealth_store(&e->last_ok, 0);
	}
	return e;
}

/* One field of (service, id)'s entry: its last answer or its ejection. */
static void
nodehealth_update(const char *service, const char *id, int ejection,
    uint64_t v)
{
	struct nodehealth_entry	*e;

	if ((e = nodehealth_open(service, id)) == NULL)
		return;
	nodehealth_store(ejection ? &e->ejected_until : &e->last_ok, v);
	nodehealth_close(e);
}

void
nodehealth_answered(const char *service, const char *id, uint64_t wall_ms)
{
	nodehealth_update(service, id, 0, wall_ms);
}

void
nodehealth_ejected(const char *service, const char *id, uint64_t until_ms)
{
	nodehealth_update(service, id, 1, until_ms);
}

static uint64_t
nodehealth_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/*
 * Boehm's seqlock reader: copy, then check that seq was even and did not
 * move. A writer that died inside leaves seq odd; the bounded retries
 * give that entry up until the slot's next owner repairs it.
 */
static int
nodehealth_read(const struct nodehealth_entry *e, struct nodehealth_copy *c)
{
	uint32_t	 seq;
	size_t		 tries, w;

	for (tries = 0; tries < NODEHEALTH_RETRIES; tries++) {
		seq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
		c->hash = nodehealth_load(&e->hash);
		c->ejected_until = nodehealth_load(&e->ejected_until);
		c->last_ok = nodehealth_load(&e->last_ok);
		for (w = 0; w < NODEHEALTH_KEY_WORDS; w++)
			c->key[w] = nodehealth_load(&e->key[w]);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if ((seq & 1) == 0 &&
		    __atomic_load_n(&e->seq, __ATOMIC_RELAXED) == seq)
			return 0;
	}
	return -1;
}

/* Copy key's entry of table t; -1 if it has none (or none readable). */
static int
nodehealth_find(const struct nodehealth_entry *t, const uint64_t *key,
    uint64_t hash, struct nodehealth_copy *c)
{
	const struct nodehealth_entry	*e;
	uint64_t			 h;
	size_t				 n, i;

	for (n = 0, i = hash >> 32; n < NODEHEALTH_ENTRIES; n++, i++) {
		e = &t[i & (NODEHEALTH_ENTRIES - 1)];
		if ((h = nodehealth_load(&e->hash)) == 0)
			return -1;
		if (h == hash && nodehealth_read(e, c) == 0 &&
		    c->hash == hash && memcmp(c->key, key,
		    NODEHEALTH_KEY_MAX) == 0)
			return 0;
	}
	return -1;
}

void
nodehealth_get(const char *service, const char *id, uint64_t now_ms,
    struct nodehealth *h)
{
	struct nodehealth_copy	 c;
	uint64_t		 key[NODEHEALTH_KEY_WORDS], hash;
	size_t			 slot;

	memset(h, 0, sizeof(*h));
	if (nodehealth.nslots == 0 ||
	    (hash = nodehealth_key(service, id, key)) == 0)
		return;
	for (slot = 0; slot < nodehealth.nslots; slot++) {
		if (__atomic_load_n(&nodehealth.slots[slot].used,
		    __ATOMIC_ACQUIRE) == 0 || nodehealth_find(
		    &nodehealth.tables[slot * NODEHEALTH_ENTRIES], key, hash,
		    &c) == -1)
			continue;
		if (c.last_ok > h->last_ok)
			h->last_ok = c.last_ok;
		if (c.ejected_until > now_ms)
			h->ejected = 1;
	}
}

void
nodehealth_overflow(struct nodehealth_overflow *o)
{
	size_t	 slot;

	memset(o, 0, sizeof(*o));
	for (slot = 0; slot < nodehealth.nslots; slot++) {
		o->evicted += nodehealth_load(&nodehealth.slots[slot].evicted);
		o->untracked += nodehealth_load(
		    &nodehealth.slots[slot].untracked);
	}
}
