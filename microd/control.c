/*
 * The control socket: a unix stream socket speaking ctlproto frames
 * (doc/control-protocol.md). A bad frame closes that connection only.
 * Commands live in ctlcmd.c; this file is the plumbing.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "accept-pause.h"
#include "ctlproto.h"
#include "log.h"
#include "microd/control.h"
#include "microd/master.h"
#include "svc.h"
#include "util.h"

#define CONTROL_MAX_CONNS	64
#define CONTROL_BACKLOG		16	/* microctl and micro-top: a few at once */
#define CONTROL_WRITE_TIMEOUT	10	/* seconds a peer may not read */
#define CONTROL_FIRST_TIMEOUT	10	/* seconds to the first request */
#define CONTROL_IDLE_TIMEOUT	30	/* seconds between later ones */

/*
 * What the master buffers for its clients is bounded, whatever they do.
 * No request needs more than a Service JSON (register): a larger frame
 * closes the connection before it is read, and an oversize Service JSON
 * still gets the registry's error. A connection is not read while its
 * unread replies pass CONTROL_OUTPUT_CONN, or those of all connections
 * together pass CONTROL_OUTPUT_BUDGET (over by one answer at most).
 */
#define CONTROL_REQUEST_MAX	(2 * SVC_JSON_MAX)
#define CONTROL_OUTPUT_CONN	(256U * 1024)
#define CONTROL_OUTPUT_BUDGET	(16U * 1024 * 1024)

static struct evconnlistener	*control_listener;
static struct accept_pause	 control_pause;
static char			 control_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static TAILQ_HEAD(, control_conn) control_conns =
    TAILQ_HEAD_INITIALIZER(control_conns);
static unsigned			 control_nconns;
static unsigned			 control_nstats;	/* stats streams open */
static struct event		*control_stats_timer;	/* while any is */

static void	control_resume_all(void);
static void	control_stats_stop(void);

/* Any request ends a stream, and so does the connection's end. */
static void
control_stream_end(struct control_conn *c)
{
	if (c->stream == CONTROL_STREAM_STATS)
		control_stats_stop();
	else if (c->stream == CONTROL_STREAM_LOGS)
		ctllogs_stop(c);
	else if (c->stream == CONTROL_STREAM_SUB)
		ctlsub_stop(c);
	c->stream = CONTROL_STREAM_NONE;
}

static void
control_conn_free(struct control_conn *c)
{
	control_stream_end(c);
	TAILQ_REMOVE(&control_conns, c, entry);
	control_nconns--;
	relay_forget(c->bev);
	bufferevent_free(c->bev);
	free(c);
	control_resume_all();
}

static void
control_close_after_flush(struct bufferevent *bev, void *arg)
{
	struct control_conn	*c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		control_conn_free(c);
}

static void	control_conn_finish(struct control_conn *);

static void
control_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_conn	*c = arg;

	if (what & BEV_EVENT_TIMEOUT)
		log_warnx("control: closing a connection that %s",
		    !(what & BEV_EVENT_READING) ? "does not read its replies" :
		    c->requested ? "sent no request for a while" :
		    "sent no request in time");
	/* A peer that only stopped sending still gets its answers. */
	if (what == (BEV_EVENT_READING | BEV_EVENT_EOF))
		control_conn_finish(c);
	else
		control_conn_free(c);
}

/*
 * A connection has CONTROL_FIRST_TIMEOUT for its first request and
 * CONTROL_IDLE_TIMEOUT for each later one, so idle ones cannot hold every
 * place; one with a stream open waits as long as it likes (it only
 * reads). Its replies must always be read.
 */
static void
control_set_timeouts(struct control_conn *c)
{
	struct timeval	 first = { CONTROL_FIRST_TIMEOUT, 0 };
	struct timeval	 idle = { CONTROL_IDLE_TIMEOUT, 0 };
	struct timeval	 write = { CONTROL_WRITE_TIMEOUT, 0 };
	struct timeval	*read = NULL;

	if (!c->requested)
		read = &first;
	else if (c->stream == CONTROL_STREAM_NONE)
		read = &idle;
	bufferevent_set_timeouts(c->bev, read, &write);
}

