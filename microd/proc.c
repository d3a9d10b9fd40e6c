/*
 * The process table: spawning workers, reaping them, respawning with
 * backoff, draining a generation. Signal handlers only wake the loop
 * (libevent signal events); everything here runs in the master's loop.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker/ring.h"
#include "log.h"
#include "microd/master.h"
#include "microd/notify.h"
#include "shm/registry.h"
#include "shm/shm.h"
#include "util.h"
#include "workers/worker.h"

static const char *proc_state_names[] = {
	[PROC_STARTING] = "starting",
	[PROC_RUNNING] = "running",
	[PROC_DRAINING] = "draining",
	[PROC_BACKOFF] = "backoff",
	[PROC_WAITING] = "waiting",
	[PROC_STOPPED] = "stopped",
};

/*
 * At start the segment is empty until the registry worker has loaded the
 * database: the other workers wait for that (their listeners queue
 * connections meanwhile), but not longer than this, so a registry worker
 * that cannot start does not keep the gateway down.
 */
#define PROC_LOAD_WAIT_MS	10000

static void	proc_spawn(struct proc *);
static void	proc_schedule(struct proc *, uint64_t);
static void	proc_drain(struct proc *);
static void	proc_hand_over(struct proc *);
static int	proc_registry_busy(void);

static struct event	*proc_load_timer;

const char *
proc_state_name(const struct proc *p)
{
	if (p->state == PROC_BACKOFF && backoff_crashlooping(&p->backoff))
		return "crashloop";
	return proc_state_names[p->state];
}

static void
proc_name(const struct proc *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%u", config_role_name(p->role), p->id);
}

static struct proc *
proc_new(enum role_id role, unsigned id)
{
	struct proc	*p = xcalloc(1, sizeof(*p));

	p->role = role;
	p->id = id;
	p->generation = master->generation;
	TAILQ_INSERT_TAIL(&master->procs, p, entry);
	return p;
}

static void
proc_free(struct proc *p)
{
	TAILQ_REMOVE(&master->procs, p, entry);
	if (p->respawn != NULL)
		event_free(p->respawn);
	if (p->kill_timer != NULL)
		event_free(p->kill_timer);
	chan_close(p);
	free(p->conf);
	free(p);
}

struct proc *
proc_registry(void)
{
	struct proc	*p;

	TAILQ_FOREACH(p, &master->procs, entry) {
		if (p->role == ROLE_REGISTRY && p->state == PROC_RUNNING)
			return p;
	}
	return NULL;
}

/* Runs in the child: it never returns. */
static void
proc_child(struct proc *p, int chan_fd, pid_t master_pid)
{
	struct worker_spec	 spec;

	memset(&spec, 0, sizeof(spec));
	spec.role = p->role;
	spec.id = p->id;
	spec.generation = p->generation;
	spec.slot_index = p->slot;
	spec.listen_fd = master->listeners[p->role].fd;
	spec.chan_fd = chan_fd;
	spec.state_fd = master->state_fd;
	spec.conf = master->conf;
	spec.shm = master->shm;
	spec.master_pid = master_pid;
	spec.master_base = master->base;
	worker_main(&spec);
}

/* The slot carries the reader epoch and the counters of one process. */
static int
proc_claim_slot(struct proc *p)
{
	struct shm_slot_info	 info;
	const char		*cause;
	int			 slot;

	memset(&info, 0, sizeof(info));
	info.role = p->role;
	info.id = p->id;
	info.generation = p->generation;
	info.state = SHM_SLOT_STARTING;
	info.restarts = p->restarts;
	info.started_ms = util_wall_ms();
	if ((slot = shm_slot_claim(master->shm, &info, &cause)) == -1)
		return -1;
	p->slot = slot;
	return 0;
}

/* The wait before the next start, a crash loop reported as such. */
static uint64_t
proc_backoff(struct proc *p, uint64_t lived_ms)
{
	uint64_t	 delay = backoff_next(&p->backoff, lived_ms);
	char		 name[64];

	if (backoff_crashlooping(&p->backoff)) {
		proc_name(p, name, sizeof(name));
		log_warnx("%s: crash loop (%u quick failures in a row), next "
		    "start in %llu ms", name, p->backoff.failures,
		    (unsigned long long)delay);
	}
	return delay;
}

