#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "counters.h"
#include "http-int.h"	/* HTTP_DRAIN_GRACE_MS, HTTP_OUTPUT_HIGH */
#include "http_test.h"
#include "log.h"
#include "stream.h"
#include "util.h"

#define MAX_DEFERRED	8

struct ht {
	struct event_base	*base;
	struct http_server	*srv;
	struct micro_counters	 counters;
	int			 port;
	struct http_request	*deferred[MAX_DEFERRED];
	int			 ndeferred;
	int			 cancelled;
	struct stream		*hijacked;
	char			 leftover[64];
	size_t			 streamed;
	int			 pause_body;
	struct http_request	*paused;
	int			 drained;
	size_t			 big;		/* of a /big reply */
	int			 nbig;
	size_t			 big_queued;	/* most output a /big found */
	char			 buf[256 * 1024];
};

static char	 big_body[2 * 1024 * 1024];

static void
test_cancel(struct http_request *req, void *arg)
{
	struct ht	*t = arg;

	t->cancelled++;
}

static void
test_upgrade(struct http_request *req, struct ht *t)
{
	struct evbuffer	*in;
	size_t		 n;

	if ((t->hijacked = http_request_hijack(req)) == NULL)
		return;
	/* Ours now: the server set no callbacks and reads nothing more. */
	stream_enable(t->hijacked, STREAM_READ | STREAM_WRITE);
	in = stream_input(t->hijacked);
	n = evbuffer_remove(in, t->leftover, sizeof(t->leftover) - 1);
	t->leftover[n] = '\0';
	evbuffer_add_printf(stream_output(t->hijacked),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\n"
	    "Connection: Upgrade\r\n\r\nwelcome");
}

static void
test_host(struct http_request *req)
{
	const char	*host = http_request_header(req, "Host");

	http_reply(req, 200, "text/plain", host, strlen(host));
}

static void
test_big(struct http_request *req, struct ht *t)
{
	size_t	 queued = http_reply_pending(req);

	t->nbig++;
	if (queued > t->big_queued)
		t->big_queued = queued;
	memset(big_body, 'b', t->big);
	http_reply(req, 200, "application/octet-stream", big_body, t->big);
}

static void
test_handler(struct http_request *req, void *arg)
{
	struct ht	*t = arg;
	const char	*path = http_request_path(req);
	char		*v;

	if (strcmp(path, "/healthz") == 0)
		http_reply(req, 200, "text/plain", "ok", 2);
	else if (strcmp(path, "/echo") == 0)
		http_reply_buffer(req, 200, "application/octet-stream",
		    http_request_body(req));
	else if (strcmp(path, "/defer") == 0) {
		t->deferred[t->ndeferred++] = req;
		http_request_set_cancel_cb(req, test_cancel, t);
	} else if (strcmp(path, "/stream") == 0) {
		http_reply_start(req, 200);
		http_reply_chunk(req, "hello ", 6);
		http_reply_chunk(req, "world", 5);
		http_reply_end(req);
	} else if (strcmp(path, "/upgrade") == 0)
		test_upgrade(req, t);
	else if (strcmp(path, "/query") == 0) {
		v = http_request_query_param(req, "name");
		http_reply(req, 200, "text/plain", v ? v : "(none)",
		    strlen(v ? v : "(none)"));
		free(v);
	} else if (strcmp(path, "/host") == 0)
		test_host(req);
	else if (strcmp(path, "/error") == 0)
		http_reply_error(req, 500, NULL, "boom \"x\"");
	else if (strcmp(path, "/big") == 0)
		test_big(req, t);
	else
		http_reply_error(req, 404, NULL, "not found");
}

static void
test_body(struct http_request *req, struct evbuffer *buf, int done,
    void *arg)
{
	struct ht	*t = arg;
	char		 num[32];

	t->streamed += evbuffer_get_length(buf);
	evbuffer_drain(buf, evbuffer_get_length(buf));
	if (t->pause_body && t->paused == NULL && !done) {
		http_request_pause_body(req, 1);
		t->paused = req;
	}
	if (done) {
		snprintf(num, sizeof(num), "%zu", t->streamed);
		http_reply(req, 200, "text/plain", num, strlen(num));
	}
}

static void
test_head_handler(struct http_request *req, void *arg)
{
	const char	*path = http_request_path(req);

	if (strcmp(path, "/upload") == 0)
		http_request_stream_body(req, test_body, arg);
	else if (strcmp(path, "/early") == 0)
		http_reply(req, 403, "text/plain", "no", 2);
}

static struct ht *
ht_start(const struct http_limits *limits)
{
	struct ht	*t = calloc(1, sizeof(*t));
	const char	*cause;
	int		 fd;

	assert_non_null(t);
	t->base = event_base_new();
	fd = ht_listen(&t->port);
	assert_true(fd >= 0);
	t->srv = http_server_new(t->base, fd, limits, test_handler, t, &cause);
	assert_non_null(t->srv);
	http_server_set_head_handler(t->srv, test_head_handler);
	http_server_set_counters(t->srv, &t->counters);
	return t;
}

