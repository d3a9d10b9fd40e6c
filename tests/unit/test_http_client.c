#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

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

#include "http.h"
#include "http_test.h"
#include "stream.h"
#include "util.h"

#define BIG	(256 * 1024)

struct ct {
	struct event_base	*base;
	struct http_server	*srv;
	struct http_client	*client;
	int			 port;
	char			 addr[32];
	struct http_request	*deferred;
	int			 cancelled;
	size_t			 uploaded;

	/* The last client request's outcome. */
	int			 done;
	enum http_client_error	 err;
	int			 status;
	int			 reused;
	char			 body[BIG + 1];
	size_t			 bodylen;
	int			 heads;
	int			 pause_once;
	struct http_creq	*paused;
	struct stream		*upgraded;
	struct stream		*hijacked;	/* server side */
	char			 buf[8192];
};

static void
srv_body(struct http_request *req, struct evbuffer *buf, int done,
    void *arg)
{
	struct ct	*t = arg;
	char		 num[32];

	t->uploaded += evbuffer_get_length(buf);
	evbuffer_drain(buf, evbuffer_get_length(buf));
	if (done) {
		snprintf(num, sizeof(num), "%zu", t->uploaded);
		http_reply(req, 200, "text/plain", num, strlen(num));
	}
}

static void
srv_head(struct http_request *req, void *arg)
{
	if (strcmp(http_request_path(req), "/upload") == 0)
		http_request_stream_body(req, srv_body, arg);
}

static void
srv_cancel(struct http_request *req, void *arg)
{
	struct ct	*t = arg;

	t->cancelled++;
	http_request_release(req);
	t->deferred = NULL;
}

static void
srv_big(struct http_request *req)
{
	char	 chunk[4096];
	size_t	 i;

	memset(chunk, 'b', sizeof(chunk));
	http_reply_start(req, 200);
	for (i = 0; i < BIG / sizeof(chunk); i++)
		http_reply_chunk(req, chunk, sizeof(chunk));
	http_reply_end(req);
}

static void
srv_handler(struct http_request *req, void *arg)
{
	struct ct		*t = arg;
	const char		*path = http_request_path(req);
	struct stream		*s;

	if (strcmp(path, "/healthz") == 0)
		http_reply(req, 200, "text/plain", "ok", 2);
	else if (strcmp(path, "/echo") == 0) {
		http_headers_add(http_reply_headers(req), "X-Method",
		    http_request_method(req));
		http_reply_buffer(req, 200, NULL, http_request_body(req));
	} else if (strcmp(path, "/big") == 0)
		srv_big(req);
	else if (strcmp(path, "/defer") == 0) {
		t->deferred = req;
		http_request_set_cancel_cb(req, srv_cancel, t);
	} else if (strcmp(path, "/upgrade") == 0 &&
	    (s = http_request_hijack(req)) != NULL) {
		evbuffer_add_printf(stream_output(s),
		    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: t\r\n"
		    "Connection: Upgrade\r\n\r\nframes");
		stream_enable(s, STREAM_WRITE);
		t->hijacked = s;
	} else
		http_reply_error(req, 404, NULL, "not found");
}

static int
setup(void **state)
{
	struct http_client_config	 cfg = { .timeout_ms = 1000,
	    .connect_timeout_ms = 500, .idle_timeout_ms = 2000 };
	struct ct			*t = calloc(1, sizeof(*t));
	const char			*cause;
	int				 fd;

	assert_non_null(t);
	t->base = event_base_new();
	fd = ht_listen(&t->port);
	assert_true(fd >= 0);
	t->srv = http_server_new(t->base, fd, NULL, srv_handler, t, &cause);
	assert_non_null(t->srv);
	http_server_set_head_handler(t->srv, srv_head);
	t->client = http_client_new(t->base, &cfg);
	snprintf(t->addr, sizeof(t->addr), "127.0.0.1:%d", t->port);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct ct	*t = *state;

	http_client_free(t->client);
	http_server_free(t->srv);
	stream_free(t->upgraded);
	stream_free(t->hijacked);
	event_base_free(t->base);
	free(t);
	return 0;
}

