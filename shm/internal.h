/*
 * What the shm/ files share and nobody else sees: the process-local handle,
 * the record-reference encoding and the writer's private state.
 */
#ifndef MICRO_SHM_INTERNAL_H
#define MICRO_SHM_INTERNAL_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "shm/layout.h"
#include "shm/registry.h"
#include "shm/shm.h"

#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define LOAD_ACQ(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define STORE_REL(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
/* A single-writer counter: no read-modify-write needed. */
#define BUMP(p, n)	STORE((p), LOAD(p) + (n))

/*
 * Process-local: each process has its own copy of this handle. The
 * segment's geometry is copied into it once checked (shm_create,
 * shm_attach) and never read from the segment again: every offset taken
 * from shared memory is bounded by this copy, so stray bytes in the
 * segment cannot send a reader outside it.
 */
struct shm {
	unsigned char	*base;
	size_t		 size;
	int		 fd;
	struct shm_hdr	*hdr;
	struct shm_hdr	 layout;	/* the fields fixed at creation */
	struct shm_slot	*reading;	/* our slot while in a read */
};

/*
 * What the writer published in a bucket (or as the sync state): unlinking
 * a record counts these out, never the size and nodes the record says.
 */
struct shm_live {
	uint32_t	 size;
	uint16_t	 kind;
	uint16_t	 nnodes;
};

/*
 * Private to the writer process. What only the writer writes and must
 * trust (the arena positions, what admission counts, sync_ref, the
 * epochs, the active index, the size of every published record) is kept
 * here: the header's copies are published for readers and statistics,
 * and read back once, at open, checked. Stray bytes there cannot send the
 * cleaner astray, skew admission or free memory a reader holds.
 */
struct shm_writer {
	struct shm	*shm;
	struct shm_hdr	*hdr;
	const struct shm_hdr *layout;	/* &shm->layout */
	uint64_t	 epoch;		/* reclamation epoch, as published */
	uint64_t	 index_retired;	/* epoch the inactive index was left at */
	uint64_t	 active;	/* the index readers are sent to */
	uint64_t	 head;		/* arena positions */
	uint64_t	 tail;
	uint64_t	 clean;		/* cleaner cursor, tail <= clean <= head */
	uint64_t	 bytes_live;
	uint64_t	 services;
	uint64_t	 nodes;
	uint64_t	 sync_ref;
	uint64_t	 safe;		/* records retired before this are free */
	uint64_t	 seq;
	uint64_t	 used[2];	/* non-empty buckets in each index */
	unsigned	 stalled_slot;	/* reader that made the last wait fail */
	uint64_t	 stall_epoch;	/* its epoch then; 0: no stall */
	int		 stall_fresh;	/* the last failed wait timed out */
	int		 full;		/* last put failed for space: log once */
	struct shm_live	 sync_live;	/* the record at sync_ref */
	struct shm_live	 live[];	/* per bucket: index 0's, then 1's */
};

/*
 * A record reference: (offset in the arena / SHM_REC_ALIGN) + 1, so 0 is
 * "none". An index bucket is hash << 32 | ref.
 */
#define SHM_REF(off)		((uint64_t)(off) / SHM_REC_ALIGN + 1)
#define SHM_REF_OFF(ref)	(((ref) - 1) * SHM_REC_ALIGN)
#define SHM_BUCKET(h, ref)	((uint64_t)(h) << 32 | (ref))
#define SHM_BUCKET_REF(b)	((b) & 0xffffffffU)
#define SHM_BUCKET_HASH(b)	((uint32_t)((b) >> 32))

static inline struct shm_slot *
shm_slot_at(const struct shm *shm, unsigned i)
{
	return (struct shm_slot *)(shm->base + shm->layout.slots_off +
	    (size_t)i * SHM_SLOT_SIZE);
}

/* which is index_active as loaded: only its low bit counts. */
static inline uint64_t *
shm_index_at(const struct shm *shm, uint64_t which)
{
	return (uint64_t *)(shm->base + shm->layout.index_off[which & 1]);
}

/*
 * Where a reference points, or NULL if outside the arena. The record is
 * not read: a lookup prefetches its lines before it waits for the first.
 */
