/*
 * lib/stream.c against real sockets: a socketpair or a loopback TCP
 * connection, one event base, the peer read and written directly.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "counters.h"
#include "http_test.h"
#include "stream.h"
#include "util.h"

struct st {
	struct event_base	*base;
	struct stream		*s;
	int			 peer;
	int			 reads;
	int			 drained;	/* write callbacks */
	int			 events;	/* event callbacks */
	short			 what;		/* the last one's bits */
	int			 error;		/* errno at the last one */
};

static void
st_read_cb(struct stream *s, void *arg)
{
	((struct st *)arg)->reads++;
}

static void
st_write_cb(struct stream *s, void *arg)
{
	((struct st *)arg)->drained++;
}

static void
st_event_cb(struct stream *s, short what, void *arg)
{
	struct st	*t = arg;

	t->what = what;
	t->error = errno;
	t->events++;
}

static void
st_attach(struct st *t, int fd)
{
	t->s = stream_new(t->base, fd);
	stream_setcb(t->s, st_read_cb, st_write_cb, st_event_cb, t);
	stream_enable(t->s, STREAM_READ | STREAM_WRITE);
}

static int
setup(void **state)
{
	struct st	*t = xcalloc(1, sizeof(*t));
	int		 sv[2];

	t->base = event_base_new();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	st_attach(t, sv[0]);
	t->peer = sv[1];
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct st	*t = *state;

	stream_free(t->s);
	if (t->peer != -1)
		close(t->peer);
	event_base_free(t->base);
	free(t);
	return 0;
}

/* Read len bytes at the peer into buf (len + 1 bytes), for up to ms. */
static size_t
st_peer_read(struct st *t, char *buf, size_t len, int ms)
{
	int	 eof;

	return ht_read(t->base, t->peer, buf, len + 1, NULL, ms, &eof);
}

static void
test_read(void **state)
{
	struct st	*t = *state;
	char		 buf[16];

	ht_sendn(t->peer, "hello", 5);
	ht_pump(t->base, 2000, &t->reads);
	assert_int_equal(t->reads, 1);
	assert_int_equal(evbuffer_get_length(stream_input(t->s)), 5);
	evbuffer_remove(stream_input(t->s), buf, sizeof(buf));
	assert_memory_equal(buf, "hello", 5);
}

static void
test_write_and_drained(void **state)
{
	struct st	*t = *state;
	char		 buf[32] = "";

	evbuffer_add(stream_output(t->s), "one ", 4);
	evbuffer_add(stream_output(t->s), "write", 5);
	/* Nothing is written before the loop runs: the turn's adds gather. */
	assert_int_equal(recv(t->peer, buf, sizeof(buf), MSG_DONTWAIT), -1);
	ht_pump(t->base, 2000, &t->drained);
	assert_int_equal(t->drained, 1);
	assert_int_equal(evbuffer_get_length(stream_output(t->s)), 0);
	assert_int_equal(st_peer_read(t, buf, 9, 2000), 9);
	assert_memory_equal(buf, "one write", 9);
}

static void
test_counters(void **state)
{
	struct st		*t = *state;
	struct micro_counters	 c;
	char			 buf[16];

	memset(&c, 0, sizeof(c));
	stream_set_counters(t->s, &c);
	ht_sendn(t->peer, "in", 2);
	ht_pump(t->base, 2000, &t->reads);
	evbuffer_add(stream_output(t->s), "out!", 4);
	ht_pump(t->base, 2000, &t->drained);
	assert_int_equal(st_peer_read(t, buf, 4, 2000), 4);
	assert_int_equal(c.bytes_in, 2);
	assert_int_equal(c.bytes_out, 4);
	/* Unset: no longer counted. */
	stream_set_counters(t->s, NULL);
	evbuffer_add(stream_output(t->s), "more", 4);
	t->drained = 0;
	ht_pump(t->base, 2000, &t->drained);
	assert_int_equal(c.bytes_out, 4);
}

static void
test_eof(void **state)
{
	struct st	*t = *state;

	close(t->peer);
	t->peer = -1;
	ht_pump(t->base, 2000, &t->events);
	assert_int_equal(t->events, 1);
	assert_int_equal(t->what, STREAM_EOF | STREAM_READING);
	/* Reading stopped: no second report. */
	ht_pump(t->base, 50, NULL);
	assert_int_equal(t->events, 1);
}

static void
test_read_max(void **state)
{
	struct st	*t = *state;
	char		 buf[100];

	memset(buf, 'x', sizeof(buf));
	stream_set_read_max(t->s, 10);
	ht_sendn(t->peer, buf, sizeof(buf));
	ht_pump(t->base, 2000, &t->reads);
	ht_pump(t->base, 50, NULL);
	assert_int_equal(evbuffer_get_length(stream_input(t->s)), 10);
	/* Draining makes room: reading resumes. */
	evbuffer_drain(stream_input(t->s), 10);
	t->reads = 0;
	ht_pump(t->base, 2000, &t->reads);
	assert_int_equal(evbuffer_get_length(stream_input(t->s)), 10);
	stream_set_read_max(t->s, 0);
	ht_pump(t->base, 200, NULL);
	assert_int_equal(evbuffer_get_length(stream_input(t->s)), 90);
}

