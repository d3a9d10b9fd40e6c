#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "ctlclient.h"
#include "log.h"
#include "util.h"

#define CTLCLIENT_READ_SIZE	65536

struct ctlclient {
	int		 fd;
	struct evbuffer	*in;
	uint32_t	 next_id;	/* of the next request */
	unsigned int	 timeout_ms;
};

/* For causes that name the socket or carry an errno text. */
static char	ctlclient_cause[512];

static const char *ctlclient_fmt(const char *, ...)
	    __attribute__((format(printf, 1, 2)));

static const char *
ctlclient_fmt(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(ctlclient_cause, sizeof(ctlclient_cause), fmt, ap);
	va_end(ap);
	return ctlclient_cause;
}

const char *
ctlclient_default_path(void)
{
	const char	*path;

	if ((path = getenv("MICROD_SOCKET")) != NULL && *path != '\0')
		return path;
	return CTLCLIENT_DEFAULT_SOCKET;
}

/* connect(2) failed: say why in the words of someone running microctl. */
static const char *
ctlclient_connect_cause(const char *path, int error)
{
	struct stat	 sb;

	switch (error) {
	case ENOENT:
		return ctlclient_fmt("microd is not running (no socket at %s)",
		    path);
	case ECONNREFUSED:
		if (stat(path, &sb) == 0 && !S_ISSOCK(sb.st_mode))
			return ctlclient_fmt("%s is not a socket", path);
		return ctlclient_fmt("microd is not running (stale socket %s)",
		    path);
	case EACCES:
		return ctlclient_fmt("permission denied on %s", path);
	case EAGAIN:
		return ctlclient_fmt("microd does not accept connections on %s"
		    " (timed out)", path);
	default:
		return ctlclient_fmt("cannot connect to %s: %s", path,
		    strerror(error));
	}
}

int
ctlclient_open_fd(const char *path, unsigned timeout_ms, const char **cause)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv;
	int			 fd, error;

	/* "" would name a Linux abstract socket any local user may bind. */
	if (*path == '\0') {
		*cause = "the socket path is empty";
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*cause = ctlclient_fmt("socket path too long (at most %zu "
		    "bytes): %s", sizeof(sun.sun_path) - 1, path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		*cause = ctlclient_fmt("socket: %s", strerror(errno));
		return -1;
	}
	/* A master too busy to accept must not hang connect(2) either. */
	tv = util_timeval(timeout_ms);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		error = errno;
		close(fd);
		*cause = ctlclient_connect_cause(path, error);
		return -1;
	}
	return fd;
}