static int
setup(void **state)
{
	struct http_limits	 l = {
		.max_header_size = 1024, .max_body_size = 4096,
		.read_timeout_ms = 300, .idle_timeout_ms = 300,
		.max_connections = 8,
	};

	*state = ht_start(&l);
	return 0;
}

static int
teardown(void **state)
{
	struct ht	*t = *state;

	http_server_free(t->srv);
	if (t->hijacked != NULL)
		stream_free(t->hijacked);
	event_base_free(t->base);
	free(t);
	return 0;
}

/* Send req on fd and read until needle; returns the bytes. */
static char *
ht_ask(struct ht *t, int fd, const char *req, const char *needle, int *eof)
{
	if (req != NULL)
		ht_send(fd, req);
	ht_read(t->base, fd, t->buf, sizeof(t->buf), needle, 2000, eof);
	return t->buf;
}

/* req on a connection of its own: what came back before needle or EOF. */
static char *
ht_ask_once(struct ht *t, const char *req, const char *needle)
{
	int	 fd = ht_connect(t->port), eof;

	ht_ask(t, fd, req, needle, &eof);
	close(fd);
	return t->buf;
}

/*
 * Read and drop what fd gets, at most per_turn bytes every pace_ms (a slow
 * reader), until want bytes, EOF, or ms pass; the bytes read.
 */
static size_t
ht_slurp(struct ht *t, int fd, size_t want, size_t per_turn, int pace_ms,
    int ms, int *eof)
{
	uint64_t	 end = util_now_ms() + ms;
	size_t		 have = 0;
	ssize_t		 n;

	*eof = 0;
	if (per_turn > sizeof(t->buf))
		per_turn = sizeof(t->buf);
	while (have < want && util_now_ms() < end) {
		ht_pump(t->base, pace_ms, NULL);
		n = recv(fd, t->buf, per_turn, 0);
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			*eof = 1;
			break;
		}
		if (n > 0)
			have += n;
	}
	return have;
}

/* With small socket buffers both ends, so a reply outlasts what they hold. */
static int
ht_connect_small(struct ht *t)
{
	int	 size = 16384, fd;

	/* The accepted socket takes the listener's. */
	setsockopt(evconnlistener_get_fd(t->srv->listener), SOL_SOCKET,
	    SO_SNDBUF, &size, sizeof(size));
	fd = ht_connect(t->port);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	return fd;
}

static void
test_keepalive(void **state)
{
	struct ht	*t = *state;
	char		*r;
	int		 fd = ht_connect(t->port), eof;

	r = ht_ask(t, fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "ok",
	    &eof);
	assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(r, "Content-Length: 2\r\n"));
	assert_null(strstr(r, "Connection: close"));
	r = ht_ask(t, fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "ok", &eof);
	assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
	assert_false(eof);
	assert_int_equal(COUNTER_GET(&t->counters, requests), 2);
	assert_int_equal(COUNTER_GET(&t->counters, connections), 1);
	assert_true(COUNTER_GET(&t->counters, bytes_in) > 40);
	assert_true(COUNTER_GET(&t->counters, bytes_out) > 80);
	assert_int_equal(http_server_connections(t->srv), 1);
	close(fd);
	ht_pump(t->base, 50, NULL);
	assert_int_equal(COUNTER_GET(&t->counters, connections), 0);
}

static void
test_http10(void **state)
{
	struct ht	*t = *state;
	char		*r;
	int		 fd = ht_connect(t->port), eof;

	r = ht_ask(t, fd, "GET /healthz HTTP/1.0\r\nConnection: keep-alive"
	    "\r\n\r\n", "ok", &eof);
	assert_non_null(strstr(r, "HTTP/1.0 200 OK\r\n"));
	assert_non_null(strstr(r, "Connection: keep-alive\r\n"));
	r = ht_ask(t, fd, "GET /stream HTTP/1.0\r\n\r\n", NULL, &eof);
	assert_true(eof);
	assert_non_null(strstr(r, "Connection: close\r\n"));
	assert_null(strstr(r, "chunked"));
	assert_non_null(strstr(r, "\r\n\r\nhello world"));
	close(fd);
}