/*
 * A start that failed for want of a resource (shm slot, descriptors,
 * processes) is retried with the backoff of a quick exit: soon after the
 * shortage passes, never spun, and reported as a crash loop if it lasts.
 */
static void
proc_retry_later(struct proc *p)
{
	uint64_t	 delay = proc_backoff(p, 0);

	proc_schedule(p, delay > BACKOFF_BASE_MS ? delay : BACKOFF_BASE_MS);
}

/* Fork the worker; the master keeps *chan_fd, its end of the channel. */
static pid_t
proc_fork(struct proc *p, const char *name, int *chan_fd)
{
	sigset_t	 all, old;
	int		 sv[2];
	pid_t		 pid, self = getpid();

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("%s: socketpair", name);
		return -1;
	}
	/* No signal may run a master handler in the child before it resets. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == 0) {
		close(sv[0]);
		proc_child(p, sv[1], self);
		/* NOTREACHED */
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1) {
		log_warn("%s: fork", name);
		close(sv[0]);
	} else
		*chan_fd = sv[0];
	close(sv[1]);
	return pid;
}

static void
proc_spawn(struct proc *p)
{
	int		 chan_fd;
	pid_t		 pid;
	char		 name[64];

	proc_name(p, name, sizeof(name));
	if (proc_claim_slot(p) == -1) {
		log_warnx("%s: no free shm slot", name);
		proc_retry_later(p);
		return;
	}
	if ((pid = proc_fork(p, name, &chan_fd)) == -1) {
		shm_slot_clear(master->shm, p->slot);
		proc_retry_later(p);
		return;
	}
	if (p->role == ROLE_REGISTRY) {
		if (p->conf == NULL)
			p->conf = xmalloc(sizeof(*p->conf));
		*p->conf = *master->conf;
	}
	p->pid = pid;
	p->state = PROC_STARTING;
	p->started_ms = util_now_ms();
	p->started_wall_ms = util_wall_ms();
	p->restart_asked = 0;
	chan_open(p, chan_fd);
	shm_slot_set_pid(master->shm, p->slot, pid);
	log_debug("%s: started pid %d (generation %u)", name, (int)pid,
	    p->generation);
}

static void
proc_respawn_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct proc	*p = arg;

	if (master->stopping || p->state != PROC_BACKOFF)
		return;
	if (p->generation != master->generation) {
		proc_free(p);		/* superseded: see proc_exited() */
		return;
	}
	if (p->role == ROLE_REGISTRY && proc_registry_busy())
		p->state = PROC_WAITING;	/* never two writers */
	else
		proc_spawn(p);
}

static void
proc_schedule(struct proc *p, uint64_t delay_ms)
{
	struct timeval	 tv = util_timeval(delay_ms);

	p->state = PROC_BACKOFF;
	if (p->respawn == NULL)
		p->respawn = evtimer_new(master->base, proc_respawn_cb, p);
	evtimer_add(p->respawn, &tv);
}

/* The registry worker is the single shm writer: never two at once. */
static int
proc_registry_busy(void)
{
	struct proc	*p;

	TAILQ_FOREACH(p, &master->procs, entry) {
		if (p->role == ROLE_REGISTRY && p->pid != 0)
			return 1;
	}
	return 0;
}

static void
proc_start_waiting(void)
{
	struct proc	*p;

	if (proc_registry_busy())
		return;
	TAILQ_FOREACH(p, &master->procs, entry) {
		if (p->role == ROLE_REGISTRY && p->state == PROC_WAITING) {
			proc_spawn(p);
			return;
		}
	}
}

/* The registry is loaded (or will not be soon): start everyone else. */
static void
proc_release_readers(void)
{
	struct proc	*p;

	if (proc_load_timer != NULL)
		evtimer_del(proc_load_timer);
	TAILQ_FOREACH(p, &master->procs, entry) {
		if (p->role != ROLE_REGISTRY && p->state == PROC_WAITING)
			proc_spawn(p);
	}
}

