#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "http_test.h"
#include "util.h"

int
ht_listen(int *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 16) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

int
ht_connect(int port)
{
	struct sockaddr_in	 sin;
	int			 fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	/* The backlog completes the handshake without the loop running. */
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	util_set_nonblock(fd);
	return fd;
}

void
ht_sendn(int fd, const void *p, size_t len)
{
	const char	*s = p;
	ssize_t		 n;

	while (len > 0) {
		if ((n = send(fd, s, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EAGAIN) {
				struct pollfd	 pfd = { fd, POLLOUT, 0 };

				poll(&pfd, 1, 10);
				continue;
			}
			return;	/* the server closed: tests check replies */
		}
		s += n;
		len -= n;
	}
}

void
ht_send(int fd, const char *s)
{
	ht_sendn(fd, s, strlen(s));
}

static int
ht_done(const char *buf, size_t have, size_t want, const char *needle)
{
	if (needle != NULL)
		return strstr(buf, needle) != NULL;
	return have >= want;
}

size_t
ht_read(struct event_base *base, int fd, char *buf, size_t size,
    const char *needle, int ms, int *eof)
{
	uint64_t	 end = util_now_ms() + ms;
	size_t		 have = 0;
	ssize_t		 n;

	*eof = 0;
	buf[0] = '\0';
	while (util_now_ms() < end && !ht_done(buf, have, size - 1, needle)) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		n = recv(fd, buf + have, size - 1 - have, 0);
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			*eof = 1;
			break;
		}
		if (n > 0) {
			have += n;
			buf[have] = '\0';
			continue;
		}
		usleep(1000);
	}
	return have;
}

/*
 * At least one turn unless flag is set already: a process preempted past
 * the deadline before its first turn would otherwise run none, and a
 * caller would take work left undone for a state it waits for.
 */
void
ht_pump(struct event_base *base, int ms, const volatile int *flag)
{
	uint64_t	 end = util_now_ms() + ms;

	while (flag == NULL || *flag == 0) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
		if (util_now_ms() >= end)
			break;
	}
}

int
ht_count(const char *s, const char *needle)
{
	int	 n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return n;
}
