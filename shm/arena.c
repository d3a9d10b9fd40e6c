#include "config.h"

#include <string.h>

#include "log.h"
#include "shm/internal.h"

/*
 * The arena is a ring of records between tail and head, which are logical
 * byte positions (physical = position % arena size), so head - tail is the
 * used size with no full/empty ambiguity. Records are appended at head; a
 * record that does not fit before the physical end is preceded by a pad
 * record filling it. Head moves (release) after a record is written and
 * before it is published, so a writer killed in between leaves only an
 * unreferenced record, which its successor retires.
 *
 * The cleaner keeps a cursor (clean) ahead of tail: records in [tail,
 * clean) are dead, and tail frees them once their epoch is safe; live
 * records met by the cursor are copied to head and republished. See
 * doc/shm-layout.md for why the reserves below guarantee progress.
 *
 * The writer moves head and tail in its handle and publishes them; it
 * reads the header's only in shm_arena_recover. Every record the cleaner
 * steps over is checked first, since any process can write the arena.
 */
static struct shm_rec *
shm_arena_at(const struct shm *shm, uint64_t pos)
{
	return (struct shm_rec *)(shm->base + shm->layout.arena_off +
	    pos % shm->layout.arena_size);
}

uint64_t
shm_arena_ref(const struct shm *shm, const struct shm_rec *rec)
{
	return SHM_REF((const unsigned char *)rec - shm->base -
	    shm->layout.arena_off);
}

static uint64_t
shm_arena_free(const struct shm_writer *w)
{
	return w->layout->arena_size - (w->head - w->tail);
}

static void
shm_arena_set_head(struct shm_writer *w, uint64_t pos)
{
	w->head = pos;
	STORE_REL(&w->hdr->head, pos);
}

static void
shm_arena_set_tail(struct shm_writer *w, uint64_t pos)
{
	w->tail = pos;
	STORE_REL(&w->hdr->tail, pos);
}

/*
 * The size of the record at pos, read once, if it is one a writer left
 * there and ends by end; else 0.
 */
static uint64_t
shm_arena_size(const struct shm_writer *w, uint64_t pos, uint64_t end)
{
	const struct shm_rec	*rec = shm_arena_at(w->shm, pos);
	uint64_t		 size = LOAD(&rec->size);

	if (LOAD(&rec->magic) != SHM_REC_MAGIC || size < SHM_REC_ALIGN ||
	    size % SHM_REC_ALIGN != 0 ||
	    pos % w->layout->arena_size + size > w->layout->arena_size ||
	    pos + size > end)
		return 0;
	return size;
}

/*
 * A record the cleaner is to step over is not one a writer left: the
 * positions can no longer be trusted. The registry worker is restarted,
 * and its successor's recovery empties and reloads the cache.
 */
static void
shm_arena_corrupt(uint64_t pos)
{
	fatalx("shm: arena record at %llu corrupt", (unsigned long long)pos);
}

/* Bytes a pad would take if n bytes were placed at head now. */
static uint64_t
shm_arena_pad(const struct shm_writer *w, size_t n)
{
	uint64_t	 size = w->layout->arena_size, left;

	left = size - w->head % size;
	return left >= n ? 0 : left;
}

static int
shm_arena_fits(const struct shm_writer *w, size_t n, size_t reserve)
{
	return shm_arena_free(w) >= shm_arena_pad(w, n) + n + reserve;
}

/* Where the next record of n bytes goes; the caller checked it fits. */
static struct shm_rec *
shm_arena_place(struct shm_writer *w, size_t n)
{
	uint64_t	 len;

	if ((len = shm_arena_pad(w, n)) != 0) {
		shm_rec_fill(shm_arena_at(w->shm, w->head), len, SHM_REC_PAD,
		    NULL, 0);
		shm_arena_set_head(w, w->head + len);
	}
	return shm_arena_at(w->shm, w->head);
}

/* The record of n bytes placed at head is written. */
void
shm_arena_commit(struct shm_writer *w, size_t n)
{
	shm_arena_set_head(w, w->head + n);
}

/* Replace every reference to old by one to new. */
static void
shm_arena_republish(struct shm_writer *w, struct shm_rec *old,
    struct shm_rec *new)
{
	struct shm	*shm = w->shm;
	uint64_t	 oref, b, *where;

	oref = shm_arena_ref(shm, old);
	if (old->kind == SHM_REC_SYNC) {
		if (w->sync_ref == oref) {
			w->sync_ref = shm_arena_ref(shm, new);
			STORE_REL(&w->hdr->sync_ref, w->sync_ref);
		}
		return;
	}
	b = shm_index_find(shm, w->active, old->hash, shm_rec_name(old),
	    old->name_len, &where);
	if (b != 0 && SHM_BUCKET_REF(b) == oref)
		STORE_REL(where, SHM_BUCKET(old->hash, shm_arena_ref(shm, new)));
}

static void
shm_arena_move(struct shm_writer *w, struct shm_rec *rec, size_t size)
{
	struct shm_rec	*copy;

	copy = shm_arena_place(w, size);
	memcpy(copy, rec, size);
	shm_arena_commit(w, size);
	shm_arena_republish(w, rec, copy);
	shm_epoch_retire(w, rec);
	BUMP(&w->hdr->moved, 1);
}

/*
 * One step of cleaning: free a safe record at tail, else move the cursor
 * on (copying a live record, keeping max_record spare while there is
 * something to wait for), else wait for readers to leave the tail.
 */