static void
proc_load_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	if (master->stopping)
		return;
	log_warnx("registry worker not ready after %d ms: starting the other "
	    "workers with what shm holds", PROC_LOAD_WAIT_MS);
	proc_release_readers();
}

/* The first load is not over: readers started now would find shm empty. */
static int
proc_loading(void)
{
	return proc_load_timer != NULL &&
	    evtimer_pending(proc_load_timer, NULL);
}

/*
 * Hold the workers that read shm until the registry worker is ready, or
 * PROC_LOAD_WAIT_MS after the first generation started.
 */
static void
proc_hold_readers(void)
{
	struct timeval	 tv = { PROC_LOAD_WAIT_MS / 1000,
			    (PROC_LOAD_WAIT_MS % 1000) * 1000 };

	if (proc_loading())
		return;
	if (proc_load_timer == NULL)
		proc_load_timer = evtimer_new(master->base,
		    proc_load_timeout_cb, NULL);
	evtimer_add(proc_load_timer, &tv);
}

/* What the registry worker was started with: a change restarts it. */
static int
proc_registry_conf_changed(const struct config *a, const struct config *b)
{
	static const size_t	 strs[] = {
		offsetof(struct config, registry_backend),
		offsetof(struct config, registry_address),
		offsetof(struct config, registry_prefix),
		offsetof(struct config, registry_username),
		offsetof(struct config, registry_password),
		offsetof(struct config, registry_token),
		offsetof(struct config, registry_tls_ca),
		offsetof(struct config, registry_tls_cert),
		offsetof(struct config, registry_tls_key),
		offsetof(struct config, state_dir),
	};
	size_t			 i;

	for (i = 0; i < nitems(strs); i++)
		if (strcmp((const char *)a + strs[i],
		    (const char *)b + strs[i]) != 0)
			return 1;
	return a->registry_ttl_ms != b->registry_ttl_ms ||
	    a->log_level != b->log_level;
}

/* Whether the address lists a and b (comma separated) share one. */
static int
proc_addresses_meet(const char *a, const char *b)
{
	char	*ca, *cb, *pa, *pb, *x, *y;
	int	 meet = strcmp(a, b) == 0;

	pa = ca = xstrdup(a);
	while (!meet && (x = util_list_next(&pa)) != NULL) {
		pb = cb = xstrdup(b);
		while (!meet && (y = util_list_next(&pb)) != NULL)
			meet = strcmp(x, y) == 0;
		free(cb);
	}
	free(ca);
	return meet;
}

/*
 * Whether a and b name the same registry store: an endpoint of a cluster
 * added or removed is the same etcd, whose keys a new worker takes over
 * rather than have them deleted and put again.
 */
static int
proc_registry_same_store(const struct config *a, const struct config *b)
{
	return strcmp(a->registry_backend, b->registry_backend) == 0 &&
	    proc_addresses_meet(a->registry_address, b->registry_address) &&
	    strcmp(a->registry_prefix, b->registry_prefix) == 0;
}

/*
 * The registry worker is the single shm writer. A live one whose
 * configuration did not change is carried into the new generation.
 * Otherwise the old one is drained now and the new one waits for it to
 * exit: the old generation serves reads from shm meanwhile, and
 * registrations are refused ("registry worker is not running"). One that
 * is not running (stopped by a fatal exit, waiting out a backoff) gets a
 * fresh start, as the other roles' do: a reload is how a user retries
 * once the cause is fixed, and the cause may lie outside the file (a
 * plugin installed since). Returns 1 when a new one starts.
 */