static void
on_done(struct http_creq *r, enum http_client_error err, void *arg)
{
	struct ct	*t = arg;
	struct evbuffer	*body = http_creq_response_body(r);

	t->err = err;
	t->status = http_creq_status(r);
	t->reused = http_creq_reused(r);
	t->bodylen += evbuffer_remove(body, t->body + t->bodylen,
	    BIG - t->bodylen);
	t->body[t->bodylen] = '\0';
	t->done = 1;
}

static struct http_creq *
request(struct ct *t, const char *method, const char *addr,
    const char *target)
{
	struct http_creq	*r;
	const char		*cause;

	t->done = 0;
	t->bodylen = 0;
	t->status = 0;
	r = http_creq_new(t->client, method, addr, target, &cause);
	assert_non_null(r);
	http_creq_set_done_cb(r, on_done, t);
	return r;
}

static void
run(struct ct *t, struct http_creq *r)
{
	http_creq_start(r);
	assert_int_equal(t->done, 0);	/* never from inside start */
	ht_pump(t->base, 3000, &t->done);
	assert_true(t->done);
}

static void
test_pooled_reuse(void **state)
{
	struct ct		*t = *state;
	struct http_creq	*r;

	r = request(t, "POST", t->addr, "/echo");
	evbuffer_add(http_creq_body(r), "hello", 5);
	http_headers_add(http_creq_headers(r), "Content-Type", "text/plain");
	run(t, r);
	assert_int_equal(t->err, HTTP_CLIENT_OK);
	assert_int_equal(t->status, 200);
	assert_string_equal(t->body, "hello");
	assert_false(t->reused);

	run(t, request(t, "GET", t->addr, "/healthz"));
	assert_int_equal(t->err, HTTP_CLIENT_OK);
	assert_string_equal(t->body, "ok");
	assert_true(t->reused);
	assert_int_equal(http_server_connections(t->srv), 1);

	run(t, request(t, "HEAD", t->addr, "/healthz"));
	assert_int_equal(t->status, 200);
	assert_int_equal(t->bodylen, 0);
	assert_true(t->reused);

	run(t, request(t, "GET", t->addr, "/nope"));
	assert_int_equal(t->status, 404);
	assert_non_null(strstr(t->body, "\"code\":404"));
}

static void
test_refused(void **state)
{
	struct ct	*t = *state;
	char		 addr[32];
	int		 fd, port;

	fd = ht_listen(&port);
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	run(t, request(t, "GET", addr, "/"));
	assert_int_equal(t->err, HTTP_CLIENT_CONNECT_REFUSED);
	assert_null(http_creq_new(t->client, "GET", "example.com:80", "/",
	    &(const char *){ NULL }));
}

static void
test_timeout(void **state)
{
	struct ct		*t = *state;
	struct http_creq	*r;
	char			 addr[32];
	uint64_t		 start = util_now_ms();
	int			 fd, port;

	fd = ht_listen(&port);	/* connects complete, nobody answers */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	r = request(t, "GET", addr, "/");
	http_creq_set_timeouts(r, 0, 200);
	run(t, r);
	assert_int_equal(t->err, HTTP_CLIENT_TIMEOUT);
	assert_true(util_now_ms() - start >= 190);
	close(fd);
}

static void
test_connect_timeout(void **state)
{
	struct ct		*t = *state;
	struct http_creq	*r;
	char			 addr[32];
	int			 lfd, port, fds[8], i;

	/* A full accept queue drops the SYN: the connect hangs. */
	lfd = ht_listen(&port);
	listen(lfd, 0);
	for (i = 0; i < 8; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fds[i], (struct sockaddr *)&(struct sockaddr_in){
		    .sin_family = AF_INET, .sin_port = htons(port),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) },
		    sizeof(struct sockaddr_in));
	}
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	r = request(t, "GET", addr, "/");
	http_creq_set_timeouts(r, 200, 0);
	run(t, r);
	assert_int_equal(t->err, HTTP_CLIENT_CONNECT_TIMEOUT);
	for (i = 0; i < 8; i++)
		close(fds[i]);
	close(lfd);
}

