/*
 * Event-loop helpers of the harnesses that feed a socket (fuzz.h).
 */
#include "config.h"

#include <sys/socket.h>

#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "fuzz.h"
#include "log.h"
#include "util.h"
#include "ws.h"

/* Turns of the loop a peer's EOF may take to be noticed. */
#define FUZZ_TURNS_MAX	1000
/* At most this many slices per input, so large inputs stay fast. */
#define FUZZ_SLICES_MAX	32

struct event_base *
fuzz_base(void)
{
	static struct event_base	*base;

	if (base == NULL) {
		log_init("fuzz", LOG_LEVEL_ERR);
		if ((base = event_base_new()) == NULL)
			fatalx("event_base_new");
	}
	return base;
}

void
fuzz_socketpair(int *fds)
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == -1)
		fatal("socketpair");
	if (util_set_nonblock(fds[0]) == -1 || util_set_nonblock(fds[1]) == -1)
		fatal("fcntl");
}

static void
fuzz_turn(int fd)
{
	char	 buf[16384];

	event_base_loop(fuzz_base(), EVLOOP_NONBLOCK);
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		continue;
}

static size_t
fuzz_slice(const uint8_t *data, size_t size)
{
	size_t	 n = 1 + util_fnv1a(UTIL_FNV_BASIS, data, size) % 64;

	return n < size / FUZZ_SLICES_MAX ? size / FUZZ_SLICES_MAX + 1 : n;
}

int
fuzz_feed(int fd, const uint8_t *data, size_t size, int (*done)(void *),
    void *arg)
{
	size_t	 slice = fuzz_slice(data, size), off, n;
	ssize_t	 w;
	int	 turns;

	for (off = 0; off < size; off += w) {
		n = size - off < slice ? size - off : slice;
		if ((w = send(fd, data + off, n, MSG_NOSIGNAL)) <= 0)
			break;	/* closed on us, or full: enough */
		fuzz_turn(fd);
	}
	shutdown(fd, SHUT_WR);
	for (turns = 0; turns < FUZZ_TURNS_MAX; turns++) {
		if (done(arg))
			return 0;
		fuzz_turn(fd);
	}
	return done(arg) ? 0 : -1;
}

static void
fuzz_ws_echo_message(struct ws *ws, int binary, const void *p, size_t n,
    void *arg)
{
	ws_send(ws, binary, p, n);
}

static void
fuzz_ws_echo_closed(struct ws *ws, uint16_t code, void *arg)
{
	(*(int *)arg)--;
}

const struct ws_callbacks fuzz_ws_echo = {
	.message = fuzz_ws_echo_message,
	.closed = fuzz_ws_echo_closed,
};
const struct ws_limits fuzz_ws_limits = { 4096, 8, 16384, 0, 0 };