struct ctlclient *
ctlclient_connect(const char *path, const char **cause)
{
	struct ctlclient	*c;
	int			 fd;

	if ((fd = ctlclient_open_fd(path, CTLCLIENT_TIMEOUT_MS, cause)) == -1)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	if ((c->in = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	c->next_id = 1;
	c->timeout_ms = CTLCLIENT_TIMEOUT_MS;
	return c;
}

void
ctlclient_set_timeout(struct ctlclient *c, unsigned int ms)
{
	c->timeout_ms = ms;
}

void
ctlclient_free(struct ctlclient *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	evbuffer_free(c->in);
	free(c);
}

uint32_t
ctlclient_begin(struct ctlclient *c, struct ctl_frame *f, const char *cmd,
    size_t nfields)
{
	uint32_t	 id = c->next_id++;

	ctl_frame_request(f, id, cmd, nfields);
	return id;
}

/* Wait until fd is ready for events or the deadline passes. */
static int
ctlclient_wait(struct ctlclient *c, short events, uint64_t deadline,
    const char **cause)
{
	struct pollfd	 pfd = { .fd = c->fd, .events = events };
	uint64_t	 now;
	int		 n;

	for (;;) {
		if ((now = util_now_ms()) >= deadline) {
			*cause = "microd did not answer in time";
			return -1;
		}
		n = poll(&pfd, 1, (int)(deadline - now));
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR) {
			*cause = ctlclient_fmt("poll: %s", strerror(errno));
			return -1;
		}
	}
}

/*
 * The master closed before taking the request: an error reply (ID 0) it
 * left first says why (too many connections, a peer it does not serve).
 * The socket is at its end: reading it cannot block.
 */
static const char *
ctlclient_closed(struct ctlclient *c)
{
	struct ctl_msg	 msg;
	const char	*cause = "microd closed the connection", *ignored;

	while (evbuffer_read(c->in, c->fd, CTLCLIENT_READ_SIZE) > 0)
		;
	if (ctl_frame_pull(c->in, &msg, &ignored) == 1) {
		if (msg.is_reply && !msg.ok)
			cause = ctlclient_fmt("%s", msg.error);
		ctl_msg_free(&msg);
	}
	return cause;
}

int
ctlclient_send(struct ctlclient *c, struct ctl_frame *f, const char **cause)
{
	const unsigned char	*p;
	const void		*data;
	uint64_t		 deadline;
	size_t			 len;
	ssize_t			 n;
	int			 rv = 0;

	deadline = util_now_ms() + c->timeout_ms;
	ctl_frame_end(f, &data, &len);
	for (p = data; len > 0 && rv == 0; p += n, len -= n) {
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0)
			continue;
		n = 0;
		if (errno == EAGAIN || errno == EINTR)
			rv = ctlclient_wait(c, POLLOUT, deadline, cause);
		else {
			*cause = errno == EPIPE || errno == ECONNRESET ?
			    ctlclient_closed(c) :
			    ctlclient_fmt("send: %s", strerror(errno));
			rv = -1;
		}
	}
	ctl_frame_free(f);
	return rv;
}

/* Read more bytes into c->in; -1 on EOF, error or timeout. */
static int
ctlclient_fill(struct ctlclient *c, uint64_t deadline, const char **cause)
{
	int	 n;

	for (;;) {
		if (ctlclient_wait(c, POLLIN, deadline, cause) == -1)
			return -1;
		n = evbuffer_read(c->in, c->fd, CTLCLIENT_READ_SIZE);
		if (n > 0)
			return 0;
		if (n == 0 || errno == ECONNRESET) {
			*cause = "microd closed the connection";
			return -1;
		}
		if (errno != EINTR && errno != EAGAIN) {
			*cause = ctlclient_fmt("read: %s", strerror(errno));
			return -1;
		}
	}
}

static int
ctlclient_pulled(struct ctl_msg *msg, int rv, const char **cause)
{
	if (rv == CTL_FRAME_OTHER_VERSION) {
		*cause = ctlclient_fmt("microd speaks control protocol version "
		    "%u, microctl speaks %u", msg->version, CTL_PROTO_VERSION);
		return -1;
	}
	if (rv == -1) {
		*cause = ctlclient_fmt("bad frame from microd: %s", *cause);
		return -1;
	}
	if (msg->is_reply && !msg->ok) {
		*cause = msg->error;
		return -1;
	}
	return 0;
}

int
ctlclient_recv(struct ctlclient *c, struct ctl_msg *msg, const char **cause)
{
	uint64_t	 deadline;
	int		 rv;

	deadline = util_now_ms() + c->timeout_ms;
	while ((rv = ctl_frame_pull(c->in, msg, cause)) == 0) {
		if (ctlclient_fill(c, deadline, cause) == -1)
			return -1;
	}
	return ctlclient_pulled(msg, rv, cause);
}

int
ctlclient_call(struct ctlclient *c, struct ctl_frame *f, struct ctl_msg *msg,
    const char **cause)
{
	uint32_t	 id = c->next_id - 1;

	memset(msg, 0, sizeof(*msg));
	if (ctlclient_send(c, f, cause) == -1)
		return -1;
	for (;;) {
		if (ctlclient_recv(c, msg, cause) == -1)
			return -1;
		if (msg->is_reply)
			break;
		/* An event of the stream this request has just ended. */
		ctl_msg_free(msg);
	}
	if (msg->id != id) {
		*cause = "microd answered another request";
		return -1;
	}
	return 0;
}
