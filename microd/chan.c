/*
 * The master's side of the worker channels: ctlproto frames on a
 * socketpair per worker. Workers say "ready", ask for registry changes
 * (relayed to the registry worker) and the registry worker answers them;
 * on a reload the master tells older sidecar workers the new app.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "ctlproto.h"
#include "log.h"
#include "microd/master.h"
#include "util.h"

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
		if (rc == -2)
			ctl_msg_free(&msg);
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

/*
 * On a reload, tell the older generations' sidecar workers which app the
 * new configuration checks (an empty name: none, as without sidecar
 * workers). One that checks another app deregisters it at once: the new
 * generation will not, not knowing it, and its TTL is three intervals.
 */
void
chan_send_sidecar_app(void)
{
	const struct config	*conf = master->conf;
	int			 on = conf->roles[ROLE_SIDECAR].workers > 0;
	struct ctl_frame	 f;
	struct proc		*p;

	TAILQ_FOREACH(p, &master->procs, entry) {
		if (p->role != ROLE_SIDECAR || p->chan == NULL ||
		    p->generation == master->generation)
			continue;
		ctl_frame_request(&f, 0, "app", 1);
		ctl_pack_str(&f.pk, "args");
		msgpack_pack_map(&f.pk, 2);
		ctl_pack_kv_str(&f.pk, "name", on ? conf->sidecar_app_name : "");
		ctl_pack_kv_str(&f.pk, "address",
		    on ? conf->sidecar_app_address : "");
		relay_send(p->chan, &f);
	}
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
