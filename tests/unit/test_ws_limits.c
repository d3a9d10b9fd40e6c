/*
 * lib/ws.c and lib/ws-out.c under backlogs: the process's bound counts
 * the memory the output buffers hold, a peer is judged alive by the
 * backlog it takes as well as by what it says, and one refused for a
 * message too big still gets the close frame. The peers are raw sockets
 * driven by the test, so it decides how fast they read.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "http.h"
#include "http_test.h"
#include "ws.h"
#include "ws-frame.h"
#include "ws-out.h"

#define WL_FRAME	100000
#define WL_MSG		10000		/* what the server sends a peer */

/* Whether the process's count covers all the memory o holds for it. */
static int
wl_counted(const struct ws_out *o, size_t before)
{
	return o->cap <= WS_OUT_KEEP || ws_out_pending_all() - before >= o->cap;
}

/*
 * A backlog of 4 MB the peer then reads down to a little: the buffer
 * shrinks with it, and while large it counts whole, not by its unsent
 * bytes (a peer that stays a little behind kept 8 MB counted as kB).
 */
static void
test_out_counts_memory(void **state)
{
	struct ws_out	 o;
	static char	 buf[65536];
	size_t		 all = ws_out_pending_all();
	int		 sv[2], small = 4096, i;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	ws_out_init(&o, NULL, 0);
	for (i = 0; i < 40; i++) {
		memset(ws_out_space(&o, WL_FRAME), 'a', WL_FRAME);
		ws_out_commit(&o, WL_FRAME);
		assert_true(wl_counted(&o, all));
	}
	assert_true(o.cap > 40 * WL_FRAME);
	while (ws_out_pending(&o) > 2 * WL_FRAME) {
		assert_int_equal(ws_out_send(&o, sv[0]), 0);
		assert_true(wl_counted(&o, all));
		/* Never more than four times what is left to send. */
		assert_true(o.cap <= WS_OUT_KEEP ||
		    o.cap <= 4 * ws_out_pending(&o));
		assert_true(read(sv[1], buf, sizeof(buf)) > 0);
	}
	ws_out_free(&o);
	assert_int_equal(ws_out_pending_all(), all);
	close(sv[0]);
	close(sv[1]);
}

/* A server on one loop; its one websocket; a raw peer. */
struct wl {
	struct event_base	*base;
	struct http_server	*srv;
	int			 port;
	struct ws		*ws;
	int			 overflows;
	int			 closed;
	uint16_t		 code;
	int			 fd;		/* the peer */
	uint8_t			 in[65536];	/* what it read, unparsed */
	size_t			 in_len;
	size_t			 got;		/* data bytes it received */
	uint16_t		 peer_code;	/* the close it received */
	int			 peer_eof;	/* 1: a FIN, -1: a reset */
};

static void
wl_overflow(struct ws *ws, void *arg)
{
	struct wl	*t = arg;

	t->overflows++;
	ws_close(ws, WS_CLOSE_POLICY, "slow");
}

static void
wl_closed(struct ws *ws, uint16_t code, void *arg)
{
	struct wl	*t = arg;

	t->closed = 1;
	t->code = code;
	t->ws = NULL;
}

static const struct ws_callbacks wl_cbs = {
	.overflow = wl_overflow,
	.closed = wl_closed,
};

static void
wl_handle(struct http_request *req, void *arg)
{
	struct wl		*t = arg;
	struct ws_limits	 l = { .max_message = 1000,
				    .max_queue_bytes = 16 * 1024 * 1024,
				    .ping_ms = 200 };
	const char		*cause;

	if (ws_upgrade_check(req, NULL, &cause) == 0)
		t->ws = ws_accept(req, &l, &wl_cbs, t, &cause);
}