/* Stop reading, let pending output go, then close. */
static void
control_conn_finish(struct control_conn *c)
{
	c->closing = 1;
	control_stream_end(c);
	bufferevent_disable(c->bev, EV_READ);
	/* A peer already gone fails the write: the event callback frees. */
	bufferevent_setcb(c->bev, NULL, control_close_after_flush,
	    control_event_cb, c);
	control_close_after_flush(c->bev, c);
}

void
control_send(struct control_conn *c, struct ctl_frame *f)
{
	relay_send(c->bev, f);
}

void
control_error(struct control_conn *c, uint32_t id, const char *error)
{
	relay_send_error(c->bev, id, NULL, error);
}

static size_t
control_output(struct control_conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

int
control_output_full(struct control_conn *c)
{
	struct control_conn	*d;
	size_t			 total = 0;

	if (control_output(c) > CONTROL_OUTPUT_CONN)
		return 1;
	TAILQ_FOREACH(d, &control_conns, entry)
		total += control_output(d);
	return total > CONTROL_OUTPUT_BUDGET;
}

/* The whole size the frame at the front of c's input announces, or 0. */
static size_t
control_frame_size(struct control_conn *c)
{
	uint32_t	 n;

	if (evbuffer_copyout(bufferevent_get_input(c->bev), &n, sizeof(n)) <
	    (ev_ssize_t)sizeof(n))
		return 0;
	return ntohl(n);
}

/*
 * Replies go out in request order, and a peer that does not read its
 * answers gets no more: while a request waits at the registry, or the
 * output is full, the connection is not read.
 */
static int
control_conn_readable(struct control_conn *c)
{
	return c->relays == 0 && !control_output_full(c);
}

static void
control_conn_pause(struct control_conn *c)
{
	c->paused = 1;
	bufferevent_disable(c->bev, EV_READ);
}

static void
control_conn_resume(struct control_conn *c)
{
	if (!c->paused || c->closing || !control_conn_readable(c))
		return;
	c->paused = 0;
	c->waiting = util_now_ms();	/* as the read timeout starts over */
	bufferevent_enable(c->bev, EV_READ);
	/* From the loop: the caller may be inside another connection. */
	bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

/* Some output went, or a connection closed: room for the paused? */
static void
control_resume_all(void)
{
	struct control_conn	*c;

	TAILQ_FOREACH(c, &control_conns, entry)
		control_conn_resume(c);
}

/*
 * ctl_frame_pull, refusing a frame larger than any request needs, and a
 * request still not whole when its time is up: the read timeout only
 * catches a peer that sends nothing at all, not one that trickles a
 * request a byte at a time. A stream has no such time.
 */
static int
control_pull(struct control_conn *c, struct ctl_msg *msg, const char **cause)
{
	uint64_t	 limit = c->requested ? CONTROL_IDLE_TIMEOUT :
			    CONTROL_FIRST_TIMEOUT;
	int		 rc;

	if (control_frame_size(c) > CONTROL_REQUEST_MAX) {
		*cause = "request too large";
		return -1;
	}
	rc = ctl_frame_pull(bufferevent_get_input(c->bev), msg, cause);
	if (rc == 0 && c->stream == CONTROL_STREAM_NONE &&
	    util_now_ms() - c->waiting > limit * 1000) {
		*cause = c->requested ? "sent no request for a while" :
		    "sent no request in time";
		rc = -1;
	}
	return rc;
}

static void
control_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn	*c = arg;

	if (c->stream == CONTROL_STREAM_SUB)
		ctlsub_writable(c);
	control_resume_all();
}

static void
control_relay_answered(void *arg)
{
	struct control_conn	*c = arg;

	c->relays--;
	control_conn_resume(c);
}

void
control_relay(struct control_conn *c, const struct ctl_msg *m)
{
	const char	*cause;

	if (relay_to_registry(c->bev, m, control_relay_answered, c,
	    &cause) == -1)
		relay_send_error(c->bev, m->id, CTL_CODE_UNAVAILABLE, cause);
	else
		c->relays++;
}

static void
control_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn	*c = arg;
	struct ctl_msg		 msg;
	const char		*cause;
	char			 why[128];
	int			 rc = 0;

	while (!c->closing) {
		if (!control_conn_readable(c)) {
			control_conn_pause(c);
			return;
		}
		if ((rc = control_pull(c, &msg, &cause)) != 1)
			break;
		control_stream_end(c);
		c->requested = 1;
		c->waiting = util_now_ms();
		ctlcmd_dispatch(c, &msg);
		ctl_msg_free(&msg);
		/* A stream may have started, or ended. */
		if (!c->closing)
			control_set_timeouts(c);
	}
	if (c->closing || rc == 0)
		return;
	if (rc == CTL_FRAME_OTHER_VERSION) {
		snprintf(why, sizeof(why), "protocol version %u not supported "
		    "(server speaks %d)", msg.version, CTL_PROTO_VERSION);
		control_error(c, msg.id, why);
	}
	log_warnx("control: closing connection: %s", cause);
	control_conn_finish(c);
}