static int
shm_arena_clean(struct shm_writer *w, uint64_t deadline, const char **cause)
{
	struct shm_rec	*rec, *dead = NULL;
	uint64_t	 size;

	if (w->tail < w->clean) {
		if ((size = shm_arena_size(w, w->tail, w->clean)) == 0)
			shm_arena_corrupt(w->tail);
		dead = shm_arena_at(w->shm, w->tail);
		if (dead->kind == SHM_REC_PAD ||
		    shm_epoch_safe(w, dead->retired)) {
			shm_arena_set_tail(w, w->tail + size);
			return 0;
		}
	}
	if (w->clean < w->head) {
		if ((size = shm_arena_size(w, w->clean, w->head)) == 0)
			shm_arena_corrupt(w->clean);
		rec = shm_arena_at(w->shm, w->clean);
		if (rec->kind == SHM_REC_PAD || rec->retired != 0) {
			w->clean += size;
			return 0;
		}
		if (shm_arena_fits(w, size,
		    dead != NULL ? w->layout->max_record : 0)) {
			w->clean += size;
			shm_arena_move(w, rec, size);
			return 0;
		}
	}
	if (dead != NULL) {
		if (shm_epoch_wait(w, dead->retired, deadline) == 0)
			return 0;
		shm_writer_stalled(w);
		*cause = "a reader did not leave the registry in time";
		return -1;
	}
	*cause = "shm arena full";
	shm_writer_full(w, *cause);
	return -1;
}

/*
 * Room for n bytes at head leaving reserve free after them, cleaning as
 * needed. Returns where to write the record, then shm_arena_commit it.
 */
struct shm_rec *
shm_arena_alloc(struct shm_writer *w, size_t n, size_t reserve,
    uint64_t deadline, const char **cause)
{
	while (!shm_arena_fits(w, n, reserve)) {
		if (shm_arena_clean(w, deadline, cause) == -1)
			return NULL;
	}
	return shm_arena_place(w, n);
}

/* Where the writer keeps what rec was published as, or NULL if it is not. */
static struct shm_live *
shm_arena_referenced(struct shm_writer *w, const struct shm_rec *rec)
{
	uint64_t	 ref = shm_arena_ref(w->shm, rec), b, *where;

	if (rec->kind == SHM_REC_SYNC)
		return w->sync_ref == ref ? &w->sync_live : NULL;
	b = shm_index_find(w->shm, w->active, rec->hash, shm_rec_name(rec),
	    rec->name_len, &where);
	if (b == 0 || SHM_BUCKET_REF(b) != ref)
		return NULL;
	return shm_index_live(w, w->active, where);
}

/* What a walk of the arena found live. */
struct shm_recount {
	uint64_t	 bytes, services, nodes, syncs;
};

/*
 * One record of the walk, of size bytes: a live one is counted and what it
 * was published as kept, any other retired now (its old stamp is not
 * trusted), since a reader may still hold it. -1 if no writer left it
 * this way.
 */
static int
shm_arena_recount(struct shm_writer *w, struct shm_rec *rec, uint64_t size,
    struct shm_recount *n, const char **cause)
{
	struct shm_live	*live;

	if (rec->kind == SHM_REC_PAD)
		return 0;
	if ((live = shm_arena_referenced(w, rec)) == NULL) {
		shm_epoch_retire(w, rec);
		return 0;
	}
	if (shm_rec_sum(rec) != rec->sum) {
		*cause = "shm record checksum mismatch";
		return -1;
	}
	rec->retired = 0;
	live->size = (uint32_t)size;
	live->kind = rec->kind;
	live->nnodes = rec->nnodes;
	n->bytes += size;
	if (rec->kind == SHM_REC_SERVICE) {
		n->services++;
		n->nodes += rec->nnodes;
	} else
		n->syncs++;
	return 0;
}

/*
 * After a writer was killed: what the index (and sync_ref) points to is
 * live, everything else is retired. Recount what the statistics say is
 * live. A segment that no writer left (a record out of place, a live one
 * whose checksum fails, a reference that leads to no live record) is
 * corrupt: -1.
 */
int
shm_arena_recover(struct shm_writer *w, const char **cause)
{
	struct shm_hdr		*h = w->hdr;
	struct shm_recount	 n = { 0 };
	uint64_t		 pos, size, buckets;

	w->head = LOAD(&h->head);
	w->tail = LOAD(&h->tail);
	w->sync_ref = LOAD(&h->sync_ref);
	if (w->head - w->tail > w->layout->arena_size ||
	    w->tail % SHM_REC_ALIGN != 0 || w->head % SHM_REC_ALIGN != 0) {
		*cause = "shm arena positions corrupt";
		return -1;
	}
	for (pos = w->tail; pos < w->head; pos += size) {
		if ((size = shm_arena_size(w, pos, w->head)) == 0) {
			*cause = "shm arena record corrupt";
			return -1;
		}
		if (shm_arena_recount(w, shm_arena_at(w->shm, pos), size, &n,
		    cause) == -1)
			return -1;
	}
	shm_index_count(w->shm, w->active, &buckets);
	if (buckets != n.services) {
		*cause = "shm index leads to no record";
		return -1;
	}
	if (n.syncs != (w->sync_ref != 0)) {
		*cause = "shm sync_ref leads to no record";
		return -1;
	}
	w->clean = w->tail;
	shm_writer_set_live(w, n.bytes, n.services, n.nodes);
	return 0;
}

/*
 * Forget every record: the indexes are cleared and the readers have left
 * (shm_writer_open). Positions start again from 0.
 */
void
shm_arena_reset(struct shm_writer *w)
{
	shm_arena_set_head(w, 0);
	shm_arena_set_tail(w, 0);
	w->clean = 0;
	w->sync_ref = 0;
	shm_writer_set_live(w, 0, 0, 0);
}