static void
test_pipelining(void **state)
{
	struct ht	*t = *state;
	char		*r, *a, *b, *c;
	int		 fd = ht_connect(t->port), eof;

	ht_send(fd, "GET /defer HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /query?name=second HTTP/1.1\r\nHost: x\r\n\r\n"
	    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nthird");
	ht_pump(t->base, 100, NULL);
	/* Nothing may overtake the deferred first reply. */
	r = ht_ask(t, fd, NULL, "HTTP/1.1", &eof);
	assert_null(strstr(r, "HTTP/1.1"));
	assert_int_equal(t->ndeferred, 1);
	http_reply(t->deferred[0], 200, "text/plain", "first", 5);
	r = ht_ask(t, fd, NULL, "third", &eof);
	a = strstr(r, "first");
	b = strstr(r, "second");
	c = strstr(r, "third");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_true(a < b && b < c);
	assert_int_equal(ht_count(r, "HTTP/1.1 200"), 3);
	close(fd);
}

static void
test_chunked_request(void **state)
{
	struct ht	*t = *state;
	char		*r;
	int		 fd = ht_connect(t->port), eof;

	r = ht_ask(t, fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n"
	    "Trailer: x\r\n\r\n", "hello world", &eof);
	assert_non_null(strstr(r, "Content-Length: 11\r\n"));
	assert_non_null(strstr(r, "hello world"));
	r = ht_ask(t, fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n",
	    "0\r\n\r\n", &eof);
	assert_non_null(strstr(r, "Transfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(r, "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"));
	close(fd);
}

/* A byte per read: chunk framing is checked across reads. */
static void
test_chunked_bytewise(void **state)
{
	static const char	 req[] = "POST /echo HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "2 ;a=\"b c\"\r\nok\r\n0\r\nT: x\r\n\r\n";
	struct ht		*t = *state;
	char			*r;
	size_t			 i;
	int			 fd = ht_connect(t->port), eof;

	for (i = 0; i < sizeof(req) - 2; i++) {
		ht_sendn(fd, req + i, 1);
		ht_pump(t->base, 1, NULL);
	}
	r = ht_ask(t, fd, req + i, "ok", &eof);
	assert_non_null(strstr(r, " 200 OK\r\n"));
	close(fd);
}

static void
test_head_method(void **state)
{
	struct ht	*t = *state;
	char		*r;
	int		 fd = ht_connect(t->port), eof;

	r = ht_ask(t, fd, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	    "\r\n\r\n", &eof);
	assert_non_null(strstr(r, "Content-Length: 2\r\n"));
	r = ht_ask(t, fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "ok", &eof);
	/* The HEAD reply carried no body: this one starts the buffer. */
	assert_int_equal(strncmp(r, "HTTP/1.1 200 OK", 15), 0);
	close(fd);
}

static void
test_expect_continue(void **state)
{
	struct ht	*t = *state;
	char		*r;
	int		 fd = ht_connect(t->port), eof;

	r = ht_ask(t, fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
	    "Expect: 100-continue\r\n\r\n", "\r\n\r\n", &eof);
	assert_string_equal(r, "HTTP/1.1 100 Continue\r\n\r\n");
	r = ht_ask(t, fd, "ping", "ping", &eof);
	assert_non_null(strstr(r, "HTTP/1.1 200 OK"));
	/* Too large: refused before the body is sent, no 100. */
	r = ht_ask(t, fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n"
	    "Expect: 100-continue\r\n\r\n", "\n\n", &eof);
	assert_non_null(strstr(r, "HTTP/1.1 413 "));
	assert_null(strstr(r, "100 Continue"));
	close(fd);
}

/* RFC 9110 10.1.1: an expectation other than 100-continue is a 417. */
static void
test_expect_unknown(void **state)
{
	static const char *expect[] = { "foo", "100-continue, foo", "" };
	struct ht	*t = *state;
	char		 req[256], *r;
	size_t		 i;

	for (i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		snprintf(req, sizeof(req), "POST /echo HTTP/1.1\r\nHost: x\r\n"
		    "Content-Length: 4\r\nExpect: %s\r\n\r\nping",
		    expect[i]);
		r = ht_ask_once(t, req, NULL);
		assert_non_null(strstr(r, "HTTP/1.1 417 "));
		assert_null(strstr(r, "100 Continue"));
	}
	/* Case does not matter; HTTP/1.0 clients' expectations are ignored. */
	r = ht_ask_once(t, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4"
	    "\r\nExpect: 100-Continue\r\n\r\n", "\r\n\r\n");
	assert_string_equal(r, "HTTP/1.1 100 Continue\r\n\r\n");
	r = ht_ask_once(t, "POST /echo HTTP/1.0\r\nContent-Length: 4\r\n"
	    "Expect: foo\r\n\r\nping", "ping");
	assert_non_null(strstr(r, " 200 OK\r\n"));
}

static void
test_limits(void **state)
{
	struct ht	*t = *state;
	char		 big[2048], *r;
	int		 fd, eof;

	fd = ht_connect(t->port);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ht_send(fd, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
	r = ht_ask(t, fd, big, NULL, &eof);
	assert_true(eof);
	assert_non_null(strstr(r, "HTTP/1.1 431 "));
	assert_non_null(strstr(r, "Connection: close\r\n"));
	close(fd);

	/* The request-target alone over the bound: 414 (RFC 9110 15.5.15). */
	fd = ht_connect(t->port);
	memset(big, 'a', sizeof(big) - 1);
	ht_send(fd, "GET /");
	r = ht_ask(t, fd, big, NULL, &eof);
	assert_true(eof);
	assert_non_null(strstr(r, "HTTP/1.1 414 "));
	close(fd);

	fd = ht_connect(t->port);
	r = ht_ask(t, fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 5000\r\n\r\n",
	    NULL, &eof);
	assert_true(eof);
	assert_non_null(strstr(r, "HTTP/1.1 413 "));
	close(fd);

	/* A chunked body has no length up front: cut when it grows. */
	fd = ht_connect(t->port);
	ht_send(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	memset(big, 'b', sizeof(big));
	ht_send(fd, "800\r\n");
	ht_sendn(fd, big, 2048);
	ht_send(fd, "\r\n800\r\n");
	ht_sendn(fd, big, 2048);
	ht_send(fd, "\r\n800\r\n");
	ht_sendn(fd, big, 2048);
	r = ht_ask(t, fd, "\r\n0\r\n\r\n", NULL, &eof);
	assert_true(eof);
	assert_non_null(strstr(r, "HTTP/1.1 413 "));
	close(fd);
	assert_int_equal(COUNTER_GET(&t->counters, errors), 4);
}

static void
test_timeouts(void **state)
{
	struct ht	*t = *state;
	char		*r;
	int		 fd, eof;

	/* Slowloris: a head that never ends. */
	fd = ht_connect(t->port);
	r = ht_ask(t, fd, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n", NULL, &eof);
	assert_true(eof);
	assert_non_null(strstr(r, "HTTP/1.1 408 "));
	close(fd);

	/* Keep-alive idle: closed without a word. */
	fd = ht_connect(t->port);
	r = ht_ask(t, fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "ok", &eof);
	assert_false(eof);
	r = ht_ask(t, fd, NULL, NULL, &eof);
	assert_true(eof);
	assert_int_equal(strlen(r), 0);
	close(fd);
	assert_int_equal(http_server_connections(t->srv), 0);
}

static int	 full_warnings;

static void
test_log_sink(enum log_level level, const char *msg, size_t len)
{
	if (level == LOG_LEVEL_WARN && strstr(msg, "max_connections") != NULL)
		full_warnings++;
}

static void
test_max_connections(void **state)
{
	struct http_limits	 l = { .max_connections = 1 };
	struct ht		*t = ht_start(&l);
	char			*r;
	int			 a, b, eof;

	log_set_sink(test_log_sink);
	a = ht_connect(t->port);
	r = ht_ask(t, a, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "ok", &eof);
	assert_non_null(strstr(r, "200 OK"));
	b = ht_connect(t->port);	/* sits in the backlog */
	ht_send(b, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	r = ht_ask(t, b, NULL, "ok", &eof);
	assert_int_equal(strlen(r), 0);
	assert_int_equal(http_server_connections(t->srv), 1);
	close(a);
	r = ht_ask(t, b, NULL, "ok", &eof);
	assert_non_null(strstr(r, "200 OK"));
	close(b);
	/* Said once, not each time the worker is full again. */
	assert_int_equal(full_warnings, 1);
	log_set_sink(NULL);
	teardown((void **)&t);
}

static void
test_hijack(void **state)
{
	struct ht	*t = *state;
	char		*r;
	int		 fd = ht_connect(t->port), eof;

	r = ht_ask(t, fd, "GET /upgrade HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\n"
	    "Connection: Upgrade\r\n\r\nEARLY-BYTES", "welcome", &eof);
	assert_non_null(t->hijacked);
	assert_string_equal(t->leftover, "EARLY-BYTES");
	assert_non_null(strstr(r, "101 Switching Protocols"));
	assert_int_equal(http_server_connections(t->srv), 0);
	assert_int_equal(COUNTER_GET(&t->counters, connections), 0);
	/* The server no longer reads it: what we send stays for the owner. */
	ht_send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	ht_pump(t->base, 50, NULL);
	assert_true(evbuffer_get_length(stream_input(t->hijacked)) > 0);
	r = ht_ask(t, fd, NULL, "200", &eof);
	assert_int_equal(strlen(r), 0);
	close(fd);
}

static void
test_deferred_cancel(void **state)
{
	struct ht		*t = *state;
	struct http_request	*req;
	int			 fd = ht_connect(t->port);

	ht_send(fd, "GET /defer?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
	ht_pump(t->base, 1000, &t->ndeferred);
	assert_int_equal(t->ndeferred, 1);
	req = t->deferred[0];
	assert_string_equal(http_request_query(req), "x=1");
	close(fd);
	ht_pump(t->base, 1000, &t->cancelled);
	ht_pump(t->base, 50, NULL);
	assert_int_equal(t->cancelled, 1);
	assert_true(http_request_orphaned(req));
	assert_int_equal(http_server_connections(t->srv), 0);
	/* Still ours: a late reply is dropped and ends the request. */
	assert_string_equal(http_request_path(req), "/defer");
	http_reply(req, 200, "text/plain", "late", 4);
	assert_int_equal(t->cancelled, 1);
}

static void
test_drained(void *arg)
{
	struct ht	*t = arg;

	t->drained++;
}

/*
 * Draining: a request in flight ends with Connection: close; an idle
 * keep-alive connection has its next request answered the same way (its
 * client may be sending it now), or is closed after the grace.
 */
static void
test_drain(void **state)
{
	struct ht	*t = *state;
	char		*r;
	int		 idle, quiet, busy, eof;

	idle = ht_connect(t->port);
	quiet = ht_connect(t->port);
	busy = ht_connect(t->port);
	r = ht_ask(t, idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "ok", &eof);
	r = ht_ask(t, quiet, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "ok", &eof);
	ht_send(busy, "GET /defer HTTP/1.1\r\nHost: x\r\n\r\n");
	ht_pump(t->base, 1000, &t->ndeferred);
	assert_int_equal(t->ndeferred, 1);

	http_server_drain(t->srv, test_drained, t);
	r = ht_ask(t, idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL,
	    &eof);
	assert_true(eof);
	assert_non_null(strstr(r, "200 OK"));
	assert_non_null(strstr(r, "Connection: close\r\n"));
	assert_int_equal(t->drained, 0);
	http_reply(t->deferred[0], 200, "text/plain", "bye", 3);
	r = ht_ask(t, busy, NULL, NULL, &eof);
	assert_true(eof);
	assert_non_null(strstr(r, "Connection: close\r\n"));
	assert_non_null(strstr(r, "bye"));
	close(busy);
	close(idle);
	ht_read(t->base, quiet, t->buf, sizeof(t->buf), NULL,
	    HTTP_DRAIN_GRACE_MS + 2000, &eof);
	assert_true(eof);
	assert_string_equal(t->buf, "");
	close(quiet);
	ht_pump(t->base, 1000, &t->drained);
	assert_int_equal(t->drained, 1);
}

static void
test_stream_body(void **state)
{
	struct ht	*t = *state;
	char		 chunk[1000], *r;
	int		 fd = ht_connect(t->port), eof, i;

	/* Streamed: max_body_size (4096) does not apply. */
	t->pause_body = 1;
	ht_send(fd, "PUT /upload HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 20000\r\n\r\n");
	memset(chunk, 'z', sizeof(chunk));
	for (i = 0; i < 20; i++)
		ht_sendn(fd, chunk, sizeof(chunk));
	ht_pump(t->base, 100, NULL);
	assert_non_null(t->paused);
	assert_true(t->streamed < 20000);
	http_request_pause_body(t->paused, 0);
	r = ht_ask(t, fd, NULL, "20000", &eof);
	assert_non_null(strstr(r, "HTTP/1.1 200 OK"));
	assert_int_equal(t->streamed, 20000);

	/* Answered from the head: the body is skipped, the connection kept. */
	ht_send(fd, "POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n");
	r = ht_ask(t, fd, "abcdef", "no", &eof);
	assert_non_null(strstr(r, "403 Forbidden"));
	r = ht_ask(t, fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "ok", &eof);
	assert_non_null(strstr(r, "200 OK"));
	close(fd);
}

/*
 * Pipelined requests from a client that does not read: the next request
 * is not taken while more than HTTP_OUTPUT_HIGH of replies waits, and all
 * are answered once it reads.
 */
static void
test_pipeline_unread(void **state)
{
	struct ht	*t = *state;
	char		 reqs[20 * 40];
	size_t		 got;
	int		 fd = ht_connect(t->port), eof, i;

	t->big = 128 * 1024;
	reqs[0] = '\0';
	for (i = 0; i < 20; i++)
		strcat(reqs, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
	ht_send(fd, reqs);
	ht_pump(t->base, 2000, &t->nbig);
	ht_pump(t->base, 100, NULL);	/* time to take more, were it to */
	assert_true(t->nbig >= 1);
	assert_true(t->big_queued <= HTTP_OUTPUT_HIGH);
	got = ht_slurp(t, fd, 20 * t->big, sizeof(t->buf), 1, 10000, &eof);
	assert_false(eof);
	assert_true(got >= 20 * t->big);
	assert_int_equal(t->nbig, 20);
	assert_true(t->big_queued <= HTTP_OUTPUT_HIGH);
	close(fd);
}

/* Half-closed after pipelining: the requests not taken yet are answered. */
static void
test_pipeline_halfclose(void **state)
{
	struct ht	*t = *state;
	size_t		 got;
	int		 fd = ht_connect(t->port), eof, i;

	t->big = 128 * 1024;
	for (i = 0; i < 8; i++)
		ht_send(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
	shutdown(fd, SHUT_WR);
	got = ht_slurp(t, fd, SIZE_MAX, sizeof(t->buf), 1, 10000, &eof);
	assert_true(eof);
	assert_int_equal(t->nbig, 8);
	assert_true(got >= 8 * t->big);
	close(fd);
	ht_pump(t->base, 50, NULL);
	assert_int_equal(http_server_connections(t->srv), 0);
}

/*
 * A large reply read slowly but steadily is not cut by the keep-alive
 * timer (300 ms here): it starts once the reply is sent.
 */
static void
test_slow_reader(void **state)
{
	struct ht	*t = *state;
	size_t		 got;
	int		 fd = ht_connect_small(t), eof;

	t->big = 1024 * 1024;
	ht_send(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
	got = ht_slurp(t, fd, t->big, 16384, 20, 30000, &eof);
	assert_false(eof);
	assert_true(got >= t->big);
	/* Sent: now the connection is idle, and closed after the wait. */
	ht_slurp(t, fd, SIZE_MAX, 16384, 1, 5000, &eof);
	assert_true(eof);
	close(fd);
}

/* The same for a draining server's grace (HTTP_DRAIN_GRACE_MS). */
static void
test_slow_reader_drain(void **state)
{
	struct ht	*t = *state;
	size_t		 got;
	int		 fd = ht_connect_small(t), eof;

	t->big = 3 * 512 * 1024;
	ht_send(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
	ht_pump(t->base, 1000, &t->nbig);
	http_server_drain(t->srv, test_drained, t);
	got = ht_slurp(t, fd, t->big, 16384, 40, 60000, &eof);
	assert_false(eof);
	assert_true(got >= t->big);
	ht_slurp(t, fd, SIZE_MAX, 16384, 1, HTTP_DRAIN_GRACE_MS + 5000, &eof);
	assert_true(eof);
	close(fd);
	ht_pump(t->base, 1000, &t->drained);
	assert_int_equal(t->drained, 1);
}

/*
 * Answered from the head, then the rest of the body is bad (or late): the
 * connection closes without a second reply to the same request.
 */
static void
test_early_reply_bad_body(void **state)
{
	struct ht	*t = *state;
	char		*r;
	int		 fd = ht_connect(t->port), eof;

	r = ht_ask(t, fd, "POST /early HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nZZ\r\n", NULL, &eof);
	assert_true(eof);
	assert_int_equal(ht_count(r, "HTTP/1.1 "), 1);
	assert_non_null(strstr(r, "HTTP/1.1 403 "));
	close(fd);
	fd = ht_connect(t->port);
	r = ht_ask(t, fd, "POST /early HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 6\r\n\r\nabc", NULL, &eof);
	assert_true(eof);
	assert_int_equal(ht_count(r, "HTTP/1.1 "), 1);
	close(fd);
	assert_int_equal(COUNTER_GET(&t->counters, requests), 2);
	assert_int_equal(COUNTER_GET(&t->counters, errors), 0);
}

/* A reply before the 100 Continue: the body will not be read, so close. */
static void
test_expect_early_reply(void **state)
{
	struct ht	*t = *state;
	char		*r;
	int		 fd = ht_connect(t->port), eof;

	r = ht_ask(t, fd, "POST /early HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 100\r\nExpect: 100-continue\r\n\r\n", NULL, &eof);
	assert_true(eof);
	assert_non_null(strstr(r, "HTTP/1.1 403 "));
	assert_non_null(strstr(r, "Connection: close\r\n"));
	assert_null(strstr(r, "100 Continue"));
	close(fd);
}

static void
test_error_json(void **state)
{
	struct ht	*t = *state;
	char		*r;
	int		 fd = ht_connect(t->port), eof;

	r = ht_ask(t, fd, "GET /error HTTP/1.1\r\nHost: x\r\n\r\n", "}", &eof);
	assert_non_null(strstr(r, "HTTP/1.1 500 Internal Server Error\r\n"));
	assert_non_null(strstr(r, "Content-Type: application/json\r\n"));
	/* Its detail may echo the request: never sniffed as a page. */
	assert_non_null(strstr(r, "X-Content-Type-Options: nosniff\r\n"));
	assert_non_null(strstr(r, "{\"id\":\"go.micro.api\",\"code\":500,"
	    "\"detail\":\"boom \\\"x\\\"\",\"status\":\"Internal Server "
	    "Error\"}"));
	r = ht_ask(t, fd, "GET /query?a=1&name=J%C3%B8hn+Doe%21 HTTP/1.1\r\n"
	    "Host: x\r\n"
	    "\r\n", "!", &eof);
	assert_non_null(strstr(r, "\r\n\r\nJ\xc3\xb8hn Doe!"));
	assert_int_equal(COUNTER_GET(&t->counters, errors), 1);
	close(fd);
}

/* RFC 9112 3.2: HTTP/1.1 needs exactly one valid Host; 1.0 may have none. */
static void
test_host_required(void **state)
{
	static const char *bad[] = {
		"GET /healthz HTTP/1.1\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET /healthz HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: a/b\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: u@b\r\n\r\n",
	};
	static const char *good[] = {
		"GET /healthz HTTP/1.0\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost:\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
	};
	struct ht	*t = *state;
	char		*r;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ht_ask_once(t, bad[i], NULL);
		assert_non_null(strstr(r, "HTTP/1.1 400 "));
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		r = ht_ask_once(t, good[i], "ok");
		assert_non_null(strstr(r, " 200 OK\r\n"));
	}
}

/*
 * RFC 9112 3.2.2: an absolute-form target is routed by its path and
 * query, its authority taken for Host once the Host field passed.
 */
static void
test_absolute_form(void **state)
{
	static const char *bad[] = {
		"GET http://a.example/host HTTP/1.1\r\n\r\n",
		"GET http://a.example/host HTTP/1.1\r\nHost: u@x\r\n\r\n",
		"GET http://u@a.example/host HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	struct ht	*t = *state;
	char		*r;
	size_t		 i;

	r = ht_ask_once(t, "GET http://a.example:8/host?x=1 HTTP/1.1\r\n"
	    "Host: x\r\n\r\n", "a.example:8");
	assert_non_null(strstr(r, " 200 OK\r\n"));
	r = ht_ask_once(t, "GET HTTP://[::1]:8/host HTTP/1.0\r\n\r\n", "]:8");
	assert_non_null(strstr(r, "\r\n\r\n[::1]:8"));
	r = ht_ask_once(t, "GET http://a.example/query?name=zz HTTP/1.1\r\n"
	    "Host: x\r\n\r\n", "zz");
	assert_non_null(strstr(r, " 200 OK\r\n"));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ht_ask_once(t, bad[i], NULL);
		assert_non_null(strstr(r, "HTTP/1.1 400 "));
	}
}

/* RFC 9112 6.1: 501 for a transfer coding the server does not decode. */
static void
test_transfer_coding_unknown(void **state)
{
	static const char *codings[] = {
		"gzip, chunked",
		"chunked\r\nTransfer-Encoding: chunked, chunked",
		"x, chunked",
	};
	struct ht	*t = *state;
	char		 req[256], *r;
	size_t		 i;

	for (i = 0; i < sizeof(codings) / sizeof(codings[0]); i++) {
		snprintf(req, sizeof(req), "POST /echo HTTP/1.1\r\nHost: x\r\n"
		    "Transfer-Encoding: %s\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		    codings[i]);
		r = ht_ask_once(t, req, NULL);
		assert_non_null(strstr(r, i == 1 ? "HTTP/1.1 400 " :
		    "HTTP/1.1 501 "));
	}
	r = ht_ask_once(t, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:"
	    " Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", "ok");
	assert_non_null(strstr(r, " 200 OK\r\n"));
}

/*
 * RFC 9110 15.6.2: a method http-parser does not know is a 501, leading
 * blank lines or not; bytes that are no method token stay a 400.
 */
static void
test_method_unknown(void **state)
{
	static const char *unknown[] = {
		"BREW / HTTP/1.1\r\nHost: x\r\n\r\n",
		"\r\nget / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GETT / HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	struct ht	*t = *state;
	char		*r;
	size_t		 i;

	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		r = ht_ask_once(t, unknown[i], NULL);
		assert_non_null(strstr(r, "HTTP/1.1 501 "));
	}
	r = ht_ask_once(t, "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
	assert_non_null(strstr(r, "HTTP/1.1 400 "));
}

static const char *hostile[] = {
	"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
	"GET\r\n\r\n",
	"GET / HTTP/9.9\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "zz\r\n",
	"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "ffffffffffffffffff\r\n",
	/* Framing the lenient parser takes on trust (RFC 9112 7.1, 2.2). */
	"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "2;x\nXX\r\nok\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "2\r\nokXY0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\rXok",
	"POST /echo HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "2\r\nok\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
	"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
	/* CTLs in the request-target (RFC 9112 3.2): never passed on. */
	"GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /a?b=\tc HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /a\fb HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n",
	/* A bare LF ends no line of a request head (RFC 9112 2.2). */
	"POST /echo HTTP/1.1\r\nHost: x\r\nX-A: y\nContent-Length: 3\r\n"
	    "\r\nabc",
	"GET /healthz HTTP/1.1\nHost: x\r\n\r\n",
	"GET /healthz HTTP/1.1\r\nHost: x\r\n\n",
	"GET /healthz HTTP/1.1\r\nHost: x\n\n",
	"\r\n\r\n\r\n\r\n",
};

static void
test_hostile(void **state)
{
	struct ht	*t = *state;
	char		*r, bomb[64], fuzz[512];
	size_t		 i, j, len;
	int		 fd, eof;

	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		r = ht_ask_once(t, hostile[i], NULL);
		if (strlen(hostile[i]) > 8) {	/* "\r\n" only: waits */
			assert_non_null(strstr(r, "HTTP/1.1 400 "));
			assert_non_null(strstr(r, "X-Content-Type-Options: "
			    "nosniff\r\n"));
		}
	}
	/* Header bomb: many small headers, over max_header_size. */
	fd = ht_connect(t->port);
	ht_send(fd, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (i = 0; i < 200; i++) {
		snprintf(bomb, sizeof(bomb), "X-%zu: %zu\r\n", i, i);
		ht_send(fd, bomb);
	}
	r = ht_ask(t, fd, "\r\n", NULL, &eof);
	assert_non_null(strstr(r, "HTTP/1.1 431 "));
	close(fd);
	/* Mutations of a valid request: any answer, never a crash. */
	srandom(42);
	for (i = 0; i < 200; i++) {
		len = snprintf(fuzz, sizeof(fuzz), "POST /echo?a=%%zz HTTP/1.1"
		    "\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "4\r\nabcd\r\n0\r\n\r\n");
		for (j = 0; j < 1 + i % 4; j++)
			fuzz[random() % len] = (char)random();
		fd = ht_connect(t->port);
		ht_sendn(fd, fuzz, len);
		ht_pump(t->base, 2, NULL);
		close(fd);
	}
	ht_pump(t->base, 50, NULL);
	r = ht_ask_once(t, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "ok");
	assert_non_null(strstr(r, "200 OK"));
	ht_pump(t->base, 50, NULL);
	assert_int_equal(t->ndeferred, 0);
}

static void
test_query_decode(void **state)
{
	char	*v;

	v = http_query_get("a=1&b=x+y%20z&c", "b");
	assert_string_equal(v, "x y z");
	free(v);
	v = http_query_get("a=1&b=x+y%20z&c", "c");
	assert_string_equal(v, "");
	free(v);
	assert_null(http_query_get("a=1", "b"));
	assert_null(http_query_get("a=%4", "a"));
	assert_null(http_query_get("a=%00", "a"));
	assert_null(http_query_get(NULL, "a"));
	v = http_query_get("%61%3D=%3d", "a=");
	assert_string_equal(v, "=");
	free(v);
}

/* A form body is bytes: a NUL in one must not end the copy early. */
static void
test_query_decode_nul(void **state)
{
	char	 form[256];

	memset(form, 'a', sizeof(form));
	memcpy(form, "a\0", 2);
	assert_null(http_query_decode(form, sizeof(form)));
	memcpy(form, "a\0%41", 5);
	assert_null(http_query_decode(form, 5));
}

static void
test_headers(void **state)
{
	struct http_headers	*h = http_headers_new();
	const char		*n, *v;

	http_headers_add(h, "Connection", "keep-alive, Upgrade");
	http_headers_add(h, "X-A", "1");
	http_headers_add(h, "x-a", "2");
	assert_string_equal(http_headers_get(h, "X-a"), "1");
	assert_true(http_headers_has_token(h, "connection", "upgrade"));
	assert_false(http_headers_has_token(h, "connection", "close"));
	http_headers_set(h, "X-A", "3");
	assert_int_equal(http_headers_count(h), 2);
	assert_true(http_headers_at(h, 1, &n, &v));
	assert_string_equal(v, "3");
	assert_false(http_headers_at(h, 2, &n, &v));
	http_headers_free(h);
	assert_string_equal(http_status_text(431),
	    "Request Header Fields Too Large");
	assert_true(http_header_hop("proxy-authenticate"));
	assert_true(http_header_hop("TE"));
	assert_false(http_header_hop("Host"));
	assert_false(http_header_hop("Trailers"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_decode),
		cmocka_unit_test(test_query_decode_nul),
		cmocka_unit_test(test_headers),
		cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http10, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelining, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_chunked_bytewise, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_chunked_request, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_head_method, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expect_continue, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expect_unknown, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
		cmocka_unit_test(test_max_connections),
		cmocka_unit_test_setup_teardown(test_hijack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_cancel, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_body, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_unread, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_halfclose, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_slow_reader, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_slow_reader_drain, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_early_reply_bad_body,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_expect_early_reply, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_error_json, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_transfer_coding_unknown,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_method_unknown,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_required, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_absolute_form, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
