/*
 * lib/ws.c, lib/sha1.c, lib/base64.c: hash and handshake vectors, then a
 * real server and client on one event loop (echo, size limit, malformed
 * frames, queue overflow, close handshake).
 */
#include "config.h"

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
	char		 big[600];

	if (len == 5 && memcmp(data, "flood", 5) == 0) {
		memset(big, 'x', sizeof(big));
		assert_int_equal(ws_send(ws, 0, big, sizeof(big)), 0);
		assert_int_equal(ws_send(ws, 0, big, sizeof(big)), -1);
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

	t->server_ws = ws_accept(req, &l, &server_cbs, t, &cause);
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
client_upgrade(struct http_creq *creq, struct bufferevent *bev, void *arg)
{
	struct wt	*t = arg;
	const char	*cause;

	t->client_ws = ws_client_open(creq, bev, t->key, NULL, &client_cbs, t,
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
	/* The close overtakes what was still queued (see ws_close). */
	assert_int_equal(t->nmsgs, 0);
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
	char		 buf[512];
	int		 fd, eof = 0;
	size_t		 n;

	fd = ht_connect(t->port);
	ht_send(fd, req);
	ht_sendn(fd, frame, 4);
	n = ht_read(t->base, fd, buf, sizeof(buf) - 1, NULL, 3000, &eof);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "101 Switching Protocols"));
	assert_non_null(strstr(buf, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	/* Then a close frame with 1002. */
	assert_non_null(memmem(buf, n, "\x88\x02\x03\xea", 4));
	ht_pump(t->base, 3000, &t->server_closed);
	assert_int_equal(t->server_code, WS_CLOSE_PROTOCOL);
	close(fd);
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
		cmocka_unit_test_setup_teardown(test_echo_and_close, wt_setup,
		    wt_teardown),
		cmocka_unit_test_setup_teardown(test_message_too_big,
		    wt_setup, wt_teardown),
		cmocka_unit_test_setup_teardown(test_overflow, wt_setup,
		    wt_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_frame,
		    wt_setup, wt_teardown),
		cmocka_unit_test_setup_teardown(test_bad_upgrade, wt_setup,
		    wt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
