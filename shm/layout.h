/*
 * The segment as it is in memory: the versioned header, the slots, the
 * index buckets and the records. Every position is an offset from the
 * segment start, never a pointer. Drawn in doc/shm-layout.md; a change
 * here bumps SHM_LAYOUT_VERSION.
 *
 * Shared fields are accessed with __atomic builtins only; "writer" fields
 * have one writer (the registry worker), "master" fields the master,
 * "reader" fields the process owning the slot.
 */
#ifndef MICRO_SHM_LAYOUT_H
#define MICRO_SHM_LAYOUT_H

#include <stdint.h>

#include "counters.h"

#define SHM_MAGIC		"MICROSHM"
#define SHM_HEADER_SIZE		4096
#define SHM_SLOT_SIZE		128
#define SHM_REC_MAGIC		0x4345524dU	/* "MREC" */
#define SHM_REC_ALIGN		64
#define SHM_TOMBSTONE		UINT64_MAX

enum shm_rec_kind {
	SHM_REC_PAD = 1,	/* fills the arena end before a wrap */
	SHM_REC_SERVICE,
	SHM_REC_SYNC,
};

struct shm_hdr {
	/*
	 * Fixed at creation. header_size .. max_record are what shm_plan
	 * derives from size, nslots and max_services: shm_attach compares
	 * them as one block.
	 */
	char		 magic[8];
	uint32_t	 layout_version;
	uint32_t	 header_size;
	uint64_t	 size;
	uint32_t	 nslots;
	uint32_t	 slot_size;
	uint64_t	 slots_off;
	uint64_t	 index_off[2];
	uint64_t	 index_cap;	/* buckets per index, power of two */
	uint64_t	 arena_off;
	uint64_t	 arena_size;	/* multiple of SHM_REC_ALIGN */
	uint64_t	 max_services;
	uint64_t	 max_record;
	uint64_t	 created_ms;

	/* Writer. Read by anyone, one atomic load per field. */
	uint64_t	 generation __attribute__((aligned(64)));
	uint64_t	 epoch;		/* starts at 1; 0 in a slot = not reading */
	uint64_t	 index_active;	/* 0 or 1 */
	uint64_t	 index_retired;	/* epoch the inactive index was left at */
	uint64_t	 sync_ref;	/* record ref of the sync state, 0 none */
	uint64_t	 head;		/* arena, logical byte positions */
	uint64_t	 tail;
	int32_t		 writer_pid;
	uint32_t	 unused;
	uint64_t	 heartbeat_ms;
	uint64_t	 writer_starts;

	/* Writer statistics (struct shm_stats). */
	uint64_t	 services __attribute__((aligned(64)));
	uint64_t	 nodes;
	uint64_t	 puts;
	uint64_t	 deletes;
	uint64_t	 full_errors;
	uint64_t	 wait_errors;
	uint64_t	 rebuilds;
	uint64_t	 moved;
	uint64_t	 bytes_live;
	uint64_t	 stalls;
	uint64_t	 resets;
};

struct shm_slot {
	uint64_t	 epoch;		/* reader: epoch entered at, 0 outside */
	int32_t		 pid;		/* master from here on */
	uint32_t	 role;
	uint32_t	 id;
	uint32_t	 generation;
	uint32_t	 state;
	uint32_t	 restarts;
	uint64_t	 started_ms;
	struct micro_counters counters;	/* the worker */
	uint64_t	 beat_ms;	/* the worker: its loop's last turn */
};

/*
 * A record is immutable once published, except "retired", which only the
 * writer reads or writes. sum covers every byte from "size" to the end.
 * Body: nnodes struct shm_rec_node, then NUL-terminated strings (name,
 * node fields, JSON at json_off), zero padded to SHM_REC_ALIGN.
 */
struct shm_rec {
	uint64_t	 retired;	/* writer: epoch it was unpublished, 0 live */
	uint32_t	 magic;
	uint32_t	 sum;
	uint32_t	 size;
	uint16_t	 kind;
	uint16_t	 nnodes;
	uint32_t	 hash;
	uint32_t	 name_len;
	uint64_t	 seq;
	uint32_t	 json_off;	/* from the record start */
	uint32_t	 json_len;
};

struct shm_rec_node {
	uint32_t	 id_off;	/* from the record start */
	uint32_t	 address_off;
	uint32_t	 version_off;
	uint32_t	 flags;
};

_Static_assert(sizeof(struct shm_hdr) <= SHM_HEADER_SIZE, "header");
_Static_assert(sizeof(struct shm_slot) <= SHM_SLOT_SIZE, "slot");
_Static_assert(sizeof(struct shm_rec) == 48, "record header");
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0), "atomics");

#endif
