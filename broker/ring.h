/*
 * The broker's shared segment: how several processes (broker workers,
 * sidecar workers) behave as one broker without a lock on the fan-out
 * path. Layout, memory ordering and limits: doc/broker.md.
 *
 * Every attached process owns one ring, which it alone writes (single
 * writer), and reads every ring with cursors of its own (many readers).
 * A writer never waits for readers: it overwrites the oldest records and
 * a reader that was lapped skips what it missed (at-most-once). A reader
 * with nothing to read sleeps on an abstract unix datagram socket; a
 * writer wakes the sleepers with one byte each (an eventcount: the
 * "sleeping" flag is set before the final check, cleared by the waker).
 *
 * Queue groups: each process publishes, per (topic, queue), how many
 * members it holds; the publisher picks the member by a shared ticket and
 * writes the chosen process into the record, so exactly one process (and
 * there one member) delivers it.
 */
#ifndef MICRO_BROKER_RING_H
#define MICRO_BROKER_RING_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#define BRING_VERSION		5
#define BRING_MAX_RINGS		32	/* attached processes */
#define BRING_TOPICS		256	/* topics with queue groups */
#define BRING_GROUPS		8	/* queue groups per topic */
#define BRING_NAME_MAX		255	/* topic and queue names */
#define BRING_CTYPE_MAX		127

struct bring;
struct bring_group;

/* Where the publisher sent a queue group's copy. */
struct bring_target {
	uint64_t	 qhash;
	uint32_t	 ring;
	uint32_t	 pad;
};

/* A message; pointers are valid until the next bring_next(). */
struct bring_msg {
	const char			*topic;
	size_t				 topic_len;
	const char			*ctype;
	size_t				 ctype_len;
	const void			*body;
	size_t				 body_len;
	const struct bring_target	*targets;
	size_t				 ntargets;
};

/* Per-ring counters; bring_counter_names[] spells them for /stats. */
enum bring_counter {
	BRING_PUBLISHED,	/* messages appended */
	BRING_DELIVERED,	/* copies queued to subscribers */
	BRING_DROPPED,		/* slow subscribers disconnected */
	BRING_LOST,		/* messages a reader skipped: lapped, dead */
	BRING_UNROUTED,		/* queue copies whose member left, died */
	BRING_NCOUNTERS
};
extern const char *const bring_counter_names[BRING_NCOUNTERS];

/*
 * Master, before forking: map the segment (anonymous, shared, inherited
 * by every child) sized for messages up to max_message bytes. Once.
 */
int		 bring_create(size_t max_message, const char **cause);
/*
 * A process joins: claims a ring (taking over one whose owner died) and
 * binds its wake socket. NULL and *cause if no segment (errno ENOENT) or
 * no ring is left (EBUSY: for now, while a reload's old workers drain).
 */
struct bring	*bring_attach(const char **cause);
void		 bring_detach(struct bring *);
/*
 * Master: pid was reaped. Its ring, if it held one, is freed now, not
 * when the next process attaches: its queue group members stop drawing
 * copies that nobody would deliver (a worker waiting in respawn backoff).
 * Those it was chosen for and never read are counted unrouted, those
 * overwritten before it read them lost.
 */
void		 bring_reaped(pid_t);
int		 bring_wake_fd(const struct bring *);
unsigned	 bring_self(const struct bring *);

/* Append to our ring and wake the sleeping readers. */
int		 bring_publish(struct bring *, const char *, const char *,
		    const void *, size_t, const char **);
/* Next unread message from any ring: 1, or 0 when caught up. */
int		 bring_next(struct bring *, struct bring_msg *);
/*
 * Would publishing a body of len bytes overwrite what we have not read
 * of our own ring? Then bring_next_self() reads it first: a writer never
 * laps its own process (a burst of publishes in one loop turn).
 */
int		 bring_laps_self(const struct bring *, size_t);
int		 bring_next_self(struct bring *, struct bring_msg *);
/*
 * About to sleep: 0 if every ring is read (a writer will wake us), 1 if
 * something arrived meanwhile (read on).
 */
int		 bring_sleep(struct bring *);
/*
 * Empty the wake socket; only needed when it is readable. A byte left
 * there by a writer that raced with bring_sleep() costs one spurious
 * wake-up, nothing else.
 */
void		 bring_drain(struct bring *);

/*
 * Find or claim the queue group (topic, queue) and count one of our
 * members in; bring_group_count adds (or, negative, takes out) more.
 * The publisher spreads a group's messages by these counts. Once no
 * process counts a member, the group's slot is freed: a process whose
 * count went to 0 joins again with bring_group_join.
 */
struct bring_group *bring_group_join(struct bring *, const char *,
		    const char *, const char **);
void		 bring_group_count(struct bring *, struct bring_group *, int);
uint64_t	 bring_group_hash(const char *, const char *);
/* The hash both use (FNV-1a, never 0); handy for local tables. */
uint64_t	 bring_name_hash(const char *, size_t);
/* How many of msg's queue-group copies the ring must deliver. */
size_t		 bring_msg_targets_of(const struct bring_msg *, unsigned);
/* The ring that must deliver msg to the group qhash, or -1. */
int		 bring_msg_target(const struct bring_msg *, uint64_t);

/* Add to one of our ring's counters (we are their only writer). */
void		 bring_count(struct bring *, enum bring_counter, uint64_t);
/*
 * Sums over every ring, into BRING_NCOUNTERS values. Any process forked
 * after bring_create() may read them without attaching (the web's
 * /metrics); all zero when there is no segment.
 */
void		 bring_stats(uint64_t *);

#endif
