#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "ctlclient.h"
#include "log.h"
#include "tui/conn.h"
#include "util.h"

#define CONN_READ_SIZE	65536
#define CONN_CONNECT_MS	250	/* keys and the screen wait no longer */

struct conn_pending {
	uint32_t	 id;		/* 0: free */
	conn_cb		 cb;
	void		*arg;
};

struct conn {
	int			 fd;
	uint32_t		 next_id;
	struct evbuffer		*in;
	struct evbuffer		*out;
	struct conn_pending	 pending[CONN_PENDING_MAX];
};

static char	conn_cause[512];

struct conn *
conn_open(const char *path, const char **cause)
{
	struct conn		*c;
	int			 fd;

	/*
	 * A unix connect completes at once or fails, but for a master that
	 * does not accept (its backlog full): then it waits, briefly.
	 */
	if ((fd = ctlclient_open_fd(path, CONN_CONNECT_MS, cause)) == -1)
		return NULL;
	util_set_nonblock(fd);
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->next_id = 1;
	if ((c->in = evbuffer_new()) == NULL ||
	    (c->out = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	return c;
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	free(c);
}

int
conn_fd(const struct conn *c)
{
	return c->fd;
}

short
conn_events(const struct conn *c)
{
	return POLLIN | (evbuffer_get_length(c->out) > 0 ? POLLOUT : 0);
}

void
conn_begin(struct conn *c, struct ctl_frame *f, const char *cmd,
    size_t nfields)
{
	ctl_frame_request(f, c->next_id++, cmd, nfields);
	if (c->next_id == 0)
		c->next_id = 1;
}

int
conn_send(struct conn *c, struct ctl_frame *f, conn_cb cb, void *arg)
{
	struct conn_pending	*p = NULL;
	const void		*data;
	size_t			 len, i;

	for (i = 0; i < CONN_PENDING_MAX && p == NULL; i++) {
		if (c->pending[i].id == 0)
			p = &c->pending[i];
	}
	if (p != NULL) {
		ctl_frame_end(f, &data, &len);
		evbuffer_add(c->out, data, len);
		p->id = c->next_id - 1;
		p->cb = cb;
		p->arg = arg;
	}
	ctl_frame_free(f);
	return p != NULL ? 0 : -1;
}

static void
conn_dispatch(struct conn *c, const struct ctl_msg *msg)
{
	struct conn_pending	*p;
	conn_cb			 cb;
	void			*arg;
	size_t			 i;

	for (i = 0; i < CONN_PENDING_MAX; i++) {
		p = &c->pending[i];
		if (p->id != msg->id)
			continue;
		cb = p->cb;
		arg = p->arg;
		/* A reply ends its request; a stream keeps sending events. */
		if (msg->is_reply)
			p->id = 0;
		cb(msg, arg);
		return;
	}
}

static int
conn_read(struct conn *c, const char **cause)
{
	struct ctl_msg	 msg;
	int		 n, rv;

	n = evbuffer_read(c->in, c->fd, CONN_READ_SIZE);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		*cause = "microd closed the connection";
		return -1;
	}
	while ((rv = ctl_frame_pull(c->in, &msg, cause)) == 1) {
		if (msg.id == 0 && msg.is_reply && !msg.ok)
			break;		/* about the connection: refused */
		conn_dispatch(c, &msg);
		ctl_msg_free(&msg);
	}
	if (rv == 1) {
		snprintf(conn_cause, sizeof(conn_cause), "%s", msg.error);
		ctl_msg_free(&msg);
		*cause = conn_cause;
		return -1;
	}
	if (rv == CTL_FRAME_OTHER_VERSION) {
		snprintf(conn_cause, sizeof(conn_cause), "microd speaks "
		    "control protocol version %u, micro-top speaks %u",
		    msg.version, CTL_PROTO_VERSION);
		*cause = conn_cause;
		return -1;
	}
	if (rv == -1) {
		snprintf(conn_cause, sizeof(conn_cause),
		    "bad frame from microd: %s", *cause);
		*cause = conn_cause;
		return -1;
	}
	return 0;
}

int
conn_io(struct conn *c, short revents, const char **cause)
{
	if ((revents & POLLOUT) && evbuffer_write(c->out, c->fd) == -1 &&
	    errno != EAGAIN && errno != EINTR) {
		/* Closed: a refusal it left first says why. */
		if (conn_read(c, cause) == 0)
			*cause = "microd closed the connection";
		return -1;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR))
		return conn_read(c, cause);
	return 0;
}