/* A raw server, one step at a time, for what a real one never does. */
static int
raw_accept(struct ct *t, int lfd)
{
	uint64_t	 end = util_now_ms() + 2000;
	int		 fd;

	util_set_nonblock(lfd);
	while ((fd = accept(lfd, NULL, NULL)) == -1 && util_now_ms() < end)
		ht_pump(t->base, 2, NULL);
	assert_true(fd >= 0);
	util_set_nonblock(fd);
	return fd;
}

static void
raw_answer(struct ct *t, int fd, const char *reply)
{
	int	 eof;

	ht_read(t->base, fd, t->buf, sizeof(t->buf), "\r\n\r\n", 2000, &eof);
	assert_non_null(strstr(t->buf, "\r\n\r\n"));
	ht_send(fd, reply);
}

static void
test_stale_retry(void **state)
{
	struct ct	*t = *state;
	char		 addr[32];
	int		 lfd, port, a, b;

	lfd = ht_listen(&port);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	http_creq_start(request(t, "GET", addr, "/one"));
	a = raw_accept(t, lfd);
	raw_answer(t, a, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none");
	ht_pump(t->base, 2000, &t->done);
	assert_int_equal(t->err, HTTP_CLIENT_OK);

	/* The peer drops the pooled connection; the client has not seen it. */
	close(a);
	http_creq_start(request(t, "GET", addr, "/two"));
	b = raw_accept(t, lfd);
	raw_answer(t, b, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
	ht_pump(t->base, 2000, &t->done);
	assert_int_equal(t->err, HTTP_CLIENT_OK);
	assert_string_equal(t->body, "two");
	assert_false(t->reused);	/* it went over the fresh one */
	close(b);

	/* A fresh connection lost before any byte: no retry, RESET. */
	http_creq_start(request(t, "GET", addr, "/three"));
	a = raw_accept(t, lfd);
	raw_answer(t, a, "");
	close(a);
	ht_pump(t->base, 2000, &t->done);
	assert_int_equal(t->err, HTTP_CLIENT_RESET);
	close(lfd);
}

static void
test_bad_responses(void **state)
{
	static const char	*bad[] = {
		"HTTP/1.1 abc\r\n\r\n",
		"SSH-2.0-OpenSSH\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		/* Framing the lenient http-parser takes (RFC 9112 6.1, 7.1). */
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "5\r\nhello\rX0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "5\rZhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "5;a\nb\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "0\r\nX: y\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\rXok",
		"HTTP/1.1 100 Continue\r\n\rXHTTP/1.1 200 OK\r\n"
		    "Content-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	};
	struct ct		*t = *state;
	char			 addr[32];
	size_t			 i;
	int			 lfd, port, fd;

	lfd = ht_listen(&port);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		http_creq_start(request(t, "GET", addr, "/"));
		fd = raw_accept(t, lfd);
		raw_answer(t, fd, bad[i]);
		shutdown(fd, SHUT_WR);
		ht_pump(t->base, 2000, &t->done);
		assert_int_equal(t->err, HTTP_CLIENT_PROTOCOL);
		close(fd);
	}
	/* Extensions, blanks before them, trailers and a 100 are fine. */
	http_creq_start(request(t, "GET", addr, "/"));
	fd = raw_accept(t, lfd);
	raw_answer(t, fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n2 ;a=\"b c\"\r\nok\r\n"
	    "0\r\nX: y\r\n\r\n");
	ht_pump(t->base, 2000, &t->done);
	assert_int_equal(t->err, HTTP_CLIENT_OK);
	assert_string_equal(t->body, "ok");
	close(fd);
	/* A body that ends with the connection is fine. */
	http_creq_start(request(t, "GET", addr, "/"));
	fd = raw_accept(t, lfd);
	raw_answer(t, fd, "HTTP/1.0 200 OK\r\n\r\nuntil the end");
	shutdown(fd, SHUT_WR);
	ht_pump(t->base, 2000, &t->done);
	assert_int_equal(t->err, HTTP_CLIENT_OK);
	assert_string_equal(t->body, "until the end");
	close(fd);
	close(lfd);
}

static void
on_head(struct http_creq *r, void *arg)
{
	struct ct	*t = arg;

	t->heads++;
	t->status = http_creq_status(r);
}

static void
on_body(struct http_creq *r, struct evbuffer *buf, void *arg)
{
	struct ct	*t = arg;

	t->bodylen += evbuffer_get_length(buf);
	evbuffer_drain(buf, evbuffer_get_length(buf));
	if (t->pause_once && t->paused == NULL) {
		http_creq_pause(r, 1);
		t->paused = r;
	}
}

static void
test_streaming(void **state)
{
	struct ct		*t = *state;
	struct http_creq	*r;
	char			 chunk[1000];
	int			 i;

	r = request(t, "GET", t->addr, "/big");
	http_creq_set_stream_cbs(r, on_head, on_body);
	t->pause_once = 1;
	http_creq_start(r);
	ht_pump(t->base, 200, &t->done);
	assert_false(t->done);
	assert_non_null(t->paused);
	assert_int_equal(t->heads, 1);
	assert_int_equal(t->status, 200);
	assert_true(t->bodylen < BIG);
	http_creq_pause(t->paused, 0);
	ht_pump(t->base, 3000, &t->done);
	assert_int_equal(t->err, HTTP_CLIENT_OK);
	assert_int_equal(t->bodylen, BIG);

	/* A request body fed after start, chunked. */
	r = request(t, "PUT", t->addr, "/upload");
	http_creq_stream_body(r, NULL);
	http_creq_start(r);
	memset(chunk, 'u', sizeof(chunk));
	for (i = 0; i < 50; i++) {
		http_creq_write(r, chunk, sizeof(chunk));
		ht_pump(t->base, 1, NULL);
	}
	http_creq_end_body(r);
	ht_pump(t->base, 3000, &t->done);
	assert_int_equal(t->err, HTTP_CLIENT_OK);
	assert_string_equal(t->body, "50000");
	assert_int_equal(t->uploaded, 50000);
}

static void
on_upgrade(struct http_creq *r, struct stream *s, void *arg)
{
	struct ct	*t = arg;

	t->status = http_creq_status(r);
	t->upgraded = s;
	stream_enable(s, STREAM_READ);
	t->done = 1;
}

static void
test_upgrade(void **state)
{
	struct ct		*t = *state;
	struct http_creq	*r;
	struct evbuffer		*in;

	r = request(t, "GET", t->addr, "/upgrade");
	http_headers_add(http_creq_headers(r), "Connection", "Upgrade");
	http_headers_add(http_creq_headers(r), "Upgrade", "t");
	http_creq_set_upgrade_cb(r, on_upgrade);
	run(t, r);
	assert_int_equal(t->status, 101);
	assert_non_null(t->upgraded);
	in = stream_input(t->upgraded);
	ht_pump(t->base, 100, NULL);
	assert_int_equal(evbuffer_get_length(in), 6);
	assert_int_equal(memcmp(evbuffer_pullup(in, 6), "frames", 6), 0);
}

static void
test_cancel(void **state)
{
	struct ct		*t = *state;
	struct http_creq	*r;

	r = request(t, "GET", t->addr, "/defer");
	http_creq_start(r);
	ht_pump(t->base, 2000, (int *)&t->deferred);
	assert_non_null(t->deferred);
	http_creq_cancel(r);
	ht_pump(t->base, 2000, &t->cancelled);
	assert_int_equal(t->cancelled, 1);
	assert_false(t->done);
	/* Not pooled: the next request opens a new connection. */
	run(t, request(t, "GET", t->addr, "/healthz"));
	assert_int_equal(t->err, HTTP_CLIENT_OK);
	assert_false(t->reused);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pooled_reuse, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stale_retry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_responses, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_streaming, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
