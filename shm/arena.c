#include "config.h"

#include <string.h>

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
	return w->layout->arena_size -
	    (LOAD(&w->hdr->head) - LOAD(&w->hdr->tail));
}

/* Bytes a pad would take if n bytes were placed at head now. */
static uint64_t
shm_arena_pad(const struct shm_writer *w, size_t n)
{
	uint64_t	 size = w->layout->arena_size, left;

	left = size - LOAD(&w->hdr->head) % size;
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
	struct shm_rec	*pad;
	uint64_t	 head, len;

	if ((len = shm_arena_pad(w, n)) != 0) {
		head = LOAD(&w->hdr->head);
		pad = shm_arena_at(w->shm, head);
		shm_rec_fill(pad, len, SHM_REC_PAD, NULL, 0);
		STORE_REL(&w->hdr->head, head + len);
	}
	return shm_arena_at(w->shm, LOAD(&w->hdr->head));
}

void
shm_arena_commit(struct shm_writer *w, struct shm_rec *rec)
{
	STORE_REL(&w->hdr->head, LOAD(&w->hdr->head) + rec->size);
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
		if (LOAD(&w->hdr->sync_ref) == oref)
			STORE_REL(&w->hdr->sync_ref, shm_arena_ref(shm, new));
		return;
	}
	b = shm_index_find(shm, LOAD(&w->hdr->index_active), old->hash,
	    shm_rec_name(old), old->name_len, &where);
	if (b != 0 && SHM_BUCKET_REF(b) == oref)
		STORE_REL(where, SHM_BUCKET(old->hash, shm_arena_ref(shm, new)));
}

static void
shm_arena_move(struct shm_writer *w, struct shm_rec *rec)
{
	struct shm_rec	*copy;

	copy = shm_arena_place(w, rec->size);
	memcpy(copy, rec, rec->size);
	shm_arena_commit(w, copy);
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
	struct shm_rec	*rec;
	uint64_t	 tail = LOAD(&w->hdr->tail);

	if (tail < w->clean) {
		rec = shm_arena_at(w->shm, tail);
		if (rec->kind == SHM_REC_PAD ||
		    shm_epoch_safe(w, rec->retired)) {
			STORE_REL(&w->hdr->tail, tail + rec->size);
			return 0;
		}
	}
	if (w->clean < LOAD(&w->hdr->head)) {
		rec = shm_arena_at(w->shm, w->clean);
		if (rec->kind == SHM_REC_PAD || rec->retired != 0) {
			w->clean += rec->size;
			return 0;
		}
		if (shm_arena_fits(w, rec->size,
		    tail < w->clean ? w->layout->max_record : 0)) {
			w->clean += rec->size;
			shm_arena_move(w, rec);
			return 0;
		}
	}
	if (tail < w->clean) {
		rec = shm_arena_at(w->shm, tail);
		if (shm_epoch_wait(w, rec->retired, deadline) == 0)
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

static int
shm_arena_valid(const struct shm_writer *w, uint64_t pos,
    const struct shm_rec *rec)
{
	uint64_t	 phys = pos % w->layout->arena_size;

	return rec->magic == SHM_REC_MAGIC && rec->size >= SHM_REC_ALIGN &&
	    rec->size % SHM_REC_ALIGN == 0 &&
	    phys + rec->size <= w->layout->arena_size &&
	    pos + rec->size <= LOAD(&w->hdr->head);
}

static int
shm_arena_referenced(const struct shm_writer *w, const struct shm_rec *rec)
{
	uint64_t	 ref = shm_arena_ref(w->shm, rec), b;

	if (rec->kind == SHM_REC_SYNC)
		return LOAD(&w->hdr->sync_ref) == ref;
	b = shm_index_find(w->shm, LOAD(&w->hdr->index_active), rec->hash,
	    shm_rec_name(rec), rec->name_len, NULL);
	return b != 0 && SHM_BUCKET_REF(b) == ref;
}

/* What a walk of the arena found live. */
struct shm_recount {
	uint64_t	 bytes, services, nodes, syncs;
};

/*
 * One record of the walk: a live one is counted, any other retired now,
 * since a reader may still hold it. -1 if no writer left it this way.
 */
static int
shm_arena_recount(struct shm_writer *w, uint64_t pos, struct shm_rec *rec,
    struct shm_recount *n, const char **cause)
{
	if (!shm_arena_valid(w, pos, rec)) {
		*cause = "shm arena record corrupt";
		return -1;
	}
	if (rec->kind == SHM_REC_PAD)
		return 0;
	if (!shm_arena_referenced(w, rec)) {
		if (rec->retired == 0)
			shm_epoch_retire(w, rec);
		return 0;
	}
	if (shm_rec_sum(rec) != rec->sum) {
		*cause = "shm record checksum mismatch";
		return -1;
	}
	rec->retired = 0;
	n->bytes += rec->size;
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
	struct shm_rec		*rec;
	uint64_t		 pos, buckets;

	if (LOAD(&h->head) - LOAD(&h->tail) > w->layout->arena_size ||
	    LOAD(&h->tail) % SHM_REC_ALIGN != 0 ||
	    LOAD(&h->head) % SHM_REC_ALIGN != 0) {
		*cause = "shm arena positions corrupt";
		return -1;
	}
	for (pos = LOAD(&h->tail); pos < LOAD(&h->head); pos += rec->size) {
		rec = shm_arena_at(w->shm, pos);
		if (shm_arena_recount(w, pos, rec, &n, cause) == -1)
			return -1;
	}
	shm_index_count(w->shm, LOAD(&h->index_active), &buckets);
	if (buckets != n.services) {
		*cause = "shm index leads to no record";
		return -1;
	}
	if (n.syncs != (LOAD(&h->sync_ref) != 0)) {
		*cause = "shm sync_ref leads to no record";
		return -1;
	}
	w->clean = LOAD(&h->tail);
	STORE(&h->bytes_live, n.bytes);
	STORE(&h->services, n.services);
	STORE(&h->nodes, n.nodes);
	return 0;
}

/*
 * Forget every record: the indexes are cleared and the readers have left
 * (shm_writer_open). Positions start again from 0.
 */
void
shm_arena_reset(struct shm_writer *w)
{
	struct shm_hdr	*h = w->hdr;

	STORE_REL(&h->head, 0);
	STORE_REL(&h->tail, 0);
	w->clean = 0;
	STORE(&h->bytes_live, 0);
	STORE(&h->services, 0);
	STORE(&h->nodes, 0);
}
