/*
 * The master's side of the worker channels: ctlproto frames on a
 * socketpair per worker. Workers say "ready", ask for registry changes
 * (relayed to the registry worker) and the registry worker answers them;
 * on a reload the master tells older sidecar workers the new app, and
 * deregisters the old one if it moved.
 */
#include "config.h"

#include <sys/queue.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "ctlproto.h"
#include "log.h"
#include "microd/master.h"
#include "svc.h"
#include "util.h"

#define CHAN_RETRY_MS	1000	/* an old app's failed deregistration */

/*
 * An app a reload moved or dropped: the master deregisters its node
 * itself, as the sidecar/0 that registered it may be waiting to respawn
 * (and then never runs again) and the new generation does not know it.
 * Retried until applied, as the same reload may restart the registry
 * worker, unless a reload brings the app back.
 */
struct chan_old_app {
	TAILQ_ENTRY(chan_old_app) entry;
	char			*json;		/* its Service JSON */
	struct event		*retry;
	int			 pending;	/* request in flight */
	int			 back;		/* configured again: drop it */
};
static TAILQ_HEAD(, chan_old_app) chan_old_apps =
    TAILQ_HEAD_INITIALIZER(chan_old_apps);

struct chan_cmd {
	const char	*name;
	void		(*handle)(struct proc *, const struct ctl_msg *);
};

static void
chan_ready(struct proc *p, const struct ctl_msg *msg)
{
	proc_ready(p);
}

static void
chan_relay(struct proc *p, const struct ctl_msg *msg)
{
	const char	*cause;

	if (relay_to_registry(p->chan, msg, NULL, NULL, &cause) == -1)
		relay_send_error(p->chan, msg->id, CTL_CODE_UNAVAILABLE, cause);
}

static const struct chan_cmd chan_cmds[] = {
	{ "ready", chan_ready },
	{ "register", chan_relay },
	{ "deregister", chan_relay },
};

static void
chan_dispatch(struct proc *p, const struct ctl_msg *msg)
{
	size_t	 i;

	if (msg->is_reply) {
		if (p->role == ROLE_REGISTRY)
			relay_reply(msg);
		return;
	}
	if (msg->cmd == NULL)
		return;
	for (i = 0; i < nitems(chan_cmds); i++) {
		if (strcmp(msg->cmd, chan_cmds[i].name) == 0) {
			chan_cmds[i].handle(p, msg);
			return;
		}
	}
	relay_send_error(p->chan, msg->id, NULL, "unknown command");
}

static void
chan_read_cb(struct bufferevent *bev, void *arg)
{
	struct proc	*p = arg;
	struct ctl_msg	 msg;
	const char	*cause;
	int		 rc;

	while ((rc = ctl_frame_pull(bufferevent_get_input(bev), &msg,
	    &cause)) == 1) {
		chan_dispatch(p, &msg);
		ctl_msg_free(&msg);
		if (p->chan == NULL)
			return;
	}
	if (rc < 0) {
		/* A worker speaking garbage is a bug in it: cut it off. */
		log_warnx("%s/%u: bad frame on channel: %s",
		    config_role_name(p->role), p->id, cause);
		chan_close(p);
		if (p->pid != 0)
			kill(p->pid, SIGKILL);
	}
}

static void
chan_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct proc	*p = arg;

	/* EOF: the worker is gone or going; SIGCHLD does the rest. */
	chan_close(p);
}

static void
chan_old_app_free(struct chan_old_app *a)
{
	TAILQ_REMOVE(&chan_old_apps, a, entry);
	event_free(a->retry);
	free(a->json);
	free(a);
}

static void
chan_old_app_later(struct chan_old_app *a)
{
	struct timeval	 tv = util_timeval(CHAN_RETRY_MS);

	evtimer_add(a->retry, &tv);
}

static void
chan_old_app_applied(void *arg, int applied)
{
	struct chan_old_app	*a = arg;

	a->pending = 0;
	if (applied || a->back)
		chan_old_app_free(a);
	else
		chan_old_app_later(a);
}

