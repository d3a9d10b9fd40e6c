#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <time.h>

#include "shm/internal.h"
#include "util.h"

/*
 * Epoch-based reclamation across processes. A reader publishes the global
 * epoch in its slot, then (after a full fence) follows index references; the
 * writer unpublishes a record, stamps it with the epoch, and frees it once
 * every slot in a read shows a later epoch. The argument is written out in
 * doc/shm-layout.md.
 */
void
shm_read_begin(struct shm *shm, unsigned slot)
{
	struct shm_slot	*s = shm_slot_at(shm, slot);
	uint64_t	 e;

	/* 0 in the header is stray bytes: 1, the lowest, holds back all. */
	e = __atomic_load_n(&shm->hdr->epoch, __ATOMIC_SEQ_CST);
	STORE_REL(&s->epoch, e + (e == 0));
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	shm->reading = s;
}

void
shm_read_end(struct shm *shm)
{
	STORE_REL(&shm->reading->epoch, 0);
	shm->reading = NULL;
}

/*
 * Called after the record's last reference was replaced: stamped with the
 * writer's own epoch, which stray bytes in the header's cannot move back.
 */
void
shm_epoch_retire(struct shm_writer *w, struct shm_rec *rec)
{
	rec->retired = w->epoch;
}

/* A slot stuck in a read whose process died before the master reaped it. */
int
shm_pid_dead(pid_t pid)
{
	return pid > 0 && kill(pid, 0) == -1 && errno == ESRCH;
}

/*
 * Past this an epoch could wrap to 0 ("not reading"): stray bytes, since
 * one advance a microsecond would take 290 000 years to get here.
 */
#define SHM_EPOCH_MAX	(UINT64_MAX / 2)

static void
shm_epoch_raise(struct shm_writer *w, uint64_t e)
{
	if (e > w->epoch && e <= SHM_EPOCH_MAX)
		w->epoch = e;
}

/*
 * The epoch a writer starts from: the header's, or the highest a reader in
 * a read shows if that is higher, so that what the walk at open retires is
 * held back for every reader already in. A reader at a value past
 * SHM_EPOCH_MAX is held back for as long as its read lasts
 * (shm_epoch_scan).
 */
void
shm_epoch_open(struct shm_writer *w)
{
	unsigned	 i;

	w->epoch = 1;
	shm_epoch_raise(w, LOAD(&w->hdr->epoch));
	for (i = 0; i < w->layout->nslots; i++)
		shm_epoch_raise(w, LOAD_ACQ(&shm_slot_at(w->shm, i)->epoch));
	__atomic_store_n(&w->hdr->epoch, w->epoch, __ATOMIC_SEQ_CST);
}

/*
 * Find the oldest epoch still in a read: records retired before it are
 * safe to reuse. The epoch is advanced first if readers could still enter
 * at the retired one; a scan while waiting does not advance it again, so
 * readers' copy of the epoch stays cached. The fence pairs with the one in
 * shm_read_begin (store slot, fence, load index). The writer advances its
 * own epoch and publishes it, again if stray bytes changed the header's:
 * a reader at one it never published entered at those bytes, and may hold
 * anything.
 */
static void
shm_epoch_scan(struct shm_writer *w, uint64_t retired)
{
	struct shm_slot	*s;
	uint64_t	 min, e;
	unsigned	 i;

	if (w->epoch <= retired)
		w->epoch++;
	if (LOAD(&w->hdr->epoch) != w->epoch)
		__atomic_store_n(&w->hdr->epoch, w->epoch, __ATOMIC_SEQ_CST);
	min = w->epoch;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (i = 0; i < w->layout->nslots; i++) {
		s = shm_slot_at(w->shm, i);
		e = LOAD_ACQ(&s->epoch);
		if (e == 0 || (e >= min && e <= w->epoch))
			continue;
		if (shm_pid_dead(LOAD(&s->pid)))
			continue;
		min = e < min ? e : 0;
		w->stalled_slot = i;
	}
	w->safe = min;
}

int
shm_epoch_safe(struct shm_writer *w, uint64_t retired)
{
	if (retired < w->safe)
		return 1;
	shm_epoch_scan(w, retired);
	return retired < w->safe;
}

/*
 * The read that made the last wait time out is still the oldest one: a
 * reader stopped or hung inside it. Failing at once spares every put of a
 * batch (an expiry pass, a retry) the whole wait.
 */
static int
shm_epoch_still_stalled(struct shm_writer *w)
{
	return w->stall_epoch != 0 && LOAD(&shm_slot_at(w->shm,
	    w->stalled_slot)->epoch) == w->stall_epoch;
}

/*
 * Wait until a record retired at the given epoch is free, up to deadline
 * (CLOCK_MONOTONIC ms). A reader is in a read for a lookup and a copy, so
 * one that is still there after a few yields has been descheduled: sleep,
 * backing off, rather than take the CPU it needs to leave.
 */
int
shm_epoch_wait(struct shm_writer *w, uint64_t retired, uint64_t deadline)
{
	struct timespec	 ts = { 0, 20 * 1000 };
	unsigned	 tries = 0;

	w->stall_fresh = 0;
	while (!shm_epoch_safe(w, retired)) {
		if (shm_epoch_still_stalled(w))
			return -1;
		if (util_now_ms() >= deadline) {
			w->stall_epoch = LOAD(&shm_slot_at(w->shm,
			    w->stalled_slot)->epoch);
			w->stall_fresh = 1;
			return -1;
		}
		if (++tries < 4)
			sched_yield();
		else {
			nanosleep(&ts, NULL);
			if (ts.tv_nsec < 1000 * 1000)
				ts.tv_nsec *= 2;
		}
	}
	w->stall_epoch = 0;
	return 0;
}
