#include "config.h"

#include <sys/types.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "microd/master.h"
#include "procstat.h"
#include "shm/shm.h"
#include "util.h"

/*
 * The worker watchdog. A worker's event loop stores a beat in its shm slot
 * once a second (workers/worker.c). Once a second the master samples the
 * workers' beats, and kills (SIGKILL) a worker whose beat stayed the same
 * for WATCHDOG_HANG_TICKS samples: its loop is stuck (an endless loop, a
 * blocking call, SIGSTOP), so the connections it accepted wait for
 * nothing, and if it stopped inside a registry read, the registry writer
 * cannot reuse the memory that read may see and refuses the updates that
 * need it. Reaping the worker clears its slot, which releases the read,
 * and respawns it, as after any crash.
 *
 * Samples are counted, not timed: when the master itself was held up (a
 * paused VM, an overloaded host) the counts start over, so the workers get
 * their turn to beat first. A worker under a debugger (TracerPid) is not
 * killed while traced; that is logged once, and its count starts over, so
 * one the debugger leaves stuck (detached, still stopped) is killed after
 * a full count more.
 *
 * The registry worker is the shm writer, and one callback of its may
 * legitimately run longer than the count: an expiry pass or a backend
 * listing over tens of thousands of services commits and publishes them
 * one by one without returning to the loop. Every publish bumps the
 * segment's generation, so while it moves the writer is working, not
 * stuck: it counts as a beat.
 *
 * A worker that is starting has no loop to beat yet, and one that stops
 * (or blocks for good) before it says "ready" leaves its role down, a
 * reload unfinished and systemd without READY=1: it is killed
 * WATCHDOG_START_TICKS samples after its fork. The roles' inits mostly
 * set up, in milliseconds, but may wait on the network: a broker worker's
 * NATS plugin connects before it is ready, 2 s for each listed server
 * that accepts and never answers. The registry worker loads the database
 * into shm first: tens of thousands of services take seconds of sqlite
 * reads before the first publish, longer on a busy host. So while it
 * starts, its CPU time counts as its beat: a load uses CPU, a stopped or
 * blocked process does not. (One spinning in its load is taken for
 * loading: the price of never killing a load that is merely long, which
 * would start over and be killed again.)
 */
#define WATCHDOG_TICK_MS	1000
#define WATCHDOG_LATE_MS	(3 * WATCHDOG_TICK_MS)	/* the master was held */
#define WATCHDOG_HANG_TICKS	10
#define WATCHDOG_START_TICKS	30

struct watchdog_slot {
	pid_t		 pid;		/* the process the samples are of */
	uint64_t	 beat_ms;	/* its beat then */
	uint64_t	 progress;	/* registry: its work then */
	unsigned	 ticks;		/* samples with neither moving */
	int		 acted;		/* killed */
	int		 said_traced;	/* logged that a tracer spares it */
};

static struct watchdog_slot	 watchdog_slots[MASTER_SLOTS];
static struct event		*watchdog_timer;
static uint64_t			 watchdog_last_ms;

/* TracerPid in /proc/pid/status: 0 when nothing traces it. */
static int
watchdog_traced(pid_t pid)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 tracer = 0;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "TracerPid: %ld", &tracer) == 1)
			break;
	}
	fclose(f);
	return tracer != 0;
}

/* Its CPU time in ms; 0 if unreadable. */
static uint64_t
watchdog_cpu_ms(pid_t pid)
{
	int64_t	 cpu_ms, rss;

	return procstat_read(pid, &cpu_ms, &rss) == -1 ? 0 : (uint64_t)cpu_ms;
}

/* The log line's words for what is wrong with the worker. */
static void
watchdog_fault(const struct proc *p, char *buf, size_t len)
{
	const char	*role = config_role_name(p->role);
	uint64_t	 secs = (util_now_ms() - p->started_ms) / 1000;

	if (p->state == PROC_STARTING)
		snprintf(buf, len, "%s/%u: pid %ld not ready after %llu s",
		    role, p->id, (long)p->pid, (unsigned long long)secs);
	else
		snprintf(buf, len, "%s/%u (pid %ld) stopped turning its event "
		    "loop", role, p->id, (long)p->pid);
}

/* Samples without a beat before p is killed. */
static unsigned
watchdog_limit(const struct proc *p)
{
	/* A starting registry worker's CPU time is its beat: as running. */
	return p->state == PROC_STARTING && p->role != ROLE_REGISTRY ?
	    WATCHDOG_START_TICKS : WATCHDOG_HANG_TICKS;
}

static void
watchdog_kill(struct proc *p, struct watchdog_slot *ws)
{
	char	 fault[128];

	watchdog_fault(p, fault, sizeof(fault));
	if (watchdog_traced(p->pid)) {
		if (!ws->said_traced)
			log_warnx("%s, but it is being traced: left alone",
			    fault);
		ws->said_traced = 1;
		ws->ticks = 0;
		return;
	}
	ws->acted = 1;
	log_warnx("%s%s killing it", fault,
	    p->state == PROC_STARTING ? "," : ":");
	if (kill(p->pid, SIGKILL) == -1)
		log_warn("kill %ld", (long)p->pid);
}

/*
 * The registry worker's CPU time while it loads, then its publishes:
 * moving while its loop is in one long callback. Refused puts do not
 * count: a writer retrying them for ever would look alive. 0 for the
 * other workers.
 */
static uint64_t
watchdog_progress(const struct proc *p)
{
	struct shm_stats	 st;

	if (p->role != ROLE_REGISTRY)
		return 0;
	if (p->state == PROC_STARTING)
		return watchdog_cpu_ms(p->pid);
	shm_stats(master->shm, &st);
	if (st.writer_pid != p->pid)
		return 0;
	return st.generation;
}

static void
watchdog_sample(struct proc *p)
{
	struct watchdog_slot	*ws = &watchdog_slots[p->slot];
	uint64_t		 beat = shm_slot_beat_ms(master->shm, p->slot);
	uint64_t		 progress = watchdog_progress(p);

	/* A starting worker's beat is 0: its count runs from the fork. */
	if (ws->pid != p->pid || beat != ws->beat_ms ||
	    progress != ws->progress) {
		memset(ws, 0, sizeof(*ws));
		ws->pid = p->pid;
		ws->beat_ms = beat;
		ws->progress = progress;
		return;
	}
	if (++ws->ticks >= watchdog_limit(p) && !ws->acted)
		watchdog_kill(p, ws);
}

static void
watchdog_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct proc	*p;
	uint64_t	 now = util_now_ms(), last = watchdog_last_ms;

	watchdog_last_ms = now;
	if (now - last > WATCHDOG_LATE_MS) {
		memset(watchdog_slots, 0, sizeof(watchdog_slots));
		return;
	}
	TAILQ_FOREACH(p, &master->procs, entry) {
		if ((p->state == PROC_STARTING || p->state == PROC_RUNNING) &&
		    p->slot < MASTER_SLOTS)
			watchdog_sample(p);
	}
}

void
watchdog_start(void)
{
	struct timeval	 tv = { WATCHDOG_TICK_MS / 1000, 0 };

	watchdog_last_ms = util_now_ms();
	watchdog_timer = event_new(master->base, -1, EV_PERSIST, watchdog_cb,
	    NULL);
	if (watchdog_timer == NULL || event_add(watchdog_timer, &tv) == -1)
		fatalx("watchdog timer");
}

void
watchdog_stop(void)
{
	if (watchdog_timer != NULL)
		event_free(watchdog_timer);
	watchdog_timer = NULL;
}