static void
chan_old_app_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct chan_old_app	*a = arg;
	const char		*cause;

	if (relay_request("deregister", a->json, chan_old_app_applied, a,
	    &cause) == -1) {
		log_debug("old sidecar app: %s, retrying", cause);
		chan_old_app_later(a);
	} else
		a->pending = 1;
}

/* The Service JSON of the app conf's sidecar/0 registers: NULL if none. */
static char *
chan_app_json(const struct config *conf)
{
	char	*why, *json;

	if (conf->sidecar_app_name[0] == '\0' ||
	    conf->roles[ROLE_SIDECAR].workers == 0)
		return NULL;
	/* Checked when the configuration was loaded (config_validate). */
	if ((json = svc_app_json(conf->sidecar_app_name,
	    conf->sidecar_app_address, &why)) == NULL)
		free(why);
	return json;
}

/*
 * Deregister the app of old unless cur is the same: the first try on the
 * next turn, once the reload started the registry worker. An old app that
 * cur brings back is dropped: its deregistration would undo the new
 * generation's registration.
 */
static void
chan_retire_app(const struct config *old, const char *cur)
{
	struct chan_old_app	*a, *next;
	struct timeval		 now = { 0, 0 };
	char			*json = chan_app_json(old);

	for (a = TAILQ_FIRST(&chan_old_apps); a != NULL; a = next) {
		next = TAILQ_NEXT(a, entry);
		if (cur == NULL || strcmp(a->json, cur) != 0)
			continue;
		a->back = 1;
		if (!a->pending)
			chan_old_app_free(a);
	}
	if (json == NULL || (cur != NULL && strcmp(json, cur) == 0)) {
		free(json);
		return;
	}
	log_info("sidecar app %s at %s is no longer in the configuration: "
	    "deregistering it", old->sidecar_app_name,
	    old->sidecar_app_address);
	a = xcalloc(1, sizeof(*a));
	a->json = json;
	a->retry = evtimer_new(master->base, chan_old_app_retry_cb, a);
	if (a->retry == NULL)
		fatalx("%s: evtimer_new", __func__);
	TAILQ_INSERT_TAIL(&chan_old_apps, a, entry);
	evtimer_add(a->retry, &now);
}

/*
 * On a reload, tell the older generations' sidecar workers which app the
 * new configuration checks (an empty name: none, as without sidecar
 * workers). One that checks another app deregisters it at once: the new
 * generation will not, not knowing it, and its TTL is three intervals.
 * The master deregisters the app of the configuration before (old) too,
 * if it moved: its sidecar/0 may be waiting to respawn, which it never
 * will now.
 */
void
chan_send_sidecar_app(const struct config *old)
{
	const struct config	*conf = master->conf;
	char			*cur = chan_app_json(conf);
	struct ctl_frame	 f;
	struct proc		*p;

	TAILQ_FOREACH(p, &master->procs, entry) {
		if (p->role != ROLE_SIDECAR || p->chan == NULL ||
		    p->generation == master->generation)
			continue;
		ctl_frame_request(&f, 0, "app", 1);
		ctl_pack_str(&f.pk, "args");
		msgpack_pack_map(&f.pk, 2);
		ctl_pack_kv_str(&f.pk, "name",
		    cur != NULL ? conf->sidecar_app_name : "");
		ctl_pack_kv_str(&f.pk, "address",
		    cur != NULL ? conf->sidecar_app_address : "");
		relay_send(p->chan, &f);
	}
	chan_retire_app(old, cur);
	free(cur);
}

void
chan_send_handover(struct proc *p)
{
	struct ctl_frame	 f;

	ctl_frame_request(&f, 0, "handover", 0);
	relay_send(p->chan, &f);
}

void
chan_open(struct proc *p, int fd)
{
	util_set_nonblock(fd);
	p->chan = bufferevent_socket_new(master->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (p->chan == NULL)
		fatalx("bufferevent_socket_new");
	bufferevent_setcb(p->chan, chan_read_cb, NULL, chan_event_cb, p);
	bufferevent_enable(p->chan, EV_READ);
}

void
chan_close(struct proc *p)
{
	if (p->chan == NULL)
		return;
	relay_forget(p->chan);
	bufferevent_free(p->chan);
	p->chan = NULL;
}