static int
proc_start_registry(void)
{
	struct proc	*p, *old = NULL;

	TAILQ_FOREACH(p, &master->procs, entry) {
		if (p->role == ROLE_REGISTRY && p->state != PROC_DRAINING &&
		    p->generation != master->generation)
			old = p;
	}
	if (old != NULL && old->pid != 0 &&
	    !proc_registry_conf_changed(old->conf, master->conf)) {
		old->generation = master->generation;
		shm_slot_set_generation(master->shm, old->slot,
		    old->generation);
		return 0;
	}
	/* One never spawned (waiting for the one before) has no conf. */
	if (old != NULL && old->pid != 0 &&
	    proc_registry_same_store(old->conf, master->conf))
		proc_hand_over(old);
	else if (old != NULL)
		proc_drain(old);
	p = proc_new(ROLE_REGISTRY, 0);
	if (proc_registry_busy())
		p->state = PROC_WAITING;
	else
		proc_spawn(p);
	return 1;
}

/*
 * Start every worker of the current generation. When a new registry
 * worker starts, the others wait for its load: the first generation's
 * would find shm empty (a restarted microd answers from the stored
 * registry at once, never "not found" for what is stored), and a
 * reload's sidecar would check its app while no registry worker takes
 * the registration, then register it only an interval later. A reload
 * that carries the registry worker over starts them at once, unless it
 * came during a load: then they wait for that too.
 */
void
proc_start_generation(void)
{
	const struct config	*conf = master->conf;
	struct proc		*p;
	unsigned		 i;
	int			 r, hold;

	hold = proc_start_registry() || proc_loading();
	for (r = 0; r < ROLE_COUNT; r++) {
		if (r == ROLE_REGISTRY)
			continue;
		for (i = 0; i < conf->roles[r].workers; i++) {
			p = proc_new(r, i);
			if (hold)
				p->state = PROC_WAITING;
			else
				proc_spawn(p);
		}
	}
	if (hold)
		proc_hold_readers();
}

static void
proc_kill_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct proc	*p = arg;
	char		 name[64];

	if (p->pid == 0)
		return;
	proc_name(p, name, sizeof(name));
	log_warnx("%s: pid %d did not stop in time, killing it", name,
	    (int)p->pid);
	kill(p->pid, SIGKILL);
}

/*
 * A worker is to finish its requests and exit, SIGKILLed after a bound;
 * 0 if it has no process (it is stopped for good then).
 */
static int
proc_draining(struct proc *p)
{
	uint64_t	 ms = master->conf->shutdown_timeout_ms;
	struct timeval	 tv = util_timeval(ms);

	if (p->respawn != NULL)
		evtimer_del(p->respawn);
	if (p->pid == 0) {
		p->state = PROC_STOPPED;
		return 0;
	}
	p->state = PROC_DRAINING;
	shm_slot_set_state(master->shm, p->slot, SHM_SLOT_DRAINING);
	if (p->kill_timer == NULL)
		p->kill_timer = evtimer_new(master->base, proc_kill_cb, p);
	evtimer_add(p->kill_timer, &tv);
	return 1;
}

static void
proc_drain(struct proc *p)
{
	if (proc_draining(p))
		kill(p->pid, SIGTERM);
}

/*
 * The registry worker replaced by one for the same store (its TTL, log
 * level or credentials changed): it stops without closing the backend,
 * which would take this host's registrations out of etcd or Consul for
 * every other host until the new one has loaded and announced them. The
 * new one moves them onto leases of its own, as after a crash.
 */
static void
proc_hand_over(struct proc *p)
{
	if (!proc_draining(p))
		return;
	if (p->chan != NULL)
		chan_send_handover(p);
	else
		kill(p->pid, SIGTERM);
	master->handing_over = 1;
}

/* Drain every worker older than generation gen, except those of keep. */
void
proc_drain_older(unsigned gen, unsigned keep)
{
	struct proc	*p, *next;

	for (p = TAILQ_FIRST(&master->procs); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		if (p->generation >= gen || p->generation == keep ||
		    p->state == PROC_DRAINING)
			continue;
		if (p->pid == 0) {
			proc_free(p);
			continue;
		}
		proc_drain(p);
	}
}

void
proc_stop_all(void)
{
	struct proc	*p;

	/* Nobody will close the backend: say so rather than leave a puzzle. */
	if (master->handing_over)
		log_warnx("stopping while a new registry worker takes over: "
		    "this host's registrations stay in %s until their TTL runs "
		    "out", master->conf->registry_backend);
	TAILQ_FOREACH(p, &master->procs, entry) {
		if (p->state != PROC_DRAINING)
			proc_drain(p);
	}
}

