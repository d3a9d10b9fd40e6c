/*
 * The common life of a worker process: shed what belongs to the master,
 * drop privileges, run the role on a fresh event loop, talk to the master
 * over the channel, drain on SIGTERM, die with the master.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/queue.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "shm/logring.h"
#include "shm/shm.h"
#include "util.h"
#include "workers/worker.h"
#include "workers/worker-http.h"

struct worker_pending {
	struct worker_pending	*next;
	uint32_t		 id;
	worker_reply_cb		 cb;
	void			*arg;
};

/* How often a worker's loop stores its beat (shm_slot_beat). */
#define WORKER_BEAT_MS	1000

static struct worker	 worker_self;
static struct event	*worker_term_ev;
static struct event	*worker_beat_ev;

/*
 * Shed the master's event loop. Its epoll instance is shared with the
 * master across fork, so it must not be touched: event_reinit() gives the
 * base a private one first, and freeing it then also gives back libevent's
 * signal handling, which only one base per process may have.
 */
static void
worker_shed_master_loop(struct event_base *base)
{
	if (base == NULL)
		return;
	if (event_reinit(base) == -1)
		fatalx("event_reinit");
	event_base_free(base);
}

/*
 * Undo the master's signal handling before anything can run. SIGTERM
 * stays blocked until worker_setup() handles it: one sent while the worker
 * starts (a reload, a restart) drains it then rather than kill it.
 */
static void
worker_reset_signals(void)
{
	static const int dfl[] = { SIGCHLD, SIGTERM };
	static const int ign[] = {
		SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2
	};
	sigset_t	 term;
	size_t		 i;

	for (i = 0; i < nitems(dfl); i++)
		signal(dfl[i], SIG_DFL);
	/*
	 * A hangup, ^C or ^\ reaches the whole process group, and
	 * `systemctl kill -s HUP` or `pkill -HUP microd` every process: the
	 * master decides (a reload, a stop). SIGUSR*: as the master, nothing
	 * to do (microd(8)).
	 */
	for (i = 0; i < nitems(ign); i++)
		signal(ign[i], SIG_IGN);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_SETMASK, &term, NULL);
}

/* Close every descriptor the worker does not own (the master's loop,
 * other roles' listeners, the control socket, other channels). */
static void
worker_close_fds(const struct worker_spec *spec)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd, keep_shm = shm_fd(spec->shm);

	if ((d = opendir("/proc/self/fd")) == NULL)
		fatal("opendir /proc/self/fd");
	while ((de = readdir(d)) != NULL) {
		fd = atoi(de->d_name);
		if (fd <= 2 || fd == dirfd(d) || fd == spec->listen_fd ||
		    fd == spec->chan_fd || fd == spec->state_fd ||
		    fd == keep_shm ||
		    !isdigit((unsigned char)de->d_name[0]))
			continue;
		close(fd);
	}
	closedir(d);
}

static void
worker_drop_privileges(const struct config *conf)
{
	struct passwd	*pw;

	if (geteuid() != 0 || conf->user[0] == '\0')
		return;
	if ((pw = getpwnam(conf->user)) == NULL)
		fatalx("unknown user %s", conf->user);
	/* Its groups too: a key readable by ssl-cert, as nginx's user. */
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot drop privileges to %s", conf->user);
}

static __attribute__((noreturn)) void
worker_exit(int status)
{
	struct worker	*w = &worker_self;

	if (w->role->shutdown != NULL)
		w->role->shutdown(w);
	log_debug("exiting");
	/* Skip atexit handlers: they belong to the master's image. */
	_exit(status);
}

void
worker_drain_check(void)
{
	struct worker	*w = &worker_self;

	if (!w->draining || (w->http != NULL && !w->http_drained) ||
	    (w->role->busy != NULL && w->role->busy(w)))
		return;
	event_base_loopexit(w->base, NULL);
}

static void
worker_drained(void *arg)
{
	worker_self.http_drained = 1;
	worker_drain_check();
}

static void
worker_term_cb(evutil_socket_t sig, short ev, void *arg)
{
	worker_drain(arg);
}

void
worker_drain(struct worker *w)
{
	log_debug("draining");
	w->draining = 1;
	if (w->role->drain != NULL)
		w->role->drain(w);
	if (w->http != NULL)
		worker_http_drain(w, worker_drained);
	else
		worker_drain_check();
}

uint32_t
worker_request_begin(struct worker *w, struct ctl_frame *f, const char *cmd,
    size_t nfields)
{
	uint32_t	 id = ++w->next_id;

	if (id == 0)
		id = ++w->next_id;
	ctl_frame_request(f, id, cmd, nfields);
	return id;
}

void
worker_send(struct worker *w, struct ctl_frame *f)
{
	const void	*data;
	size_t		 len;

	ctl_frame_end(f, &data, &len);
	if (w->parent != NULL)
		bufferevent_write(w->parent, data, len);
	ctl_frame_free(f);
}

void
worker_request_send(struct worker *w, struct ctl_frame *f, uint32_t id,
    worker_reply_cb cb, void *arg)
{
	struct worker_pending	*p;

	if (cb != NULL) {
		p = xcalloc(1, sizeof(*p));
		p->id = id;
		p->cb = cb;
		p->arg = arg;
		p->next = w->pending;
		w->pending = p;
	}
	worker_send(w, f);
}

