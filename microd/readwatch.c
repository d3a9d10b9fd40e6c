#include "config.h"

#include <sys/types.h>

#include <signal.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "microd/master.h"
#include "shm/shm.h"
#include "util.h"

/*
 * The read watchdog. A registry read lasts microseconds; a worker that
 * stays inside one (a hang, SIGSTOP, a debugger) keeps the writer from
 * reusing the memory it may still see, and once the writer needs that
 * memory every update is refused for as long as the worker stays. Once a
 * second the master samples each worker's slot. A slot that shows the same
 * epoch, older than the writer's, for READWATCH_STALL_MS while the writer
 * refused puts because a reader stalled, is one stuck read: the worker is
 * killed, and reaping it clears the slot and restarts it. A stuck read
 * that blocks nothing (no updates came) is left alone.
 */
#define READWATCH_TICK_MS	1000
#define READWATCH_STALL_MS	5000

struct readwatch_slot {
	pid_t		 pid;		/* the process the sample is of */
	uint64_t	 epoch;		/* its slot's epoch then, 0: not reading */
	uint64_t	 since_ms;	/* first seen in that read */
	uint64_t	 wait_errors;	/* the writer's refusals then */
	int		 killed;
};

static struct readwatch_slot	 readwatch_slots[MASTER_SLOTS];
static struct event		*readwatch_timer;

static int
readwatch_stuck(const struct readwatch_slot *rs, uint64_t now,
    uint64_t wait_errors)
{
	return !rs->killed && now - rs->since_ms >= READWATCH_STALL_MS &&
	    wait_errors > rs->wait_errors;
}

static void
readwatch_kill(struct proc *p, struct readwatch_slot *rs, uint64_t now)
{
	log_warnx("%s/%u (pid %ld) stayed in one registry read for %llu s "
	    "while registry updates were refused because of it: killing it",
	    config_role_name(p->role), p->id, (long)p->pid,
	    (unsigned long long)(now - rs->since_ms) / 1000);
	if (kill(p->pid, SIGKILL) == -1)
		log_warn("kill %ld", (long)p->pid);
	rs->killed = 1;
}

static void
readwatch_sample(struct proc *p, const struct shm_stats *st, uint64_t now)
{
	struct readwatch_slot	*rs = &readwatch_slots[p->slot];
	uint64_t		 e = shm_slot_read_epoch(master->shm, p->slot);

	if (e == 0 || e >= st->epoch || e != rs->epoch || p->pid != rs->pid) {
		rs->pid = p->pid;
		rs->epoch = e;
		rs->since_ms = now;
		rs->wait_errors = st->wait_errors;
		rs->killed = 0;
		return;
	}
	if (readwatch_stuck(rs, now, st->wait_errors))
		readwatch_kill(p, rs, now);
}

static void
readwatch_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct proc		*p;
	struct shm_stats	 st;
	uint64_t		 now = util_now_ms();

	shm_stats(master->shm, &st);
	TAILQ_FOREACH(p, &master->procs, entry) {
		if (p->pid != 0 && p->slot < MASTER_SLOTS)
			readwatch_sample(p, &st, now);
	}
}

void
readwatch_start(void)
{
	struct timeval	 tv = { READWATCH_TICK_MS / 1000, 0 };

	readwatch_timer = event_new(master->base, -1, EV_PERSIST,
	    readwatch_cb, NULL);
	if (readwatch_timer == NULL || event_add(readwatch_timer, &tv) == -1)
		fatalx("read watchdog timer");
}

void
readwatch_stop(void)
{
	if (readwatch_timer != NULL)
		event_free(readwatch_timer);
	readwatch_timer = NULL;
}