static int
wl_setup(void **state)
{
	struct wl	*t = calloc(1, sizeof(*t));
	const char	*cause;
	char		 buf[512];
	int		 eof = 0;

	t->base = event_base_new();
	t->srv = http_server_new(t->base, ht_listen(&t->port), NULL,
	    wl_handle, t, &cause);
	assert_non_null(t->srv);
	t->fd = ht_connect(t->port);
	ht_send(t->fd, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: "
	    "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
	ht_read(t->base, t->fd, buf, sizeof(buf), "\r\n\r\n", 3000, &eof);
	assert_non_null(t->ws);
	*state = t;
	return 0;
}

static int
wl_teardown(void **state)
{
	struct wl	*t = *state;

	close(t->fd);
	ht_pump(t->base, 3000, &t->closed);
	http_server_free(t->srv);
	event_base_free(t->base);
	free(t);
	return 0;
}

/* n messages of WL_MSG bytes, queued at once: more than the socket takes. */
static size_t
wl_backlog(struct wl *t, int n)
{
	static char	 msg[WL_MSG];
	int		 i;

	memset(msg, 'm', sizeof(msg));
	for (i = 0; i < n; i++)
		assert_int_equal(ws_send(t->ws, 0, msg, sizeof(msg)), 0);
	return (size_t)n * WL_MSG;
}

/* The peer reads at most max bytes and answers every ping it reaches. */
static void
wl_peer_read(struct wl *t, size_t max)
{
	struct ws_frame	 f;
	const char	*cause;
	ssize_t		 n;
	size_t		 used = 0;
	int		 r;

	if (max > sizeof(t->in) - t->in_len)
		max = sizeof(t->in) - t->in_len;
	if ((n = recv(t->fd, t->in + t->in_len, max, 0)) == 0)
		t->peer_eof = 1;
	else if (n == -1 && errno != EAGAIN)
		t->peer_eof = -1;
	if (n <= 0)
		return;
	t->in_len += (size_t)n;
	while ((r = ws_frame_parse(t->in + used, t->in_len - used, 0, &f,
	    &cause)) > 0 && f.len <= t->in_len - used - f.hlen) {
		if (f.opcode == WS_OP_PING)
			ht_sendn(t->fd, "\x8a\x80\0\0\0\0", 6);
		else if (f.opcode == WS_OP_TEXT)
			t->got += f.len;
		else if (f.opcode == WS_OP_CLOSE && f.len >= 2)
			t->peer_code = t->in[used + f.hlen] << 8 |
			    t->in[used + f.hlen + 1];
		used += f.hlen + f.len;
	}
	assert_true(r >= 0);
	memmove(t->in, t->in + used, t->in_len - used);
	t->in_len -= used;
}

/*
 * A live peer that reads slowly: its pings wait behind its backlog,
 * which it takes for many ping intervals. It stays, gets it all, and
 * then the ping it answers.
 */
static void
test_slow_reader_stays(void **state)
{
	struct wl	*t = *state;
	size_t		 total;
	int		 i;

	total = wl_backlog(t, 200);
	/* At most 8 KiB every 5 ms: 2 MB take over a second, 5 intervals. */
	for (i = 0; i < 100000 && t->got < total && !t->closed; i++) {
		ht_pump(t->base, 5, NULL);
		wl_peer_read(t, 8192);
	}
	assert_false(t->closed);
	assert_int_equal(t->got, total);
	/* Three intervals more: pinged, and it answers. */
	for (i = 0; i < 120 && !t->closed; i++) {
		ht_pump(t->base, 5, NULL);
		wl_peer_read(t, 8192);
	}
	assert_false(t->closed);
	assert_int_equal(t->overflows, 0);
}

/*
 * A peer that reads nothing of its backlog: cut as a slow one, with
 * 1008 and its overflow callback, not as a lost one (1006, uncounted).
 */
static void
test_stuck_reader_is_slow(void **state)
{
	struct wl	*t = *state;

	wl_backlog(t, 200);
	ht_pump(t->base, 10000, &t->closed);
	assert_true(t->closed);
	assert_int_equal(t->overflows, 1);
	assert_int_equal(t->code, WS_CLOSE_POLICY);
}

/*
 * Two fragments past max_message together, the second still coming when
 * the server refuses it: the peer gets the close frame with 1009, then
 * the end of the stream, not a reset, which made clients that were still
 * sending lose the close frame (websockets in Python, every time).
 */
static void
test_too_big_gets_close(void **state)
{
	struct wl	*t = *state;
	static char	 msg[8 + 600 + 14 + 200000];
	int		 i;

	/* Masked with a zero key: written in clear. */
	memcpy(msg, "\x01\xfe\x02\x58\0\0\0\0", 8);
	memcpy(msg + 8 + 600, "\x80\xff\0\0\0\0\0\x03\x0d\x40\0\0\0\0",
	    14);
	/* More than one read takes: it is refused with input unread. */
	ht_sendn(t->fd, msg, sizeof(msg));
	for (i = 0; i < 3000 && !t->peer_eof; i++) {
		ht_pump(t->base, 1, NULL);
		wl_peer_read(t, sizeof(t->in));
	}
	assert_int_equal(t->peer_code, WS_CLOSE_TOO_BIG);
	assert_int_equal(t->peer_eof, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_out_counts_memory),
		cmocka_unit_test_setup_teardown(test_slow_reader_stays,
		    wl_setup, wl_teardown),
		cmocka_unit_test_setup_teardown(test_stuck_reader_is_slow,
		    wl_setup, wl_teardown),
		cmocka_unit_test_setup_teardown(test_too_big_gets_close,
		    wl_setup, wl_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
