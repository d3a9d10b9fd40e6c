#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "microd/notify.h"
#include "util.h"

static int			 notify_fd = -1;
static struct sockaddr_un	 notify_sun;
static socklen_t		 notify_len;
static struct event		*notify_watchdog;
static int			 notify_failing;	/* sends failed in a row */

static void
notify_watchdog_cb(evutil_socket_t fd, short ev, void *arg)
{
	notify_send("WATCHDOG=1");
}

static void
notify_watchdog_init(struct event_base *base)
{
	const char	*usec = getenv("WATCHDOG_USEC");
	const char	*pid = getenv("WATCHDOG_PID");
	struct timeval	 tv;
	unsigned long long us;

	if (usec == NULL || (us = strtoull(usec, NULL, 10)) == 0)
		return;
	if (pid != NULL && strtol(pid, NULL, 10) != (long)getpid())
		return;
	us /= 2;
	tv.tv_sec = us / 1000000;
	tv.tv_usec = us % 1000000;
	notify_watchdog = event_new(base, -1, EV_PERSIST, notify_watchdog_cb,
	    NULL);
	event_add(notify_watchdog, &tv);
	log_info("systemd watchdog every %llu ms", us / 1000);
}

void
notify_init(struct event_base *base)
{
	const char	*path = getenv("NOTIFY_SOCKET");
	size_t		 len;

	if (path == NULL || *path == '\0')
		return;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    len >= sizeof(notify_sun.sun_path)) {
		log_warnx("ignoring NOTIFY_SOCKET=%s", path);
		return;
	}
	memset(&notify_sun, 0, sizeof(notify_sun));
	notify_sun.sun_family = AF_UNIX;
	memcpy(notify_sun.sun_path, path, len);
	if (path[0] == '@')
		notify_sun.sun_path[0] = '\0';	/* abstract namespace */
	notify_len = offsetof(struct sockaddr_un, sun_path) + len;
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd == -1) {
		log_warn("notify socket");
		return;
	}
	notify_watchdog_init(base);
}

void
notify_send(const char *fmt, ...)
{
	char	*text, msg[512];
	va_list	 ap;
	size_t	 n;
	int	 len;

	if (notify_fd == -1)
		return;
	va_start(ap, fmt);
	len = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (len == -1)
		return;
	/* A long STATUS= (a reload's error) is cut, not left unsent. */
	n = log_cut(text, (size_t)len, msg, sizeof(msg) - 1);
	msg[n] = '\0';
	free(text);
	if (sendto(notify_fd, msg, n, MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_sun, notify_len) != -1) {
		notify_failing = 0;
		return;
	}
	/*
	 * systemd waits for READY=1 until TimeoutStartSec, then kills us: the
	 * first failure in a row says why, the watchdog's repeats do not.
	 */
	if (notify_failing++ == 0)
		log_warn("sd_notify %.*s", (int)strcspn(msg, "\n"), msg);
	else
		log_debug("sd_notify %.*s: %s", (int)strcspn(msg, "\n"), msg,
		    strerror(errno));
}

void
notify_shutdown(void)
{
	if (notify_watchdog != NULL)
		event_free(notify_watchdog);
	notify_watchdog = NULL;
	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
}
