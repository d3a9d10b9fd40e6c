/*
 * The shared-memory segment: a versioned header, a table of per-process
 * slots and the registry (see registry.h). Layout and the memory-ordering
 * argument: doc/shm-layout.md.
 *
 * The master creates the segment before forking (shm_create); workers use
 * the inherited mapping. The segment is a sealed memfd, so it cannot be
 * resized under a reader (no SIGBUS) and its fd can be handed to a
 * re-executed binary or a tool, which maps it with shm_attach.
 */
#ifndef MICRO_SHM_H
#define MICRO_SHM_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

struct micro_counters;
struct shm;

#define SHM_LAYOUT_VERSION	3
#define SHM_SLOTS_DEFAULT	128
#define SHM_SYNC_NAME_MAX	32
#define SHM_SYNC_ERROR_MAX	192

enum shm_slot_state {
	SHM_SLOT_FREE = 0,
	SHM_SLOT_STARTING,
	SHM_SLOT_READY,
	SHM_SLOT_DRAINING,
	SHM_SLOT_EXITED,
};

/* What the master writes into a slot; read back with shm_slot_info. */
struct shm_slot_info {
	pid_t		 pid;		/* 0 until set after fork */
	unsigned	 role;		/* enum role_id */
	unsigned	 id;		/* index within the role */
	unsigned	 generation;	/* config generation */
	enum shm_slot_state state;
	unsigned	 restarts;
	uint64_t	 started_ms;	/* wall clock */
};

/* Registry and arena figures, all readable without entering a read. */
struct shm_stats {
	uint64_t	 generation;	/* bumped on every publish */
	uint64_t	 epoch;
	uint64_t	 services;
	uint64_t	 nodes;
	uint64_t	 puts;
	uint64_t	 deletes;
	uint64_t	 full_errors;	/* puts refused: segment full */
	uint64_t	 wait_errors;	/* puts refused: a reader stalled */
	uint64_t	 stalls;	/* reads that made a put time out */
	uint64_t	 rebuilds;	/* index rebuilds */
	uint64_t	 moved;		/* live records copied by the cleaner */
	uint64_t	 arena_size;
	uint64_t	 bytes_used;	/* between tail and head, dead included */
	uint64_t	 bytes_live;
	uint64_t	 max_services;
	uint64_t	 max_record;	/* largest record a put accepts */
	pid_t		 writer_pid;	/* 0: no writer yet */
	uint64_t	 writer_heartbeat_ms;	/* wall clock */
	uint64_t	 writer_starts;	/* writer opens, restarts included */
	uint64_t	 resets;	/* corrupt caches emptied by a writer */
};

/* Backend sync state, set by the writer (registry worker). */
struct shm_sync {
	char		 backend[SHM_SYNC_NAME_MAX];	/* local|etcd|consul */
	int		 connected;
	uint64_t	 revision;	/* backend revision / index */
	uint64_t	 lag_ms;	/* backend event -> published */
	uint64_t	 updated_ms;	/* wall clock of this state */
	char		 error[SHM_SYNC_ERROR_MAX];	/* last error, "" if none */
};

/*
 * Create (master, before fork) a segment of size bytes with nslots slots
 * and room in the index for max_services names. Returns NULL and sets
 * *cause when the figures do not fit or the system refuses.
 */
struct shm	*shm_create(size_t size, unsigned nslots, size_t max_services,
		    const char **cause);
/* Map an existing segment from its fd; checks magic, version and size. */
struct shm	*shm_attach(int fd, const char **cause);
/* Unmap and close. The segment lives while any process maps it. */
void		 shm_destroy(struct shm *);
int		 shm_fd(const struct shm *);
size_t		 shm_size(const struct shm *);
unsigned	 shm_nslots(const struct shm *);

uint64_t	 shm_generation(const struct shm *);
void		 shm_stats(const struct shm *, struct shm_stats *);
/*
 * Whether the segment was full as of the stats: its index holds
 * max_services names, or its arena would refuse a new record of
 * max_record bytes (a smaller one may still fit).
 */
int		 shm_stats_full(const struct shm_stats *);

/*
 * Slots (master). Claim one before fork so the child knows its index, set
 * the pid after fork, clear it when the process is reaped: clearing is what
 * releases a dead reader's epoch. Returns the slot index or -1 (all taken).
 */
int		 shm_slot_claim(struct shm *, const struct shm_slot_info *,
		    const char **cause);
void		 shm_slot_set_pid(struct shm *, unsigned, pid_t);
void		 shm_slot_set_state(struct shm *, unsigned, enum shm_slot_state);
/* A worker carried over a reload into generation gen (the registry's). */
void		 shm_slot_set_generation(struct shm *, unsigned, unsigned gen);
void		 shm_slot_clear(struct shm *, unsigned);
/* Fields are read one by one: a snapshot may mix two updates. */
void		 shm_slot_info(const struct shm *, unsigned,
		    struct shm_slot_info *);
/*
 * The worker's beat: its event loop stores the monotonic time once a
 * second; 0 until the first. The master's watchdog reads it.
 */
void		 shm_slot_beat(struct shm *, unsigned, uint64_t now_ms);
uint64_t	 shm_slot_beat_ms(const struct shm *, unsigned);
/* The worker's own counters (it is their only writer, lib/counters.h). */
struct micro_counters *shm_slot_counters(struct shm *, unsigned);

/*
 * Reads. A process enters with its own slot, looks up, copies what it
 * needs, and leaves. No lock, no waiting: entering is two stores and a
 * fence. Pointers obtained inside are valid until shm_read_end. Reads do
 * not nest; one reading thread per slot.
 */
void		 shm_read_begin(struct shm *, unsigned slot);
void		 shm_read_end(struct shm *);

/* Copy the backend sync state; only between read_begin and read_end. */
void		 shm_read_sync(struct shm *, struct shm_sync *);

#endif