int
proc_none_left(void)
{
	struct proc	*p;

	TAILQ_FOREACH(p, &master->procs, entry) {
		if (p->pid != 0)
			return 0;
	}
	return 1;
}

/* Workers of the current generation stopped after a fatal error. */
unsigned
proc_fatal_count(void)
{
	struct proc	*p;
	unsigned	 n = 0;

	TAILQ_FOREACH(p, &master->procs, entry)
		n += p->generation == master->generation &&
		    p->state == PROC_STOPPED;
	return n;
}

int
proc_all_running(void)
{
	struct proc	*p;

	TAILQ_FOREACH(p, &master->procs, entry) {
		if (p->generation == master->generation &&
		    p->state != PROC_RUNNING && p->state != PROC_STOPPED)
			return 0;
	}
	return 1;
}

void
proc_ready(struct proc *p)
{
	char	 name[64];

	if (p->state != PROC_STARTING)
		return;
	p->state = PROC_RUNNING;
	shm_slot_set_state(master->shm, p->slot, SHM_SLOT_READY);
	proc_name(p, name, sizeof(name));
	log_debug("%s: ready", name);
	if (p->role == ROLE_REGISTRY) {
		master->handing_over = 0;
		proc_release_readers();
	}
	master_check_ready();
}

/*
 * A gateway's (api, web) drain holds the websockets it proxies until they
 * end or shutdown_timeout: its successor starts at once on the shared
 * listener, as a reload's would. The other roles hand state over (the
 * registry's writer claim, broker rings), so theirs starts at the exit.
 */
static void
proc_restart_running(struct proc *p)
{
	struct proc	*next;

	/* Draining already: again would put its SIGKILL off once more. */
	if (p->restart_asked)
		return;
	if (p->role != ROLE_API && p->role != ROLE_WEB) {
		p->restart_asked = 1;
		proc_drain(p);
		return;
	}
	next = proc_new(p->role, p->id);
	next->restarts = p->restarts + 1;
	p->retired = 1;
	proc_drain(p);
	proc_spawn(next);
}

/* Why a worker that waits to start is not restarted. */
static const char *
proc_waiting_why(const struct proc *p)
{
	if (p->role == ROLE_REGISTRY)
		return "not restarted: it waits for the registry worker it "
		    "replaces to exit, and starts then";
	return "not restarted: it waits for the registry worker's load, "
	    "and starts then";
}

/*
 * Restart the workers of a role (id < 0: all of them) gracefully: how
 * many, and if none, why in *cause. One waiting to start is left to
 * wait: started now, a registry worker would be a second writer, any
 * other would answer from a registry not loaded yet.
 */
int
proc_restart(enum role_id role, int id, const char **cause)
{
	struct proc	*p, *last = TAILQ_LAST(&master->procs, proc_list);
	int		 n = 0, done = 0;

	*cause = "no such worker";
	/* Up to the last one before: successors are added at the end. */
	for (p = TAILQ_FIRST(&master->procs); p != NULL && !done;
	    p = TAILQ_NEXT(p, entry)) {
		done = p == last;
		if (p->role != role || p->generation != master->generation ||
		    p->retired || (id >= 0 && p->id != (unsigned)id))
			continue;
		if (p->state == PROC_WAITING) {
			*cause = proc_waiting_why(p);
			continue;
		}
		if (p->pid != 0)
			proc_restart_running(p);
		else if (p->state == PROC_BACKOFF ||
		    p->state == PROC_STOPPED) {
			memset(&p->backoff, 0, sizeof(p->backoff));
			proc_spawn(p);
		}
		n++;
	}
	return n;
}