static void
test_disable_read(void **state)
{
	struct st	*t = *state;

	stream_disable(t->s, STREAM_READ);
	ht_sendn(t->peer, "later", 5);
	ht_pump(t->base, 100, NULL);
	assert_int_equal(t->reads, 0);
	stream_enable(t->s, STREAM_READ);
	ht_pump(t->base, 2000, &t->reads);
	assert_int_equal(evbuffer_get_length(stream_input(t->s)), 5);
}

/* A peer that reads nothing: the output blocks, then times out. */
static void
test_write_blocks_then_times_out(void **state)
{
	struct st	*t = *state;
	struct timeval	 tv = { 0, 100 * 1000 };
	char		*big = xcalloc(1, 8 << 20);

	stream_set_write_timeout(t->s, &tv);
	evbuffer_add(stream_output(t->s), big, 8 << 20);
	free(big);
	ht_pump(t->base, 5000, &t->events);
	assert_int_equal(t->events, 1);
	assert_int_equal(t->what, STREAM_TIMEOUT | STREAM_WRITING);
	assert_int_equal(t->drained, 0);
	assert_true(evbuffer_get_length(stream_output(t->s)) > 0);
}

/* A blocked output that the peer then reads is written out in full. */
static void
test_write_resumes(void **state)
{
	struct st	*t = *state;
	size_t		 total = 4 << 20, got = 0;
	char		*big = xcalloc(1, total), buf[65536];
	ssize_t		 n;

	evbuffer_add(stream_output(t->s), big, total);
	free(big);
	while (got < total && t->events == 0) {
		ht_pump(t->base, 10, NULL);
		while ((n = read(t->peer, buf, sizeof(buf))) > 0)
			got += (size_t)n;
	}
	ht_pump(t->base, 2000, &t->drained);
	assert_int_equal(got, total);
	assert_int_equal(t->events, 0);
	assert_int_equal(t->drained, 1);
}

static void
test_write_error(void **state)
{
	struct st	*t = *state;

	close(t->peer);
	t->peer = -1;
	stream_disable(t->s, STREAM_READ);
	evbuffer_add(stream_output(t->s), "lost", 4);
	ht_pump(t->base, 2000, &t->events);
	assert_int_equal(t->events, 1);
	assert_int_equal(t->what, STREAM_ERROR | STREAM_WRITING);
	assert_int_equal(t->error, EPIPE);
}

static int
st_connect_to(int port)
{
	struct sockaddr_in	 sin;
	int			 fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		assert_int_equal(errno, EINPROGRESS);
	return fd;
}

static void
test_connect(void **state)
{
	struct st	*t = *state;
	int		 lfd, port, fd;
	char		 buf[8];

	lfd = ht_listen(&port);
	stream_free(t->s);
	st_attach(t, st_connect_to(port));
	stream_connecting(t->s);
	/* Queued before the connection is up, sent once it is. */
	evbuffer_add(stream_output(t->s), "early", 5);
	ht_pump(t->base, 2000, &t->events);
	assert_int_equal(t->what, STREAM_CONNECTED);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	close(t->peer);
	t->peer = fd;
	assert_int_equal(st_peer_read(t, buf, 5, 2000), 5);
	assert_memory_equal(buf, "early", 5);
	close(lfd);
}

static void
test_connect_refused(void **state)
{
	struct st	*t = *state;
	int		 lfd, port;

	lfd = ht_listen(&port);
	close(lfd);	/* nothing listens there now */
	stream_free(t->s);
	st_attach(t, st_connect_to(port));
	stream_connecting(t->s);
	ht_pump(t->base, 2000, &t->events);
	assert_int_equal(t->events, 1);
	assert_int_equal(t->what, STREAM_ERROR | STREAM_WRITING);
	assert_int_equal(t->error, ECONNREFUSED);
}

static void
test_handover(void **state)
{
	struct st	*t = *state;
	char		 buf[16];
	int		 fd;

	ht_sendn(t->peer, "buffered", 8);
	ht_pump(t->base, 2000, &t->reads);
	stream_handover(t->s);
	/* Quiet: no callback, no read, whatever the peer sends. */
	ht_sendn(t->peer, "more", 4);
	t->reads = 0;
	ht_pump(t->base, 100, NULL);
	assert_int_equal(t->reads, 0);
	assert_int_equal(evbuffer_remove(stream_input(t->s), buf,
	    sizeof(buf)), 8);
	assert_memory_equal(buf, "buffered", 8);
	/* Released, the socket stays open and works both ways. */
	fd = stream_release(t->s);
	t->s = NULL;
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "more", 4);
	assert_int_equal(write(fd, "back", 4), 4);
	assert_int_equal(st_peer_read(t, buf, 4, 2000), 4);
	assert_memory_equal(buf, "back", 4);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_and_drained, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_counters, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_max, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_disable_read, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_blocks_then_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_resumes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_handover, setup,
		    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