static struct worker_pending *
worker_pending_take(struct worker *w, uint32_t id)
{
	struct worker_pending	**pp, *p;

	for (pp = &w->pending; (p = *pp) != NULL; pp = &p->next) {
		if (p->id == id) {
			*pp = p->next;
			return p;
		}
	}
	return NULL;
}

void
worker_request_cancel(struct worker *w, uint32_t id)
{
	free(worker_pending_take(w, id));
}

static void
worker_dispatch(struct worker *w, const struct ctl_msg *msg)
{
	const struct worker_cmd	*c;
	struct worker_pending	*p;

	if (msg->is_reply) {
		if ((p = worker_pending_take(w, msg->id)) != NULL) {
			p->cb(w, msg, p->arg);
			free(p);
		}
		return;
	}
	for (c = w->role->cmds; c != NULL && c->name != NULL; c++) {
		if (msg->cmd != NULL && strcmp(msg->cmd, c->name) == 0) {
			c->handle(w, msg);
			return;
		}
	}
	log_warnx("unknown command from master: %s", msg->cmd ? msg->cmd :
	    "(none)");
}

static void
worker_chan_read_cb(struct bufferevent *bev, void *arg)
{
	struct worker	*w = arg;
	struct ctl_msg	 msg;
	const char	*cause;
	int		 rc;

	while ((rc = ctl_frame_pull(bufferevent_get_input(bev), &msg,
	    &cause)) == 1) {
		worker_dispatch(w, &msg);
		ctl_msg_free(&msg);
	}
	if (rc < 0)
		fatalx("bad frame from master: %s", cause);
}

/* Every pending request fails; callers see a NULL reply. */
static void
worker_fail_pending(struct worker *w)
{
	struct worker_pending	*p;

	while ((p = w->pending) != NULL) {
		w->pending = p->next;
		p->cb(w, NULL, p->arg);
		free(p);
	}
}

static void
worker_chan_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct worker	*w = arg;

	log_warnx("master went away, exiting");
	bufferevent_free(w->parent);
	w->parent = NULL;
	worker_fail_pending(w);
	worker_exit(0);
}

static void
worker_say_ready(struct worker *w)
{
	struct ctl_frame	 f;
	uint32_t		 id;

	id = worker_request_begin(w, &f, "ready", 0);
	worker_request_send(w, &f, id, NULL, NULL);
}

static void
worker_handle_term(struct worker *w)
{
	sigset_t	 term;

	worker_term_ev = evsignal_new(w->base, SIGTERM, worker_term_cb, w);
	evsignal_add(worker_term_ev, NULL);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &term, NULL);
}

static void
worker_setup(struct worker *w, const struct worker_spec *spec)
{
	char	 name[64];

	snprintf(name, sizeof(name), "%s/%u", config_role_name(spec->role),
	    spec->id);
	log_procname(name);
	logring_bind(spec->slot_index, spec->role, spec->id);
	snprintf(name, sizeof(name), "microd-%s", config_role_name(spec->role));
	prctl(PR_SET_NAME, name);
	worker_close_fds(spec);
	/* Changing credentials clears the parent-death signal: drop first. */
	worker_drop_privileges(spec->conf);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 ||
	    getppid() != spec->master_pid)
		_exit(0);	/* the master died before we could watch it */

	memset(w, 0, sizeof(*w));
	w->conf = spec->conf;
	w->role = roles[spec->role];
	w->id = spec->id;
	w->generation = spec->generation;
	w->slot_index = spec->slot_index;
	w->listen_fd = spec->listen_fd;
	w->shm = spec->shm;
	w->counters = shm_slot_counters(spec->shm, spec->slot_index);
	if ((w->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	util_set_nonblock(spec->chan_fd);
	w->parent = bufferevent_socket_new(w->base, spec->chan_fd,
	    BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(w->parent, worker_chan_read_cb, NULL,
	    worker_chan_event_cb, w);
	bufferevent_enable(w->parent, EV_READ);
	worker_handle_term(w);
}

/* The master's watchdog reads the beat: a loop that stops beating hangs. */
static void
worker_beat_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct worker	*w = arg;

	shm_slot_beat(w->shm, w->slot_index, util_now_ms());
}

static void
worker_beat_start(struct worker *w)
{
	struct timeval	 tv = { WORKER_BEAT_MS / 1000, 0 };

	worker_beat_ev = event_new(w->base, -1, EV_PERSIST, worker_beat_cb, w);
	if (worker_beat_ev == NULL || event_add(worker_beat_ev, &tv) == -1)
		fatalx("worker beat timer");
	worker_beat_cb(-1, 0, w);
}

void
worker_main(const struct worker_spec *spec)
{
	struct worker	*w = &worker_self;
	int		 rc;

	worker_shed_master_loop(spec->master_base);
	worker_reset_signals();
	worker_setup(w, spec);
	/* A role that cannot start with this config must not be respawned;
	 * one that failed for a passing reason is, with backoff. */
	if (w->role->init != NULL && (rc = w->role->init(w)) != 0)
		_exit(rc == WORKER_RETRY ? WORKER_EXIT_RETRY :
		    WORKER_EXIT_FATAL);
	if (w->listen_fd != -1 && worker_http_start(w) == -1)
		_exit(WORKER_EXIT_FATAL);
	worker_beat_start(w);
	worker_say_ready(w);
	event_base_dispatch(w->base);
	worker_exit(0);
}