/*
 * 1 if the peer holds group gid: the groups its process had at connect(2)
 * (SO_PEERGROUPS), as the kernel checked the socket's mode against them.
 * No lookup in the group database: it would miss a group given at run
 * time (systemd's SupplementaryGroups=, docker --group-add), and a slow
 * name service would stall the master.
 */
static int
control_peer_in_group(int fd, gid_t primary, gid_t gid)
{
	gid_t		*groups;
	socklen_t	 len = 0;
	size_t		 i, n;
	int		 found = 0;

	if (primary == gid)
		return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) == 0 ||
	    errno != ERANGE)
		return 0;	/* no supplementary groups */
	groups = xmalloc(len);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
		n = len / sizeof(*groups);
		for (i = 0; i < n && !found; i++)
			found = groups[i] == gid;
	}
	free(groups);
	return found;
}

/* The socket's mode (0660) already gates connect(2); this double-checks:
 * root, our own user, and members of the socket's group. */
static int
control_peer_allowed(int fd)
{
	struct ucred	 cred;
	struct stat	 sb;
	socklen_t	 len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return 0;
	if (cred.uid == 0 || cred.uid == geteuid())
		return 1;
	return stat(control_path, &sb) == 0 &&
	    control_peer_in_group(fd, cred.gid, sb.st_gid);
}

/*
 * Refused connections are closed at once and logged at most once a
 * second, with how many there were: a client connecting in a loop must
 * not fill the log.
 */
static struct {
	struct event	*timer;
	unsigned	 count;
	const char	*latest;	/* why the last one was refused */
} control_refused;

static void
control_refused_log(evutil_socket_t fd, short ev, void *arg)
{
	log_warnx("control: refused %u connection%s (latest: %s)",
	    control_refused.count, control_refused.count == 1 ? "" : "s",
	    control_refused.latest);
	control_refused.count = 0;
}

/*
 * The client is told why in an error reply of ID 0 (about the connection,
 * not a request): a fresh socket's buffer takes it whole, without waiting.
 */
static void
control_refuse(int fd, const char *why, const char *said)
{
	struct timeval	 tv = { 1, 0 };
	struct ctl_frame f;
	const void	*data;
	size_t		 len;

	ctl_frame_error(&f, 0, said);
	ctl_frame_end(&f, &data, &len);
	(void)send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	ctl_frame_free(&f);
	close(fd);
	control_refused.latest = why;
	if (control_refused.count++ > 0)
		return;		/* the timer is on its way */
	if (control_refused.timer == NULL)
		control_refused.timer = evtimer_new(master->base,
		    control_refused_log, NULL);
	evtimer_add(control_refused.timer, &tv);
}

static void
control_accept_error_cb(struct evconnlistener *l, void *arg)
{
	accept_pause_error(&control_pause);
}

static void
control_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control_conn	*c;

	if (control_nconns >= CONTROL_MAX_CONNS) {
		control_refuse(fd, "too many", "too many control connections "
		    "open: try again later");
		return;
	}
	if (!control_peer_allowed(fd)) {
		control_refuse(fd, "peer not allowed", "not allowed: only root, "
		    "microd's user and the socket's group are served");
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->waiting = util_now_ms();
	c->bev = bufferevent_socket_new(master->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, control_read_cb, control_write_cb,
	    control_event_cb, c);
	control_set_timeouts(c);
	bufferevent_enable(c->bev, EV_READ);
	TAILQ_INSERT_TAIL(&control_conns, c, entry);
	control_nconns++;
}