static inline struct shm_rec *
shm_rec_ptr(const struct shm *shm, uint64_t ref)
{
	if (ref == 0 || ref > shm->layout.arena_size / SHM_REC_ALIGN)
		return NULL;
	return (struct shm_rec *)(shm->base + shm->layout.arena_off +
	    SHM_REF_OFF(ref));
}

/* Whether the record's size keeps it inside the arena. */
static inline int
shm_rec_fits(const struct shm *shm, const struct shm_rec *rec)
{
	uint64_t	 off = (const unsigned char *)rec -
			    (shm->base + shm->layout.arena_off);

	return rec->size >= SHM_REC_ALIGN &&
	    rec->size <= shm->layout.arena_size - off;
}

/* A record by reference, or NULL unless it lies inside the arena. */
static inline struct shm_rec *
shm_rec_at(const struct shm *shm, uint64_t ref)
{
	struct shm_rec	*rec = shm_rec_ptr(shm, ref);

	return rec != NULL && shm_rec_fits(shm, rec) ? rec : NULL;
}

/*
 * A service record body: name first (it is compared on every lookup, so it
 * shares the header's cache lines), then the node table, then the node
 * addresses together (what selection reads), ids, versions, the JSON.
 */
static inline const char *
shm_rec_name(const struct shm_rec *rec)
{
	return (const char *)(rec + 1);
}

static inline size_t
shm_rec_nodes_off(size_t name_len)
{
	return (sizeof(struct shm_rec) + name_len + 1 + 3) & ~(size_t)3;
}

static inline const struct shm_rec_node *
shm_rec_nodes(const struct shm_rec *rec)
{
	return (const struct shm_rec_node *)((const char *)rec +
	    shm_rec_nodes_off(rec->name_len));
}

/* record.c */
uint32_t	 shm_hash(const char *, size_t);
uint32_t	 shm_rec_sum(const struct shm_rec *);
size_t		 shm_rec_service_size(size_t, const struct shm_node_in *, size_t,
		    size_t);
void		 shm_rec_service_fill(struct shm_rec *, size_t, const char *,
		    size_t, const struct shm_node_in *, size_t, const char *,
		    size_t);
void		 shm_rec_fill(struct shm_rec *, size_t, enum shm_rec_kind,
		    const void *, size_t);
size_t		 shm_rec_body_size(size_t);
void		 shm_rec_seal(struct shm_rec *, uint64_t);
int		 shm_rec_is(const struct shm_rec *, const char *, size_t);
int		 shm_rec_service_readable(const struct shm_rec *);

/* index.c */
uint64_t	 shm_index_find(const struct shm *, uint64_t, uint32_t,
		    const char *, size_t, uint64_t **);
struct shm_live	*shm_index_live(struct shm_writer *, uint64_t,
		    const uint64_t *);
int		 shm_index_insert(struct shm_writer *, uint32_t, uint64_t,
		    const struct shm_live *, uint64_t, const char **);
uint64_t	 shm_index_count(const struct shm *, uint64_t, uint64_t *);
void		 shm_index_clear(struct shm *, uint64_t);

/* epoch.c */
int		 shm_pid_dead(pid_t);
void		 shm_epoch_open(struct shm_writer *);
void		 shm_epoch_retire(struct shm_writer *, struct shm_rec *);
int		 shm_epoch_safe(struct shm_writer *, uint64_t);
int		 shm_epoch_wait(struct shm_writer *, uint64_t, uint64_t);

/* arena.c */
uint64_t	 shm_arena_ref(const struct shm *, const struct shm_rec *);
struct shm_rec	*shm_arena_alloc(struct shm_writer *, size_t, size_t,
		    uint64_t, const char **);
void		 shm_arena_commit(struct shm_writer *, size_t);
int		 shm_arena_recover(struct shm_writer *, const char **);
void		 shm_arena_reset(struct shm_writer *);

/* writer.c */
void		 shm_writer_set_live(struct shm_writer *, uint64_t, uint64_t,
		    uint64_t);
void		 shm_writer_full(struct shm_writer *, const char *);
void		 shm_writer_stalled(struct shm_writer *);

#endif