static void
proc_log_exit(const struct proc *p, int status)
{
	char	 name[64];

	proc_name(p, name, sizeof(name));
	if (WIFSIGNALED(status))
		log_warnx("%s: pid %d exited on signal %d%s", name,
		    (int)p->pid, WTERMSIG(status),
		    WCOREDUMP(status) ? " (core dumped)" : "");
	else if (WEXITSTATUS(status) != 0)
		log_warnx("%s: pid %d exited with code %d", name, (int)p->pid,
		    WEXITSTATUS(status));
	else
		log_debug("%s: pid %d exited", name, (int)p->pid);
}

/* Decide what follows the exit of a worker of the current generation. */
static void
proc_after_exit(struct proc *p, int status, uint64_t lived_ms)
{
	char		 name[64];
	uint64_t	 delay;

	proc_name(p, name, sizeof(name));
	if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_FATAL) {
		log_warnx("%s: fatal error, not respawning", name);
		p->state = PROC_STOPPED;
		/* No load is coming: those waiting for it start now. */
		if (p->role == ROLE_REGISTRY &&
		    p->generation == master->generation)
			proc_release_readers();
		return;
	}
	p->restarts++;
	if (p->restart_asked) {
		proc_spawn(p);
		return;
	}
	delay = proc_backoff(p, lived_ms);
	if (delay == 0)
		proc_spawn(p);
	else
		proc_schedule(p, delay);
}

/*
 * A worker of an older generation died while the new generation's workers
 * of its role wait for the registry worker's load: nobody would accept on
 * the listener until then, a restarted registry worker's exit and load
 * (seconds for a large registry). shm holds the registry already (this is
 * a reload), so they start now.
 */
static void
proc_release_role(enum role_id role)
{
	struct proc	*p;

	TAILQ_FOREACH(p, &master->procs, entry) {
		if (p->role == role && p->generation == master->generation &&
		    p->state == PROC_WAITING)
			proc_spawn(p);
	}
}

static void
proc_exited(struct proc *p, int status)
{
	uint64_t	 lived_ms = 0;
	int		 was_registry = p->role == ROLE_REGISTRY;

	/*
	 * One that never said ready never served: however long it took,
	 * its exit is a quick failure, so a start that keeps hanging until
	 * the watchdog kills it backs off and is reported as a crash loop.
	 */
	if (p->state != PROC_STARTING)
		lived_ms = util_now_ms() - p->started_ms;
	proc_log_exit(p, status);
	shm_slot_clear(master->shm, p->slot);
	/* Publishers stop choosing its ring for queue group copies. */
	bring_reaped(p->pid);
	if (was_registry)
		shm_writer_reaped(master->shm, p->pid);
	chan_close(p);
	if (p->kill_timer != NULL)
		evtimer_del(p->kill_timer);
	p->pid = 0;
	if (was_registry)
		relay_fail_all("registry worker exited");
	/*
	 * A worker of an older generation has no successor, whether it was
	 * drained, asked to restart, or died while the new generation was
	 * starting: that generation runs the role's workers now (as many
	 * as the new configuration says, on its listener), and respawning
	 * it would run the new configuration under the old generation.
	 */
	if (p->generation != master->generation && !master->stopping &&
	    p->state != PROC_DRAINING && p->role != ROLE_REGISTRY)
		proc_release_role(p->role);
	if (p->generation != master->generation || master->stopping ||
	    p->retired)
		proc_free(p);
	else
		proc_after_exit(p, status, lived_ms);
	if (was_registry)
		proc_start_waiting();
}

void
proc_reap(void)
{
	struct proc	*p;
	pid_t		 pid;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		TAILQ_FOREACH(p, &master->procs, entry) {
			if (p->pid == pid)
				break;
		}
		if (p == NULL)
			continue;
		proc_exited(p, status);
	}
	if (pid == -1 && errno != ECHILD)
		log_warn("waitpid");
	master_check_ready();
}

/* Last words: nothing may outlive the master. */
void
proc_free_all(void)
{
	struct proc	*p;

	while ((p = TAILQ_FIRST(&master->procs)) != NULL) {
		if (p->pid != 0) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
			shm_slot_clear(master->shm, p->slot);
		}
		proc_free(p);
	}
	if (proc_load_timer != NULL)
		event_free(proc_load_timer);
	proc_load_timer = NULL;
}
