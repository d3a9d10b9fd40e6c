/*
 * Listening sockets. The master binds them before forking so that a dying
 * worker or a reload never closes a port: workers inherit the descriptor.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "microd/master.h"
#include "util.h"

#define LISTEN_BACKLOG	1024

/* The caller tells EADDRINUSE apart. */
static void
listen_close_keeping_errno(int fd)
{
	int	 saved = errno;

	close(fd);
	errno = saved;
}

int
listen_open(struct listener *l, const char *spec, const char **cause)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, on = 1;

	if (util_parse_addr(spec, &ss, &len, cause) == -1)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		*cause = strerror(errno);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		*cause = strerror(errno);
		listen_close_keeping_errno(fd);
		return -1;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		*cause = strerror(errno);
		close(fd);
		return -1;
	}
	l->fd = fd;
	snprintf(l->spec, sizeof(l->spec), "%s", spec);
	util_format_addr((struct sockaddr *)&ss, l->addr, sizeof(l->addr));
	return 0;
}

void
listen_close(struct listener *l)
{
	if (l->fd != -1)
		close(l->fd);
	l->fd = -1;
	l->spec[0] = '\0';
	l->addr[0] = '\0';
}
