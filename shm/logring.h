/*
 * The recent log lines of every process (doc/shm-layout.md, "Log
 * rings"), for the control socket's logs stream: HAProxy's "show events"
 * rings, one per shm slot.
 *
 * The master creates the segment before forking. A process binds to its
 * slot and is the only writer of that ring; a line is copied into the
 * next entry inside a per-entry sequence count, so writing never waits
 * and takes no lock. Readers (the master) copy entries and keep those
 * that did not change under them; a reader that fell a ring behind
 * learns how many lines it lost.
 */
#ifndef MICRO_SHM_LOGRING_H
#define MICRO_SHM_LOGRING_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define LOGRING_VERSION		1
/* Lines a ring keeps (a power of two). */
#define LOGRING_ENTRIES		128
/* Bytes of a line kept; a longer one is cut and ends with "…". */
#define LOGRING_TEXT_MAX	224

/* A line as a reader copied it. */
struct logring_line {
	unsigned	 slot;		/* its ring */
	uint64_t	 n;		/* its number in the ring, from 0 */
	uint64_t	 time_ms;	/* wall clock */
	int		 pid;
	unsigned	 role;		/* as bound */
	unsigned	 id;
	enum log_level	 level;
	size_t		 len;
	char		 text[LOGRING_TEXT_MAX + 1];	/* NUL-terminated */
};

typedef void	(*logring_fn)(const struct logring_line *, void *);

/* Master, before forking: a ring for each of nslots slots. */
int		 logring_create(unsigned nslots, const char **cause);

/*
 * The calling process writes the ring of slot from now on, its lines
 * labelled with role and id. Until then, in a child forked after
 * another process bound, and when the segment does not exist or slot is
 * out of range, logring_write does nothing.
 */
void		 logring_bind(unsigned slot, unsigned role, unsigned id);

/* One line (the log sink, lib/log.h): never blocks, never logs. */
void		 logring_write(enum log_level, const char *, size_t);

/* Rings in the segment (0 without one), and lines ever written to one. */
unsigned	 logring_nslots(void);
uint64_t	 logring_count(unsigned slot);

/*
 * The lines of slot's ring from number *next up to what it holds now,
 * oldest first: fn gets each one that reads whole. *next is left past
 * the last. Returns how many were lost: written over before they could
 * be read.
 */
uint64_t	 logring_read(unsigned slot, uint64_t *next, logring_fn,
		    void *);

#endif