/* Refuse to steal the socket of a running microd; clear a stale one. */
static int
control_check_stale(const struct sockaddr_un *sun, const char **cause)
{
	struct stat	 sb;
	int		 fd, error;

	if (lstat(sun->sun_path, &sb) == 0 && !S_ISSOCK(sb.st_mode)) {
		*cause = "the socket path exists and is not a socket";
		return -1;
	}
	/* Not blocking: a microd too busy (or stopped) to accept is one. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		*cause = strerror(errno);
		return -1;
	}
	error = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ?
	    0 : errno;
	close(fd);
	if (error == 0 || error == EAGAIN) {
		*cause = error == 0 ? "another microd is running on this "
		    "socket" : "another microd is running on this socket (not "
		    "accepting connections)";
		return -1;
	}
	if (error == ECONNREFUSED && unlink(sun->sun_path) == -1) {
		*cause = strerror(errno);
		return -1;
	}
	return 0;
}

int
control_open(const char *path, const char **cause)
{
	struct sockaddr_un	 sun;
	mode_t			 old;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*cause = "socket path too long";
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (control_check_stale(&sun, cause) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		*cause = strerror(errno);
		return -1;
	}
	old = umask(S_IXUSR | S_IXGRP | S_IRWXO);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		*cause = strerror(errno);
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);		/* the socket was made 0660 */
	control_listener = evconnlistener_new(master->base, control_accept_cb,
	    NULL, LEV_OPT_CLOSE_ON_FREE, CONTROL_BACKLOG, fd);
	if (control_listener == NULL) {
		*cause = strerror(errno);
		close(fd);
		unlink(path);
		return -1;
	}
	accept_pause_init(&control_pause, master->base, control_listener,
	    "control", NULL, NULL);
	evconnlistener_set_error_cb(control_listener, control_accept_error_cb);
	snprintf(control_path, sizeof(control_path), "%s", path);
	return 0;
}

static void
control_push_stats(void)
{
	struct control_conn	*c;

	TAILQ_FOREACH(c, &control_conns, entry) {
		if (c->stream != CONTROL_STREAM_STATS || c->closing)
			continue;
		/* A reader that does not keep up is skipped, not buffered. */
		if (control_output_full(c))
			continue;
		ctlcmd_push_stats(c);
	}
}

static void
control_stats_cb(evutil_socket_t fd, short ev, void *arg)
{
	control_push_stats();
}

void
control_stream_start(struct control_conn *c, uint32_t id)
{
	struct timeval	 tv = { 1, 0 };

	c->stream = CONTROL_STREAM_STATS;
	c->stream_id = id;
	if (control_nstats++ == 0) {
		control_stats_timer = event_new(master->base, -1, EV_PERSIST,
		    control_stats_cb, NULL);
		if (control_stats_timer == NULL ||
		    event_add(control_stats_timer, &tv) == -1)
			fatalx("stats stream timer");
	}
	ctlcmd_push_stats(c);
}

/* The last stats stream gone: an idle master is not woken every second. */
static void
control_stats_stop(void)
{
	if (--control_nstats > 0)
		return;
	event_free(control_stats_timer);
	control_stats_timer = NULL;
}

/*
 * The loop is over, maybe in the very turn that queued a reply (to stop,
 * with no worker left to wait for): what c is owed goes as far as its
 * socket takes it now, without waiting. The bufferevent alone drains its
 * output, which it keeps frozen; it is freed next.
 */
static void
control_flush(struct control_conn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	evbuffer_unfreeze(out, 1);
	evbuffer_write(out, bufferevent_getfd(c->bev));
}

void
control_close(void)
{
	struct control_conn	*c;

	TAILQ_FOREACH(c, &control_conns, entry) {
		c->closing = 1;		/* none is resumed as others go */
		control_flush(c);
	}
	while ((c = TAILQ_FIRST(&control_conns)) != NULL)
		control_conn_free(c);
	if (control_refused.timer != NULL)
		event_free(control_refused.timer);
	control_refused.timer = NULL;
	if (control_listener != NULL) {
		evconnlistener_free(control_listener);
		accept_pause_clear(&control_pause);
		unlink(control_path);
	}
	control_listener = NULL;
}
