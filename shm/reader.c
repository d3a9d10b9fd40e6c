#include "config.h"

#include <string.h>

#include "shm/internal.h"

/*
 * Lock-free lookups: every function here is called between shm_read_begin
 * and shm_read_end, so the records it reaches are not reused under it.
 */
static void
shm_service_view(const struct shm_rec *rec, struct shm_service *sv)
{
	sv->rec = rec;
	sv->nnodes = rec->nnodes;
	sv->name = shm_rec_name(rec);
	sv->name_len = rec->name_len;
	sv->json = (const char *)rec + rec->json_off;
	sv->json_len = rec->json_len;
	sv->seq = rec->seq;
}

int
shm_lookup(struct shm *shm, const char *name, size_t len,
    struct shm_service *sv)
{
	uint64_t	 b;

	b = shm_index_find(shm, LOAD_ACQ(&shm->hdr->index_active),
	    shm_hash(name, len), name, len, NULL);
	if (b == 0)
		return -1;
	shm_service_view(shm_rec_at(shm, SHM_BUCKET_REF(b)), sv);
	return 0;
}

/*
 * A string of the record, or "" if its offset is outside it (stray
 * bytes). Its end is not searched for: that would read the lines of the
 * ids and versions on a lookup that wants an address only. Every string
 * the writer stores ends with a NUL inside the record.
 */
static const char *
shm_service_string(const struct shm_service *sv, uint32_t off)
{
	const struct shm_rec	*rec = sv->rec;

	return off < rec->size ? (const char *)rec + off : "";
}

void
shm_service_node(const struct shm_service *sv, size_t i, struct shm_node *n)
{
	const struct shm_rec_node	*rn = shm_rec_nodes(sv->rec) + i;

	n->id = shm_service_string(sv, rn->id_off);
	n->address = shm_service_string(sv, rn->address_off);
	n->version = shm_service_string(sv, rn->version_off);
	n->flags = rn->flags;
}

int
shm_service_check(const struct shm_service *sv)
{
	const struct shm_rec	*rec = sv->rec;

	if (rec->magic != SHM_REC_MAGIC || rec->kind != SHM_REC_SERVICE)
		return -1;
	return shm_rec_sum(rec) == rec->sum ? 0 : -1;
}

int
shm_foreach(struct shm *shm, int (*cb)(const struct shm_service *, void *),
    void *arg)
{
	struct shm_service	 sv;
	const struct shm_rec	*rec;
	uint64_t		*ix, i, b;
	int			 rc;

	ix = shm_index_at(shm, LOAD_ACQ(&shm->hdr->index_active));
	for (i = 0; i < shm->layout.index_cap; i++) {
		b = LOAD_ACQ(&ix[i]);
		if (b == 0 || b == SHM_TOMBSTONE)
			continue;
		rec = shm_rec_at(shm, SHM_BUCKET_REF(b));
		if (rec == NULL || !shm_rec_service_readable(rec))
			continue;
		shm_service_view(rec, &sv);
		if ((rc = cb(&sv, arg)) != 0)
			return rc;
	}
	return 0;
}

/* xorshift64*: a few cycles, no shared state. */
static uint64_t
shm_random(uint64_t *state)
{
	uint64_t	 x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 2685821657736338717ULL;
}

/* A random number below n, by multiply and shift: no division. */
static size_t
shm_random_below(uint64_t *state, size_t n)
{
	return (size_t)(((shm_random(state) >> 32) * (uint64_t)n) >> 32);
}

static int
shm_node_is(const struct shm_service *sv, size_t i, const char *version)
{
	struct shm_node	 n;

	shm_service_node(sv, i, &n);
	return strcmp(n.version, version) == 0;
}

ssize_t
shm_select_random(const struct shm_service *sv, const char *version,
    uint64_t *state)
{
	size_t	 i, match = 0, pick;

	if (sv->nnodes == 0)
		return -1;
	if (version == NULL)
		return (ssize_t)shm_random_below(state, sv->nnodes);
	for (i = 0; i < sv->nnodes; i++)
		match += shm_node_is(sv, i, version);
	if (match == 0)
		return -1;
	pick = shm_random_below(state, match);
	for (i = 0;; i++) {
		if (shm_node_is(sv, i, version) && pick-- == 0)
			return (ssize_t)i;
	}
}

void
shm_read_sync(struct shm *shm, struct shm_sync *sync)
{
	const struct shm_rec	*rec;

	rec = shm_rec_at(shm, LOAD_ACQ(&shm->hdr->sync_ref));
	if (rec == NULL || rec->kind != SHM_REC_SYNC ||
	    rec->size < shm_rec_body_size(sizeof(*sync))) {
		memset(sync, 0, sizeof(*sync));
		return;
	}
	memcpy(sync, rec + 1, sizeof(*sync));
	sync->backend[sizeof(sync->backend) - 1] = '\0';
	sync->error[sizeof(sync->error) - 1] = '\0';
}
