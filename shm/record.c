#include "config.h"

#include <string.h>

#include "shm/internal.h"

/*
 * Eight bytes per multiply: this runs on every lookup, and a byte-wise
 * hash costs more than the probe for typical 20-40 byte service names.
 * Stable across processes and binaries (no seed): it is part of the
 * layout.
 */
uint32_t
shm_hash(const char *s, size_t len)
{
	uint64_t	 h = 0x9e3779b97f4a7c15ULL ^ len, w;
	size_t		 i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	if (i < len) {
		w = 0;
		memcpy(&w, s + i, len - i);
		h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	}
	h ^= h >> 29;
	h *= 0xff51afd7ed558ccdULL;
	return (uint32_t)(h ^ h >> 32);
}

/* Over 64-bit words: records are SHM_REC_ALIGN-sized and zero padded. */
uint32_t
shm_rec_sum(const struct shm_rec *rec)
{
	const unsigned char	*p = (const unsigned char *)rec;
	uint64_t		 h = 14695981039346656037ULL, word;
	size_t			 off;

	for (off = offsetof(struct shm_rec, size); off + 8 <= rec->size;
	    off += 8) {
		memcpy(&word, p + off, sizeof(word));
		h = (h ^ word) * 1099511628211ULL;
		h ^= h >> 29;
	}
	return (uint32_t)(h ^ h >> 32);
}

static size_t
shm_rec_round(size_t n)
{
	return (n + SHM_REC_ALIGN - 1) & ~(size_t)(SHM_REC_ALIGN - 1);
}

size_t
shm_rec_service_size(size_t name_len, const struct shm_node_in *nodes,
    size_t nnodes, size_t json_len)
{
	size_t	 n, i;

	n = shm_rec_nodes_off(name_len) + nnodes * sizeof(struct shm_rec_node) +
	    json_len + 1;
	for (i = 0; i < nnodes; i++) {
		n += strlen(nodes[i].id) + 1 + strlen(nodes[i].address) + 1 +
		    strlen(nodes[i].version) + 1;
	}
	return shm_rec_round(n);
}

static uint32_t
shm_rec_put(struct shm_rec *rec, size_t *off, const char *s, size_t len)
{
	uint32_t	 at = (uint32_t)*off;

	memcpy((char *)rec + at, s, len);
	((char *)rec)[at + len] = '\0';
	*off += len + 1;
	return at;
}

/* A pad is never read past its header: do not clear it all. */
static void
shm_rec_head(struct shm_rec *rec, size_t size, enum shm_rec_kind kind)
{
	memset(rec, 0, kind == SHM_REC_PAD ? sizeof(*rec) : size);
	rec->magic = SHM_REC_MAGIC;
	rec->size = (uint32_t)size;
	rec->kind = kind;
}

/* size comes from shm_rec_service_size with the same arguments. */
void
shm_rec_service_fill(struct shm_rec *rec, size_t size, const char *name,
    size_t name_len, const struct shm_node_in *nodes, size_t nnodes,
    const char *json, size_t json_len)
{
	struct shm_rec_node	*rn;
	size_t			 off, i;

	shm_rec_head(rec, size, SHM_REC_SERVICE);
	rec->nnodes = (uint16_t)nnodes;
	rec->hash = shm_hash(name, name_len);
	rec->name_len = (uint32_t)name_len;
	off = sizeof(*rec);
	shm_rec_put(rec, &off, name, name_len);
	rn = (struct shm_rec_node *)((char *)rec + shm_rec_nodes_off(name_len));
	off = shm_rec_nodes_off(name_len) + nnodes * sizeof(*rn);
	for (i = 0; i < nnodes; i++) {
		rn[i].address_off = shm_rec_put(rec, &off, nodes[i].address,
		    strlen(nodes[i].address));
		rn[i].flags = nodes[i].flags;
	}
	for (i = 0; i < nnodes; i++) {
		rn[i].id_off = shm_rec_put(rec, &off, nodes[i].id,
		    strlen(nodes[i].id));
		rn[i].version_off = shm_rec_put(rec, &off, nodes[i].version,
		    strlen(nodes[i].version));
	}
	rec->json_len = (uint32_t)json_len;
	rec->json_off = shm_rec_put(rec, &off, json, json_len);
}

/* A record carrying an opaque body (the sync state, a pad). */
void
shm_rec_fill(struct shm_rec *rec, size_t size, enum shm_rec_kind kind,
    const void *body, size_t len)
{
	shm_rec_head(rec, size, kind);
	if (len != 0)
		memcpy(rec + 1, body, len);
}

size_t
shm_rec_body_size(size_t len)
{
	return shm_rec_round(sizeof(struct shm_rec) + len);
}

/* Last step before the record is committed: nothing changes it after. */
void
shm_rec_seal(struct shm_rec *rec, uint64_t seq)
{
	rec->seq = seq;
	rec->sum = shm_rec_sum(rec);
}

/* rec is in the arena (shm_rec_at): so is the name compared. */
int
shm_rec_is(const struct shm_rec *rec, const char *name, size_t len)
{
	return rec->name_len == len && sizeof(*rec) + len < rec->size &&
	    memcmp(shm_rec_name(rec), name, len) == 0;
}

/*
 * Whether a service record reached through shared memory may be handed to
 * a reader: its name ends where it says, its node table and JSON lie
 * inside it. Only the header's lines are read (the lookup's hot path);
 * node strings are bounded where they are read (shm_service_node).
 */
int
shm_rec_service_readable(const struct shm_rec *rec)
{
	uint64_t	 table_end;

	if (rec->magic != SHM_REC_MAGIC || rec->kind != SHM_REC_SERVICE ||
	    shm_rec_name(rec)[rec->name_len] != '\0')
		return 0;
	table_end = shm_rec_nodes_off(rec->name_len) +
	    (uint64_t)rec->nnodes * sizeof(struct shm_rec_node);
	return table_end <= rec->json_off &&
	    (uint64_t)rec->json_off + rec->json_len < rec->size;
}
