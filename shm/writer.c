#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "shm/internal.h"
#include "util.h"

/* How long a put may wait for readers to leave before it fails. */
#define SHM_WRITER_WAIT_MS	500

static int
shm_writer_claim(struct shm_hdr *h, const char **cause)
{
	int32_t	 old, me = (int32_t)getpid();

	old = LOAD(&h->writer_pid);
	if (old != 0 && old != me && !shm_pid_dead(old)) {
		*cause = "another shm writer is alive";
		return -1;
	}
	if (!__atomic_compare_exchange_n(&h->writer_pid, &old, me, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		*cause = "another shm writer started at the same time";
		return -1;
	}
	return 0;
}

/*
 * The segment holds what no writer left there: unpublish everything, wait
 * until no reader can hold a record, and start from an empty registry,
 * which the registry worker then fills from registry.db.
 */
static int
shm_writer_reset(struct shm_writer *w, const char *why, const char **cause)
{
	struct shm_hdr	*h = w->hdr;

	log_warnx("%s: the registry cache is emptied and reloaded", why);
	STORE_REL(&h->sync_ref, 0);
	shm_index_clear(w->shm, 0);
	shm_index_clear(w->shm, 1);
	memset(w->live, 0, 2 * w->layout->index_cap * sizeof(*w->live));
	if (shm_epoch_wait(w, w->epoch,
	    util_now_ms() + SHM_WRITER_WAIT_MS) == -1) {
		*cause = "a reader did not leave the registry in time";
		return -1;
	}
	shm_arena_reset(w);
	BUMP(&h->resets, 1);
	return 0;
}

struct shm_writer *
shm_writer_open(struct shm *shm, const char **cause)
{
	struct shm_writer	*w;
	struct shm_hdr		*h = shm->hdr;
	const char		*why;
	uint64_t		 live;

	if (shm_writer_claim(h, cause) == -1)
		return NULL;
	w = xcalloc(1, sizeof(*w) +
	    2 * shm->layout.index_cap * sizeof(*w->live));
	w->shm = shm;
	w->hdr = h;
	w->layout = &shm->layout;
	shm_epoch_open(w);
	/* Readers look at the low bit alone; the writer indexes with it. */
	w->active = LOAD(&h->index_active) & 1;
	STORE_REL(&h->index_active, w->active);
	if (shm_arena_recover(w, &why) == -1 &&
	    shm_writer_reset(w, why, cause) == -1) {
		STORE(&h->writer_pid, 0);
		free(w);
		return NULL;
	}
	/* A predecessor may have been rebuilding into the inactive index. */
	w->used[w->active] = shm_index_count(shm, w->active, &live);
	w->index_retired = w->epoch;
	STORE(&h->index_retired, w->index_retired);
	w->seq = LOAD(&h->generation);
	BUMP(&h->writer_starts, 1);
	STORE_REL(&h->generation, LOAD(&h->generation) + 1);
	shm_writer_heartbeat(w);
	return w;
}

void
shm_writer_close(struct shm_writer *w)
{
	int32_t	 me = (int32_t)getpid();

	__atomic_compare_exchange_n(&w->hdr->writer_pid, &me, 0, 0,
	    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	free(w);
}

void
shm_writer_reaped(struct shm *shm, pid_t pid)
{
	int32_t	 old = (int32_t)pid;

	__atomic_compare_exchange_n(&shm->hdr->writer_pid, &old, 0, 0,
	    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

void
shm_writer_heartbeat(struct shm_writer *w)
{
	STORE(&w->hdr->heartbeat_ms, util_wall_ms());
}

/* Counted always, logged once per run of failures. */
void
shm_writer_full(struct shm_writer *w, const char *cause)
{
	BUMP(&w->hdr->full_errors, 1);
	if (!w->full)
		log_warnx("shm: %s (%llu services, %llu bytes live)", cause,
		    (unsigned long long)w->services,
		    (unsigned long long)w->bytes_live);
	w->full = 1;
}

void
shm_writer_stalled(struct shm_writer *w)
{
	struct shm_slot_info	 info;

	BUMP(&w->hdr->wait_errors, 1);
	if (!w->stall_fresh)	/* the same stall: said once */
		return;
	BUMP(&w->hdr->stalls, 1);
	shm_slot_info(w->shm, w->stalled_slot, &info);
	log_warnx("shm: reader in slot %u (pid %ld) stayed in a read over %d "
	    "ms; puts that need its memory fail until it leaves",
	    w->stalled_slot, (long)info.pid, SHM_WRITER_WAIT_MS);
}

static int
shm_writer_check_str(const char *s, size_t max)
{
	return s != NULL && strnlen(s, max + 1) <= max;
}

static int
shm_writer_check(const char *name, size_t len, const struct shm_node_in *nodes,
    size_t nnodes, const char *json, size_t json_len, const char **cause)
{
	size_t	 i;

	if (len == 0 || len > SHM_NAME_MAX || memchr(name, '\0', len) != NULL) {
		*cause = "bad service name";
		return -1;
	}
	if (nnodes > SHM_NODES_MAX) {
		*cause = "too many nodes";
		return -1;
	}
	for (i = 0; i < nnodes; i++) {
		if (!shm_writer_check_str(nodes[i].id, SHM_FIELD_MAX) ||
		    !shm_writer_check_str(nodes[i].address, SHM_FIELD_MAX) ||
		    !shm_writer_check_str(nodes[i].version, SHM_FIELD_MAX)) {
			*cause = "node id, address or version missing or too long";
			return -1;
		}
	}
	if ((json == NULL && json_len != 0) || json_len >= UINT32_MAX) {
		*cause = "bad service JSON";
		return -1;
	}
	return 0;
}

/*
 * Whether the arena admits live bytes once a record is added. Leaving
 * 4 * max_record of it never live when a record is allocated is what lets
 * the cleaner always make progress. A replacement is live beside the
 * record it replaces until published, so admission keeps one max_record
 * more.
 */
static int
shm_arena_admits(uint64_t arena_size, uint64_t max_record, uint64_t live)
{
	return live + 5 * max_record <= arena_size;
}

/*
 * Whether a record of size bytes may be added, replacing one of replaced
 * bytes (0: none). Admission counts the net growth: a put that does not
 * grow the registry (a TTL refresh, a node dropped) is accepted however
 * full the arena is. A record past max_record would never fit: that is
 * the put's fault, which the caller can know first (shm_put_size), and
 * not counted as full.
 */
static int
shm_writer_room(struct shm_writer *w, size_t size, size_t replaced,
    const char **cause)
{
	const struct shm_hdr	*l = w->layout;

	if (size > l->max_record) {
		*cause = "record larger than the shm maximum";
		return -1;
	}
	if (shm_arena_admits(l->arena_size, l->max_record,
	    w->bytes_live - replaced + size))
		return 0;
	*cause = "shm arena full";
	shm_writer_full(w, *cause);
	return -1;
}

size_t
shm_put_size(size_t len, const struct shm_node_in *nodes, size_t nnodes,
    size_t json_len)
{
	return shm_rec_service_size(len, nodes, nnodes, json_len);
}

/* Here, beside the admission rule it applies. */
int
shm_stats_full(const struct shm_stats *st)
{
	return st->services >= st->max_services ||
	    !shm_arena_admits(st->arena_size, st->max_record,
	    st->bytes_live + st->max_record);
}

/* What is live, kept by the writer and published for statistics. */
void
shm_writer_set_live(struct shm_writer *w, uint64_t bytes, uint64_t services,
    uint64_t nodes)
{
	w->bytes_live = bytes;
	w->services = services;
	w->nodes = nodes;
	STORE(&w->hdr->bytes_live, bytes);
	STORE(&w->hdr->services, services);
	STORE(&w->hdr->nodes, nodes);
}

/* rec was published as live says; the record's own header may not. */
static void
shm_writer_unlink(struct shm_writer *w, struct shm_rec *rec,
    const struct shm_live *live)
{
	uint64_t	 svc = live->kind == SHM_REC_SERVICE;

	shm_epoch_retire(w, rec);
	shm_writer_set_live(w, w->bytes_live - live->size, w->services - svc,
	    w->nodes - svc * live->nnodes);
}

static void
shm_writer_link(struct shm_writer *w, const struct shm_live *live)
{
	uint64_t	 svc = live->kind == SHM_REC_SERVICE;

	shm_writer_set_live(w, w->bytes_live + live->size, w->services + svc,
	    w->nodes + svc * live->nnodes);
}

static void
shm_writer_published(struct shm_writer *w)
{
	/* Stray bytes there would send readers to the other index. */
	if (LOAD(&w->hdr->index_active) != w->active)
		STORE_REL(&w->hdr->index_active, w->active);
	STORE_REL(&w->hdr->generation, LOAD(&w->hdr->generation) + 1);
	w->full = 0;
}

/* Publish a committed record under name, replacing what it had. */
static int
shm_writer_publish(struct shm_writer *w, struct shm_rec *rec,
    const char *name, size_t len, const struct shm_live *live,
    uint64_t deadline, const char **cause)
{
	struct shm	*shm = w->shm;
	struct shm_live	*was;
	uint64_t	 ref = shm_arena_ref(shm, rec), b, *where;

	b = shm_index_find(shm, w->active, rec->hash, name, len, &where);
	if (b != 0) {
		STORE_REL(where, SHM_BUCKET(rec->hash, ref));
		was = shm_index_live(w, w->active, where);
		shm_writer_unlink(w, shm_rec_at(shm, SHM_BUCKET_REF(b)), was);
		*was = *live;
	} else if (shm_index_insert(w, rec->hash, ref, live, deadline,
	    cause) == -1) {
		shm_writer_stalled(w);
		shm_epoch_retire(w, rec);
		return -1;
	}
	shm_writer_link(w, live);
	return 0;
}

int
shm_writer_put(struct shm_writer *w, const char *name, size_t len,
    const struct shm_node_in *nodes, size_t nnodes, const char *json,
    size_t json_len, const char **cause)
{
	struct shm_rec	*rec;
	struct shm_live	 live = { .kind = SHM_REC_SERVICE };
	uint64_t	 deadline, b, *where;
	size_t		 size, replaced = 0;

	if (shm_writer_check(name, len, nodes, nnodes, json, json_len,
	    cause) == -1)
		return -1;
	b = shm_index_find(w->shm, w->active, shm_hash(name, len), name, len,
	    &where);
	if (b == 0 && w->services >= w->layout->max_services) {
		*cause = "shm index full (max services)";
		shm_writer_full(w, *cause);
		return -1;
	}
	if (b != 0)
		replaced = shm_index_live(w, w->active, where)->size;
	size = shm_rec_service_size(len, nodes, nnodes, json_len);
	if (shm_writer_room(w, size, replaced, cause) == -1)
		return -1;
	live.size = (uint32_t)size;
	live.nnodes = (uint16_t)nnodes;
	deadline = util_now_ms() + SHM_WRITER_WAIT_MS;
	if ((rec = shm_arena_alloc(w, size, 2 * w->layout->max_record,
	    deadline, cause)) == NULL)
		return -1;
	shm_rec_service_fill(rec, size, name, len, nodes, nnodes, json,
	    json_len);
	shm_rec_seal(rec, ++w->seq);
	shm_arena_commit(w, size);
	if (shm_writer_publish(w, rec, name, len, &live, deadline,
	    cause) == -1)
		return -1;
	BUMP(&w->hdr->puts, 1);
	shm_writer_published(w);
	return 0;
}

int
shm_writer_delete(struct shm_writer *w, const char *name, size_t len)
{
	struct shm	*shm = w->shm;
	uint64_t	 b, *where;

	b = shm_index_find(shm, w->active, shm_hash(name, len), name, len,
	    &where);
	if (b == 0)
		return -1;
	STORE_REL(where, SHM_TOMBSTONE);
	shm_writer_unlink(w, shm_rec_at(shm, SHM_BUCKET_REF(b)),
	    shm_index_live(w, w->active, where));
	BUMP(&w->hdr->deletes, 1);
	shm_writer_published(w);
	return 0;
}

int
shm_writer_set_sync(struct shm_writer *w, const struct shm_sync *sync,
    const char **cause)
{
	struct shm_rec	*rec, *old;
	struct shm_live	 live = { .kind = SHM_REC_SYNC };
	size_t		 size = shm_rec_body_size(sizeof(*sync));

	if (shm_writer_room(w, size, w->sync_ref != 0 ? w->sync_live.size : 0,
	    cause) == -1)
		return -1;
	if ((rec = shm_arena_alloc(w, size, 2 * w->layout->max_record,
	    util_now_ms() + SHM_WRITER_WAIT_MS, cause)) == NULL)
		return -1;
	shm_rec_fill(rec, size, SHM_REC_SYNC, sync, sizeof(*sync));
	shm_rec_seal(rec, ++w->seq);
	shm_arena_commit(w, size);
	/* The cleaner may have moved the old one: its ref is taken now. */
	old = shm_rec_ptr(w->shm, w->sync_ref);
	w->sync_ref = shm_arena_ref(w->shm, rec);
	STORE_REL(&w->hdr->sync_ref, w->sync_ref);
	if (old != NULL)
		shm_writer_unlink(w, old, &w->sync_live);
	live.size = (uint32_t)size;
	w->sync_live = live;
	shm_writer_link(w, &live);
	return 0;
}
