/*
 * lib/ws*.c, lib/sha1.c, lib/base64.c: hash and handshake vectors, the
 * frame parser on every cut and hostile header, then a real server and
 * client on one event loop (echo, fragments, ping, size limit, malformed
 * frames, queue overflow, close handshake).
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "base64.h"
#include "http.h"
#include "http_test.h"
#include "sha1.h"
#include "ws.h"
#include "ws-frame.h"
#include "ws-out.h"

static void
hex(const uint8_t *d, size_t n, char *out)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void
sha1_of(const char *s, char *out)
{
	struct sha1	 h;
	uint8_t		 d[SHA1_DIGEST_LEN];

	sha1_init(&h);
	sha1_update(&h, s, strlen(s));
	sha1_final(&h, d);
	hex(d, sizeof(d), out);
}

static void
test_sha1_vectors(void **state)
{
	char		 out[41];
	struct sha1	 h;
	uint8_t		 d[SHA1_DIGEST_LEN];
	int		 i;

	sha1_of("", out);
	assert_string_equal(out, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	sha1_of("abc", out);
	assert_string_equal(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
	sha1_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", out);
	assert_string_equal(out, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	/* A million 'a', fed in odd pieces across block boundaries. */
	sha1_init(&h);
	for (i = 0; i < 1000000 / 125; i++)
		sha1_update(&h, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaa", 125);
	sha1_final(&h, d);
	hex(d, sizeof(d), out);
	assert_string_equal(out, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void
test_base64(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob",
	    "fooba", "foobar" };
	static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v",
	    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	char	 out[16], back[16];
	size_t	 i;

	for (i = 0; i < 7; i++) {
		base64_encode(plain[i], strlen(plain[i]), out);
		assert_string_equal(out, coded[i]);
		assert_int_equal(base64_decode(out, strlen(out), back),
		    strlen(plain[i]));
		assert_memory_equal(back, plain[i], strlen(plain[i]));
	}
	assert_int_equal(base64_decode("Zm9", 3, back), -1);
	assert_int_equal(base64_decode("Zm9*", 4, back), -1);
	assert_int_equal(base64_decode("Z=9v", 4, back), -1);
}

static void
test_accept_key(void **state)
{
	char	 out[WS_ACCEPT_LEN + 1];

	/* RFC 6455 §1.3. */
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/* Headers written by ws_frame_header parse back, cut anywhere. */
static void
test_frame_roundtrip(void **state)
{
	static const uint64_t	 lens[] = { 0, 1, 125, 126, 127, 65535,
				    65536, 0x7fffffffffffffffULL };
	static const uint8_t	 key[4] = { 0xde, 0xad, 0xbe, 0xef };
	struct ws_frame		 f;
	uint8_t			 h[WS_FRAME_HDR_MAX];
	const char		*cause;
	size_t			 i, n, cut;
	int			 masked;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (masked = 0; masked <= 1; masked++) {
			n = ws_frame_header(h, WS_OP_BINARY, lens[i],
			    masked ? key : NULL);
			for (cut = 0; cut < n; cut++)
				assert_int_equal(ws_frame_parse(h, cut, masked,
				    &f, &cause), 0);
			assert_int_equal(ws_frame_parse(h, n, masked, &f,
			    &cause), (int)n);
			assert_int_equal(f.hlen, n);
			assert_true(f.len == lens[i]);
			assert_int_equal(f.opcode, WS_OP_BINARY);
			assert_true(f.fin);
			if (masked)
				assert_memory_equal(f.mask, key, 4);
			/* The other side must refuse it. */
			assert_int_equal(ws_frame_parse(h, n, !masked, &f,
			    &cause), -1);
		}
}

static void
assert_frame_bad(const char *hdr, size_t len, int masked, const char *why)
{
	struct ws_frame	 f;
	const char	*cause = NULL;

	assert_int_equal(ws_frame_parse((const uint8_t *)hdr, len, masked, &f,
	    &cause), -1);
	assert_string_equal(cause, why);
}

static void
test_frame_hostile(void **state)
{
	assert_frame_bad("\xc1\x80", 2, 1, "reserved bits set");
	assert_frame_bad("\x83\x80", 2, 1, "unknown opcode");
	assert_frame_bad("\x8b\x80", 2, 1, "unknown opcode");
	assert_frame_bad("\x09\x80", 2, 1, "fragmented control frame");
	assert_frame_bad("\x89\xfe", 2, 1,
	    "control frame longer than 125 bytes");
	assert_frame_bad("\x81\x05", 2, 1, "client frame not masked");
	assert_frame_bad("\x81\x85", 2, 0, "server frame masked");
	/* Lengths not in their shortest form, and the top bit of 64. */
	assert_frame_bad("\x82\xfe\x00\x7d" "MASK", 8, 1,
	    "frame length not in its shortest form");
	assert_frame_bad("\x82\xff\x00\x00\x00\x00\x00\x00\xff\xff"
	    "MASK", 14, 1, "frame length not in its shortest form");
	assert_frame_bad("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00"
	    "MASK", 14, 1, "frame length not in its shortest form");
}

static void
test_frame_unmask(void **state)
{
	static const uint8_t	 key[4] = { 1, 2, 3, 4 };
	uint8_t			 buf[37], want[37];
	size_t			 i, len;

	/* Every length around the eight-byte steps. */
	for (len = 0; len <= sizeof(buf); len++) {
		for (i = 0; i < len; i++) {
			want[i] = (uint8_t)(i * 7);
			buf[i] = want[i] ^ key[i % 4];
		}
		ws_frame_unmask(buf, len, key);
		assert_memory_equal(buf, want, len);
	}
}

static void
test_frame_close_code(void **state)
{
	/* Never on the wire: 1005, 1006, 1015; unassigned: 999, 2000, 5000. */
	static const struct {
		uint16_t	 code;
		int		 ok;
	} codes[] = { { 1000, 1 }, { 1011, 1 }, { 4000, 1 }, { 1005, 0 },
	    { 1006, 0 }, { 1015, 0 }, { 999, 0 }, { 2000, 0 }, { 5000, 0 } };
	const char	*cause;
	uint8_t		 p[4] = { 0, 0, 'o', 'k' };
	uint16_t	 code;
	size_t		 i;

	assert_int_equal(ws_frame_close_code(NULL, 0, &code, &cause), 0);
	assert_int_equal(code, 1005);
	assert_int_equal(ws_frame_close_code(p, 1, &code, &cause), -1);
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		p[0] = codes[i].code >> 8;
		p[1] = codes[i].code & 0xff;
		assert_int_equal(ws_frame_close_code(p, 4, &code, &cause),
		    codes[i].ok ? 0 : -1);
		if (codes[i].ok)
			assert_int_equal(code, codes[i].code);
	}
}

#define OUT_FRAME	100000

static void
out_frames(struct ws_out *o, int n)
{
	int	 i;

	for (i = 0; i < n; i++) {
		memset(ws_out_space(o, OUT_FRAME), 'a' + i, OUT_FRAME);
		ws_out_commit(o, OUT_FRAME);
	}
}

/* Frames not started are dropped; one half sent is finished. */
static void
test_out_queue(void **state)
{
	struct ws_out	 o;
	static char	 got[5 + 30 * OUT_FRAME];
	size_t		 sent, have = 0, all = ws_out_pending_all();
	ssize_t		 n;
	int		 sv[2], small = 4096, i;

	ws_out_init(&o, NULL, 0);
	out_frames(&o, 2);
	assert_int_equal(ws_out_frames(&o), 2);
	assert_int_equal(ws_out_pending_all(), all + 2 * OUT_FRAME);
	ws_out_drop_unsent(&o);
	assert_int_equal(ws_out_pending(&o), 0);
	assert_int_equal(ws_out_frames(&o), 0);
	assert_int_equal(ws_out_pending_all(), all);
	ws_out_free(&o);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	ws_out_init(&o, "HELLO", 5);
	out_frames(&o, 3);
	assert_int_equal(ws_out_pending(&o), 5 + 3 * OUT_FRAME);
	assert_int_equal(ws_out_send(&o, sv[0]), 0);
	sent = 5 + 3 * OUT_FRAME - ws_out_pending(&o);
	/* The socket took part of the first frame only. */
	assert_true(sent > 5 && sent < 5 + OUT_FRAME);
	out_frames(&o, 27);	/* a backlog: the buffer grows past 2 MB */
	assert_int_equal(ws_out_frames(&o), 30);
	assert_true(o.cap >= 30 * OUT_FRAME);
	ws_out_drop_unsent(&o);
	assert_int_equal(ws_out_frames(&o), 0);
	assert_int_equal(ws_out_pending(&o), 5 + OUT_FRAME - sent);
	/* Its buffer goes with the backlog, not when the close is done. */
	assert_true(o.cap <= WS_OUT_KEEP);
	assert_int_equal(ws_out_pending_all(), all + ws_out_pending(&o));
	/* What arrives: the greeting and exactly the first frame. */
	for (i = 0; i < 100000 && ws_out_pending(&o) > 0; i++) {
		assert_int_equal(ws_out_send(&o, sv[0]), 0);
		if ((n = recv(sv[1], got + have, sizeof(got) - have, 0)) > 0)
			have += (size_t)n;
	}
	if ((n = recv(sv[1], got + have, sizeof(got) - have, 0)) > 0)
		have += (size_t)n;
	assert_int_equal(have, 5 + OUT_FRAME);
	assert_memory_equal(got, "HELLOaaaa", 9);
	assert_int_equal(got[have - 1], 'a');
	/* Drained: the buffer can go, and a new frame goes out whole. */
	ws_out_trim(&o);
	assert_null(o.buf);
	assert_int_equal(o.cap, 0);
	out_frames(&o, 1);
	assert_int_equal(ws_out_pending(&o), OUT_FRAME);
	/* Not while something waits in it. */
	ws_out_trim(&o);
	assert_non_null(o.buf);
	assert_int_equal(ws_out_pending(&o), OUT_FRAME);
	ws_out_free(&o);
	assert_int_equal(ws_out_pending_all(), all);
	close(sv[0]);
	close(sv[1]);
}

#define WT_FLOOD_MAX	100000	/* frames: far more than a socket takes */
#define WT_BURST	5	/* frames of 600 bytes: past a queue of 1000 */

/* One server, its websockets echoing, and one client end. */
struct wt {
	struct event_base	*base;
	struct http_server	*srv;
	struct http_client	*client;
	int			 port;
	struct ws		*server_ws;
	int			 server_closed;
	uint16_t		 server_code;
	int			 overflows;
	int			 flooded;	/* frames queued before overflowing */
	int			 bound_all;	/* the process bound, not its own */
	unsigned		 ping_ms;	/* the server's, 0: off */
	size_t			 queue_all;	/* the server's bound, or 0 */
	struct ws		*accepted[2];	/* the first server ends */
	int			 naccepted;
	struct ws		*overflowed;	/* the last one */
	struct ws		*client_ws;
	int			 client_open;
	int			 client_closed;
	uint16_t		 client_code;
	char			 got[256];
	int			 got_binary;
	int			 nmsgs;
	char			 key[WS_KEY_LEN + 1];
};

static void
server_message(struct ws *ws, int binary, const void *data, size_t len,
    void *arg)
{
	struct wt	*t = arg;
	char		 big[600];
	int		 i;

	memset(big, 'x', sizeof(big));
	/* More than the socket takes: its queue fills, then overflows. */
	if (len == 5 && memcmp(data, "flood", 5) == 0) {
		while (t->flooded < WT_FLOOD_MAX &&
		    ws_send(ws, 0, big, sizeof(big)) == 0)
			t->flooded++;
		assert_true(t->flooded < WT_FLOOD_MAX);
		return;
	}
	/* More than its queue holds in one turn: the socket takes it. */
	if (len == 5 && memcmp(data, "burst", 5) == 0) {
		for (i = 0; i < WT_BURST; i++)
			assert_int_equal(ws_send(ws, 0, big, sizeof(big)), 0);
		return;
	}
	if (len == 3 && memcmp(data, "bye", 3) == 0) {
		ws_close(ws, WS_CLOSE_NORMAL, "bye");
		return;
	}
	ws_send(ws, binary, data, len);
}

static void
server_overflow(struct ws *ws, void *arg)
{
	struct wt	*t = arg;

	t->overflows++;
	t->overflowed = ws;
	ws_close(ws, WS_CLOSE_POLICY, "slow");
}

static void
server_closed(struct ws *ws, uint16_t code, void *arg)
{
	struct wt	*t = arg;

	t->server_closed = 1;
	t->server_code = code;
	t->server_ws = NULL;
}

static const struct ws_callbacks server_cbs = {
	.message = server_message,
	.overflow = server_overflow,
	.closed = server_closed,
};

static void
server_handle(struct http_request *req, void *arg)
{
	struct wt		*t = arg;
	struct ws_limits	 l = { .max_message = 100,
				    .max_queue_bytes = 1000 };
	const char		*cause;

	l.ping_ms = t->ping_ms;
	if (t->queue_all != 0) {
		l.max_queue_bytes = 100000;
		l.max_queue_all = t->queue_all;
	}
	if (t->bound_all) {
		l.max_queue_bytes = 100000;
		l.max_queue_all = ws_out_pending_all() + 1000;
	}
	if (ws_upgrade_check(req, NULL, &cause) == 0)
		t->server_ws = ws_accept(req, &l, &server_cbs, t, &cause);
	if (t->server_ws != NULL && t->naccepted < 2)
		t->accepted[t->naccepted++] = t->server_ws;
}

static void
client_message(struct ws *ws, int binary, const void *data, size_t len,
    void *arg)
{
	struct wt	*t = arg;

	t->nmsgs++;
	t->got_binary = binary;
	snprintf(t->got, sizeof(t->got), "%.*s", (int)len, (const char *)data);
}

static void
client_closed(struct ws *ws, uint16_t code, void *arg)
{
	struct wt	*t = arg;

	t->client_closed = 1;
	t->client_code = code;
	t->client_ws = NULL;
}

static const struct ws_callbacks client_cbs = {
	.message = client_message,
	.closed = client_closed,
};

static void
client_upgrade(struct http_creq *creq, struct stream *s, void *arg)
{
	struct wt	*t = arg;
	const char	*cause;

	t->client_ws = ws_client_open(creq, s, t->key, NULL, &client_cbs, t,
	    &cause);
	assert_non_null(t->client_ws);
	t->client_open = 1;
}

static int
wt_setup(void **state)
{
	struct wt	*t = calloc(1, sizeof(*t));
	const char	*cause;
	int		 fd;

	t->base = event_base_new();
	fd = ht_listen(&t->port);
	t->srv = http_server_new(t->base, fd, NULL, server_handle, t, &cause);
	assert_non_null(t->srv);
	t->client = http_client_new(t->base, NULL);
	*state = t;
	return 0;
}

static int
wt_teardown(void **state)
{
	struct wt	*t = *state;

	http_client_free(t->client);
	http_server_free(t->srv);
	event_base_free(t->base);
	free(t);
	return 0;
}

static void
wt_connect(struct wt *t)
{
	struct http_creq	*creq;
	char			 addr[32];
	const char		*cause;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", t->port);
	creq = http_creq_new(t->client, "GET", addr, "/ws", &cause);
	ws_client_prepare(creq, t->key);
	http_creq_set_upgrade_cb(creq, client_upgrade);
	http_creq_set_done_cb(creq, NULL, t);
	http_creq_start(creq);
	ht_pump(t->base, 3000, (volatile int *)&t->client_open);
	assert_non_null(t->client_ws);
	assert_non_null(t->server_ws);
}

static void
test_echo_and_close(void **state)
{
	struct wt	*t = *state;

	wt_connect(t);
	assert_int_equal(ws_send(t->client_ws, 0, "hello", 5), 0);
	ht_pump(t->base, 2000, &t->nmsgs);
	assert_string_equal(t->got, "hello");
	assert_int_equal(t->got_binary, 0);
	t->nmsgs = 0;
	assert_int_equal(ws_send(t->client_ws, 1, "b\x01", 2), 0);
	ht_pump(t->base, 2000, &t->nmsgs);
	assert_int_equal(t->got_binary, 1);
	assert_string_equal(t->got, "b\x01");
	ws_send(t->client_ws, 0, "bye", 3);
	ht_pump(t->base, 3000, &t->client_closed);
	assert_true(t->client_closed);
	assert_int_equal(t->client_code, WS_CLOSE_NORMAL);
	ht_pump(t->base, 3000, &t->server_closed);
	assert_true(t->server_closed);
}

static void
test_message_too_big(void **state)
{
	struct wt	*t = *state;
	char		 big[101];

	wt_connect(t);
	memset(big, 'y', sizeof(big));
	assert_int_equal(ws_send(t->client_ws, 0, big, sizeof(big)), 0);
	ht_pump(t->base, 3000, &t->client_closed);
	assert_true(t->client_closed);
	assert_int_equal(t->client_code, WS_CLOSE_TOO_BIG);
	assert_int_equal(t->nmsgs, 0);
}

static void
test_overflow(void **state)
{
	struct wt	*t = *state;

	wt_connect(t);
	ws_send(t->client_ws, 0, "flood", 5);
	ht_pump(t->base, 3000, &t->client_closed);
	assert_int_equal(t->overflows, 1);
	assert_true(t->client_closed);
	assert_int_equal(t->client_code, WS_CLOSE_POLICY);
	/* What the socket took arrives, then the close (see ws_close). */
	assert_true(t->nmsgs > 0 && t->nmsgs <= t->flooded);
}

/*
 * One turn queues more for a peer than its queue holds, all of which its
 * socket takes: it is not slow (it was cut before any write).
 */
static void
test_burst_is_written_not_cut(void **state)
{
	struct wt	*t = *state;
	int		 i;

	wt_connect(t);
	ws_send(t->client_ws, 0, "burst", 5);
	for (i = 0; i < 3000 && t->nmsgs < WT_BURST; i++)
		ht_pump(t->base, 1, NULL);
	assert_int_equal(t->nmsgs, WT_BURST);
	assert_int_equal(t->overflows, 0);
	assert_false(t->client_closed);
}

/* The same with room in its own queue, none in the process's. */
static void
test_overflow_all(void **state)
{
	struct wt	*t = *state;

	t->bound_all = 1;
	wt_connect(t);
	ws_send(t->client_ws, 0, "flood", 5);
	ht_pump(t->base, 3000, &t->client_closed);
	assert_int_equal(t->overflows, 1);
	assert_int_equal(t->client_code, WS_CLOSE_POLICY);
}

/*
 * A client that answers every ping and says nothing else stays: its pong
 * to one tick's ping leaves it quiet for a hair under an interval at the
 * next, which must ping it anyway, or the one after finds it quiet for
 * two and cuts it (it did, every other cycle).
 */
static void
test_ping_answered_stays(void **state)
{
	struct wt	*t = *state;

	t->ping_ms = 50;
	wt_connect(t);
	ht_pump(t->base, 1000, &t->server_closed);
	assert_false(t->server_closed);
	assert_false(t->client_closed);
}

/* A peer that upgrades and then never reads: its ws, its socket in *fd. */
static struct ws *
wt_silent_peer(struct wt *t, int *fd)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	int			 n = t->naccepted, i, small = 4096;

	/*
	 * Its receive buffer small and fixed (no autotuning): a queue that
	 * looks full stays full, however late the kernel acknowledges.
	 */
	assert_true((*fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(setsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &small,
	    sizeof(small)), 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(t->port);
	assert_int_equal(connect(*fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ht_send(*fd, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: "
	    "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
	for (i = 0; i < 3000 && t->naccepted == n; i++)
		ht_pump(t->base, 1, NULL);
	assert_int_equal(t->naccepted, n + 1);
	return t->accepted[n];
}

/*
 * A peer that never reads (wt_silent_peer), under its own bound only:
 * sent 10000-byte messages, each written by a turn of the loop, until
 * its socket takes no more, then 8 more, queued, not sent: the loop does
 * not run between the sends.
 */
static struct ws *
wt_backlogged_peer(struct wt *t, int *fd)
{
	struct ws	*ws;
	char		 chunk[10000];
	size_t		 before;
	int		 i;

	t->queue_all = SIZE_MAX / 2;
	ws = wt_silent_peer(t, fd);
	memset(chunk, 'b', sizeof(chunk));
	do {
		before = ws_out_pending_all();
		assert_int_equal(ws_send(ws, 0, chunk, sizeof(chunk)), 0);
		ht_pump(t->base, 1, NULL);
	} while (ws_out_pending_all() <= before);
	for (i = 0; i < 8; i++)
		assert_int_equal(ws_send(ws, 0, chunk, sizeof(chunk)), 0);
	return ws;
}

/*
 * The process's queues together are full, and the peer furthest behind
 * only looks it: a backlog queued in one turn, that its socket takes.
 * What its socket takes leaves first, which makes the room: it was cut.
 */
static void
test_overflow_all_writes_the_slowest_first(void **state)
{
	struct wt	*t = *state;
	struct ws	*behind;
	char		 chunk[10000], buf[65536];
	int		 fd, i;

	behind = wt_backlogged_peer(t, &fd);
	/* Full once the backlog has company; its socket full meanwhile. */
	t->bound_all = 1;
	wt_connect(t);
	/* Its socket empties, the loop not told: its queue looks stuck. */
	while (poll(&(struct pollfd){ fd, POLLIN, 0 }, 1, 100) == 1)
		assert_true(read(fd, buf, sizeof(buf)) > 0);
	/*
	 * Past the bound by 1000 bytes: what the emptied socket takes of
	 * the backlog makes the room, however little more it takes.
	 */
	memset(chunk, 'f', 2000);
	assert_int_equal(ws_send(t->server_ws, 0, chunk, 2000), 0);
	assert_int_equal(ws_send(behind, 0, "x", 1), 0);
	for (i = 0; i < 3000 && t->nmsgs < 1; i++)
		ht_pump(t->base, 1, NULL);
	assert_int_equal(t->nmsgs, 1);
	assert_int_equal(t->got[0], 'f');
	assert_int_equal(t->overflows, 0);
	close(fd);
}

/*
 * The process's queues together are full: the peer furthest behind is
 * cut, not the one the next message is for, who keeps up (it was cut),
 * once its socket takes no more of its backlog (it was cut first).
 */
static void
test_overflow_all_cuts_the_slowest(void **state)
{
	struct wt	*t = *state;
	struct ws	*slow;
	char		 chunk[10000];
	int		 fd, i;

	slow = wt_backlogged_peer(t, &fd);
	/* Full once the slow peer's backlog has company. */
	t->queue_all = ws_out_pending_all() + 5000;
	wt_connect(t);
	memset(chunk, 'f', sizeof(chunk));
	for (i = 0; i < 7; i++)
		assert_int_equal(ws_send(t->server_ws, 0, chunk,
		    sizeof(chunk)), 0);
	/* Cut: it takes no more, and its overflow comes from the loop. */
	assert_int_equal(ws_send(slow, 0, "x", 1), -1);
	assert_int_equal(t->overflows, 0);
	for (i = 0; i < 3000 && t->nmsgs < 7; i++)
		ht_pump(t->base, 1, NULL);
	assert_int_equal(t->got[0], 'f');
	assert_int_equal(t->overflows, 1);
	assert_ptr_equal(t->overflowed, slow);
	assert_false(t->client_closed);
	close(fd);
}

/* Raw bytes: a client frame without mask violates RFC 6455 §5.1. */
static void
test_malformed_frame(void **state)
{
	struct wt	*t = *state;
	static const char req[] = "GET /ws HTTP/1.1\r\nHost: x\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n";
	static const char frame[] = "\x81\x02hi";
	char		 buf[512], *cf;
	int		 fd, eof = 0;
	size_t		 n;

	fd = ht_connect(t->port);
	ht_send(fd, req);
	ht_sendn(fd, frame, 4);
	n = ht_read(t->base, fd, buf, sizeof(buf) - 1, NULL, 3000, &eof);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "101 Switching Protocols"));
	assert_non_null(strstr(buf, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	/* Then a close frame with 1002 and the reason. */
	cf = memmem(buf, n, "\r\n\r\n\x88", 5);
	assert_non_null(cf);
	assert_memory_equal(cf + 6, "\x03\xea" "client frame not masked",
	    25);
	assert_int_equal(cf[5], 25);
	ht_pump(t->base, 3000, &t->server_closed);
	assert_int_equal(t->server_code, WS_CLOSE_PROTOCOL);
	close(fd);
}

/*
 * Raw client: upgrade, send bytes (frames masked with a zero key, so
 * written in clear), read until the server hangs up, and walk what it
 * sent with the parser: the text messages into texts, the close code.
 */
static uint16_t
raw_session(struct wt *t, const char *bytes, size_t len, char *texts,
    size_t size)
{
	static const char req[] = "GET /ws HTTP/1.1\r\nHost: x\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n";
	struct ws_frame	 f;
	char		 buf[4096], *p, *end;
	const char	*cause;
	uint16_t	 code = 0;
	int		 fd, eof = 0;

	fd = ht_connect(t->port);
	ht_send(fd, req);
	ht_sendn(fd, bytes, len);
	end = buf + ht_read(t->base, fd, buf, sizeof(buf), NULL, 3000, &eof);
	close(fd);
	assert_true(eof);
	p = memmem(buf, (size_t)(end - buf), "\r\n\r\n", 4);
	assert_non_null(p);
	texts[0] = '\0';
	for (p += 4; p < end; p += f.hlen + f.len) {
		assert_true(ws_frame_parse((uint8_t *)p, (size_t)(end - p), 0,
		    &f, &cause) > 0);
		assert_true(f.len <= (uint64_t)(end - p) - f.hlen);
		if (f.opcode == WS_OP_CLOSE)
			code = (uint16_t)((uint8_t)p[2] << 8 | (uint8_t)p[3]);
		else if (f.opcode == WS_OP_TEXT || f.opcode == WS_OP_PONG)
			snprintf(texts + strlen(texts), size - strlen(texts),
			    "%s%.*s;", f.opcode == WS_OP_PONG ? "pong:" : "",
			    (int)f.len, p + f.hlen);
	}
	return code;
}

#define RAW(s)	(s), sizeof(s) - 1

/* A ping between two fragments is answered; the message comes whole. */
static void
test_fragments_and_ping(void **state)
{
	struct wt	*t = *state;
	char		 texts[256];

	assert_int_equal(raw_session(t, RAW("\x01\x83\0\0\0\0hel"
	    "\x89\x82\0\0\0\0pi" "\x00\x81\0\0\0\0l" "\x80\x81\0\0\0\0o"
	    "\x88\x82\0\0\0\0\x03\xe8"), texts, sizeof(texts)),
	    WS_CLOSE_NORMAL);
	assert_string_equal(texts, "pong:pi;hello;");
	assert_int_equal(t->server_code, WS_CLOSE_NORMAL);
}

/* Message rules the frame header alone cannot check. */
static void
test_bad_sequences(void **state)
{
	struct wt	*t = *state;
	char		 texts[256], big[2 * (8 + 60)];

	assert_int_equal(raw_session(t, RAW("\x80\x81\0\0\0\0x"), texts,
	    sizeof(texts)), WS_CLOSE_PROTOCOL);
	assert_int_equal(raw_session(t, RAW("\x01\x81\0\0\0\0a"
	    "\x81\x81\0\0\0\0b"), texts, sizeof(texts)), WS_CLOSE_PROTOCOL);
	assert_int_equal(raw_session(t, RAW("\x88\x82\0\0\0\0\x03\xed"),
	    texts, sizeof(texts)), WS_CLOSE_PROTOCOL);
	/* Two fragments of 60 bytes: past max_message (100) together. */
	memset(big, 'z', sizeof(big));
	memcpy(big, "\x01\xbc\0\0\0\0", 6);
	memcpy(big + 66, "\x80\xbc\0\0\0\0", 6);
	assert_int_equal(raw_session(t, big, 6 + 60 + 6 + 60, texts,
	    sizeof(texts)), WS_CLOSE_TOO_BIG);
	assert_string_equal(texts, "");
}

static void
test_bad_upgrade(void **state)
{
	struct wt	*t = *state;
	char		 buf[1024];
	int		 fd, eof = 0;
	size_t		 n;

	fd = ht_connect(t->port);
	ht_send(fd, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: short\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n");
	n = ht_read(t->base, fd, buf, sizeof(buf) - 1, "\r\n\r\n", 3000, &eof);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "HTTP/1.1 400"));
	close(fd);
	fd = ht_connect(t->port);
	ht_send(fd, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: "
	    "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
	n = ht_read(t->base, fd, buf, sizeof(buf) - 1, "\r\n\r\n", 3000, &eof);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "HTTP/1.1 426"));
	assert_non_null(strstr(buf, "Sec-WebSocket-Version: 13"));
	close(fd);
	assert_null(t->server_ws);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha1_vectors),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_accept_key),
		cmocka_unit_test(test_frame_roundtrip),
		cmocka_unit_test(test_frame_hostile),
		cmocka_unit_test(test_frame_unmask),
		cmocka_unit_test(test_frame_close_code),
		cmocka_unit_test(test_out_queue),
		cmocka_unit_test_setup_teardown(test_echo_and_close, wt_setup,
		    wt_teardown),
		cmocka_unit_test_setup_teardown(test_message_too_big,
		    wt_setup, wt_teardown),
		cmocka_unit_test_setup_teardown(test_overflow_all, wt_setup,
		    wt_teardown),
		cmocka_unit_test_setup_teardown(test_overflow, wt_setup,
		    wt_teardown),
		cmocka_unit_test_setup_teardown(test_burst_is_written_not_cut,
		    wt_setup, wt_teardown),
		cmocka_unit_test_setup_teardown(
		    test_overflow_all_writes_the_slowest_first, wt_setup,
		    wt_teardown),
		cmocka_unit_test_setup_teardown(test_overflow_all_cuts_the_slowest,
		    wt_setup, wt_teardown),
		cmocka_unit_test_setup_teardown(test_ping_answered_stays,
		    wt_setup, wt_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_frame,
		    wt_setup, wt_teardown),
		cmocka_unit_test_setup_teardown(test_fragments_and_ping,
		    wt_setup, wt_teardown),
		cmocka_unit_test_setup_teardown(test_bad_sequences,
		    wt_setup, wt_teardown),
		cmocka_unit_test_setup_teardown(test_bad_upgrade, wt_setup,
		    wt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
