#include "config.h"

#include <string.h>

#include "shm/internal.h"

/*
 * Open addressing with linear probing. A bucket is one 64-bit word (name
 * hash << 32 | record ref), so a reader sees an old or a new bucket, never
 * half of one. The writer replaces and deletes (tombstone) in place; when
 * used buckets pass 3/4 it rebuilds into the other index and switches.
 */
/* Returns the bucket value (0: absent) and, if asked, where it is. */
uint64_t
shm_index_find(const struct shm *shm, uint64_t which, uint32_t hash,
    const char *name, size_t len, uint64_t **where)
{
	const struct shm_rec	*rec;
	uint64_t		*ix = shm_index_at(shm, which), mask, b, n;
	uint64_t		 i;

	mask = shm->layout.index_cap - 1;
	for (i = hash & mask, n = 0; n <= mask; i = (i + 1) & mask, n++) {
		b = LOAD_ACQ(&ix[i]);
		if (b == 0)
			return 0;
		if (b == SHM_TOMBSTONE || SHM_BUCKET_HASH(b) != hash)
			continue;
		if ((rec = shm_rec_ptr(shm, SHM_BUCKET_REF(b))) == NULL)
			continue;
		/* Name, node table and addresses: fetch them in parallel. */
		__builtin_prefetch((const char *)rec + 64);
		__builtin_prefetch((const char *)rec + 128);
		__builtin_prefetch((const char *)rec + 192);
		if (shm_rec_fits(shm, rec) && shm_rec_is(rec, name, len) &&
		    shm_rec_service_readable(rec)) {
			if (where != NULL)
				*where = &ix[i];
			return b;
		}
	}
	return 0;
}

/* Buckets in use (tombstones too); *live: those that reference a record. */
uint64_t
shm_index_count(const struct shm *shm, uint64_t which, uint64_t *live)
{
	uint64_t	*ix = shm_index_at(shm, which), i, b, n = 0;

	*live = 0;
	for (i = 0; i < shm->layout.index_cap; i++) {
		if ((b = LOAD(&ix[i])) == 0)
			continue;
		n++;
		if (b != SHM_TOMBSTONE)
			(*live)++;
	}
	return n;
}

/*
 * Empty an index in place. Each bucket is one atomic store, so a reader
 * probing meanwhile finds the old record (still intact) or nothing.
 */
void
shm_index_clear(struct shm *shm, uint64_t which)
{
	uint64_t	*ix = shm_index_at(shm, which), i;

	for (i = 0; i < shm->layout.index_cap; i++)
		STORE_REL(&ix[i], 0);
}

/* The writer's copy of what the bucket of index which (0 or 1) holds. */
struct shm_live *
shm_index_live(struct shm_writer *w, uint64_t which, const uint64_t *bucket)
{
	return &w->live[which * w->layout->index_cap +
	    (size_t)(bucket - shm_index_at(w->shm, which))];
}

/* Place a bucket in an index known not to hold its name. */
static uint64_t *
shm_index_slot(struct shm *shm, uint64_t which, uint32_t hash)
{
	uint64_t	*ix = shm_index_at(shm, which), mask, b, i;

	mask = shm->layout.index_cap - 1;
	for (i = hash & mask;; i = (i + 1) & mask) {
		b = LOAD(&ix[i]);
		if (b == 0 || b == SHM_TOMBSTONE)
			return &ix[i];
	}
}

/*
 * Copy the live buckets into the other index, then switch readers to it
 * with one release store. The old index is retired like a record: it is
 * cleared for reuse only once no reader can still be probing it.
 */
static int
shm_index_rebuild(struct shm_writer *w, uint64_t deadline, const char **cause)
{
	struct shm	*shm = w->shm;
	uint64_t	 from = w->active, to = !from, *src, *dst, *slot, i, b;
	uint64_t	 cap = shm->layout.index_cap, n = 0;

	if (shm_epoch_wait(w, w->index_retired, deadline) == -1) {
		*cause = "a reader did not leave the old index in time";
		return -1;
	}
	src = shm_index_at(shm, from);
	dst = shm_index_at(shm, to);
	memset(dst, 0, cap * sizeof(*dst));
	memset(&w->live[to * cap], 0, cap * sizeof(*w->live));
	for (i = 0; i < cap; i++) {
		b = LOAD(&src[i]);
		if (b == 0 || b == SHM_TOMBSTONE)
			continue;
		slot = shm_index_slot(shm, to, SHM_BUCKET_HASH(b));
		*slot = b;
		*shm_index_live(w, to, slot) = *shm_index_live(w, from, &src[i]);
		n++;
	}
	w->active = to;
	STORE_REL(&w->hdr->index_active, to);
	w->index_retired = w->epoch;
	STORE(&w->hdr->index_retired, w->index_retired);
	w->used[to] = n;
	BUMP(&w->hdr->rebuilds, 1);
	return 0;
}

int
shm_index_insert(struct shm_writer *w, uint32_t hash, uint64_t ref,
    const struct shm_live *live, uint64_t deadline, const char **cause)
{
	uint64_t	*slot;

	if ((w->used[w->active] + 1) * 4 > w->layout->index_cap * 3 &&
	    shm_index_rebuild(w, deadline, cause) == -1)
		return -1;
	slot = shm_index_slot(w->shm, w->active, hash);
	if (LOAD(slot) == 0)
		w->used[w->active]++;
	*shm_index_live(w, w->active, slot) = *live;
	STORE_REL(slot, SHM_BUCKET(hash, ref));
	return 0;
}
