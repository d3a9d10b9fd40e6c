#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "counters.h"
#include "log.h"
#include "stream.h"
#include "util.h"

/* At most this much is read in one turn, so one socket cannot hog it. */
#define STREAM_READ_SIZE	(64 * 1024)

/*
 * Reads land here and are copied into the input: reserving STREAM_READ_SIZE
 * in the input instead would allocate (and soon free) a chain that large
 * for every small request. One process, one loop: one buffer is enough.
 */
static unsigned char	 stream_read_buf[STREAM_READ_SIZE];

struct stream {
	struct event_base	*base;
	int			 fd;
	struct evbuffer		*in;
	struct evbuffer		*out;
	struct event		*read_ev;	/* persistent, added while reading */
	struct event		*write_ev;	/* added only while blocked */
	struct evbuffer_cb_entry *in_cb;
	struct evbuffer_cb_entry *out_cb;
	stream_data_cb		 read_cb;
	stream_data_cb		 write_cb;
	stream_event_cb		 event_cb;
	void			*arg;
	struct micro_counters	*counters;	/* NULL: not counted */
	size_t			 read_max;
	struct timeval		 write_timeout;
	short			 enabled;	/* STREAM_READ | STREAM_WRITE */
	unsigned		 reading:1;	/* read_ev added */
	unsigned		 blocked:1;	/* write_ev added */
	unsigned		 queued:1;	/* write_ev made active */
	unsigned		 connecting:1;
	unsigned		 read_done:1;	/* EOF or error: reading stopped */
	unsigned		 has_write_timeout:1;
};

static int
stream_would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Make whether read_ev is added match whether we want to read. */
static void
stream_sync_read(struct stream *s)
{
	int	 want;

	want = (s->enabled & STREAM_READ) && !s->read_done && !s->connecting &&
	    (s->read_max == 0 || evbuffer_get_length(s->in) < s->read_max);
	if (want && !s->reading)
		event_add(s->read_ev, NULL);
	else if (!want && s->reading)
		event_del(s->read_ev);
	s->reading = want;
}

/* Write at the end of this turn, unless blocked (write_ev will tell). */
static void
stream_schedule_write(struct stream *s)
{
	if (!(s->enabled & STREAM_WRITE) || s->connecting || s->blocked ||
	    s->queued)
		return;
	s->queued = 1;
	event_active(s->write_ev, EV_WRITE, 1);
}

static void
stream_block(struct stream *s)
{
	event_add(s->write_ev, s->has_write_timeout ? &s->write_timeout : NULL);
	s->blocked = 1;
}

static void
stream_unblock(struct stream *s)
{
	if (s->blocked)
		event_del(s->write_ev);
	s->blocked = 0;
}

/* The callbacks come last: they may free the stream. */
static void
stream_fire(struct stream *s, short what)
{
	if (s->event_cb != NULL)
		s->event_cb(s, what, s->arg);
}

static void
stream_read_done(struct stream *s, short what)
{
	s->read_done = 1;
	stream_sync_read(s);
	stream_fire(s, what | STREAM_READING);
}

static size_t
stream_read_room(const struct stream *s)
{
	size_t	 len = evbuffer_get_length(s->in);

	if (s->read_max == 0 || s->read_max - len > STREAM_READ_SIZE)
		return STREAM_READ_SIZE;
	return s->read_max - len;
}

static void
stream_read_ev(evutil_socket_t fd, short what, void *arg)
{
	struct stream	*s = arg;
	ssize_t		 n;

	n = read(fd, stream_read_buf, stream_read_room(s));
	if (n <= 0) {
		if (n == -1 && stream_would_block())
			return;
		stream_read_done(s, n == 0 ? STREAM_EOF : STREAM_ERROR);
		return;
	}
	if (evbuffer_add(s->in, stream_read_buf, (size_t)n) == -1)
		fatalx("evbuffer_add");
	if (s->counters != NULL)
		COUNTER_ADD(s->counters, bytes_in, (uint64_t)n);
	if (s->read_max != 0)
		stream_sync_read(s);
	if (s->read_cb != NULL)
		s->read_cb(s, s->arg);
}

static void
stream_connected(struct stream *s)
{
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	s->blocked = 0;		/* write_ev fired: no longer added */
	s->connecting = 0;
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		errno = err;
		stream_fire(s, STREAM_ERROR | STREAM_WRITING);
		return;
	}
	stream_sync_read(s);
	if (evbuffer_get_length(s->out) > 0)
		stream_schedule_write(s);
	stream_fire(s, STREAM_CONNECTED);
}

static void
stream_write_ev(evutil_socket_t fd, short what, void *arg)
{
	struct stream	*s = arg;
	int		 n;

	s->queued = 0;
	if (what & EV_TIMEOUT) {
		s->blocked = 0;	/* fired: no longer added */
		stream_fire(s, STREAM_TIMEOUT | STREAM_WRITING);
		return;
	}
	if (s->connecting) {
		stream_connected(s);
		return;
	}
	if (!(s->enabled & STREAM_WRITE) || evbuffer_get_length(s->out) == 0) {
		stream_unblock(s);
		return;
	}
	if ((n = evbuffer_write(s->out, fd)) == -1 && !stream_would_block()) {
		stream_unblock(s);
		s->enabled &= ~STREAM_WRITE;
		stream_fire(s, STREAM_ERROR | STREAM_WRITING);
		return;
	}
	if (n > 0 && s->counters != NULL)
		COUNTER_ADD(s->counters, bytes_out, (uint64_t)n);
	if (evbuffer_get_length(s->out) > 0) {
		stream_block(s);	/* re-added: the timeout starts again */
		return;
	}
	stream_unblock(s);
	if (s->write_cb != NULL)
		s->write_cb(s, s->arg);
}

static void
stream_in_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct stream	*s = arg;

	if (info->n_deleted > 0 && s->read_max != 0)
		stream_sync_read(s);
}

static void
stream_out_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	if (info->n_added > 0)
		stream_schedule_write(arg);
}

struct stream *
stream_new(struct event_base *base, int fd)
{
	struct stream	*s;

	s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->fd = fd;
	s->in = evbuffer_new();
	s->out = evbuffer_new();
	s->read_ev = event_new(base, fd, EV_READ | EV_PERSIST, stream_read_ev,
	    s);
	s->write_ev = event_new(base, fd, EV_WRITE, stream_write_ev, s);
	if (s->in == NULL || s->out == NULL || s->read_ev == NULL ||
	    s->write_ev == NULL)
		fatalx("stream_new");
	s->in_cb = evbuffer_add_cb(s->in, stream_in_changed, s);
	s->out_cb = evbuffer_add_cb(s->out, stream_out_changed, s);
	return s;
}

void
stream_connecting(struct stream *s)
{
	s->connecting = 1;
	stream_sync_read(s);
	stream_block(s);
}

/* Quiet the stream: no event pending or active, no buffer callback. */
static void
stream_detach(struct stream *s)
{
	event_free(s->read_ev);
	event_free(s->write_ev);
	evbuffer_remove_cb_entry(s->in, s->in_cb);
	evbuffer_remove_cb_entry(s->out, s->out_cb);
}

void
stream_free(struct stream *s)
{
	if (s == NULL)
		return;
	stream_detach(s);
	evbuffer_free(s->in);
	evbuffer_free(s->out);
	if (s->fd != -1)
		close(s->fd);
	free(s);
}

void
stream_setcb(struct stream *s, stream_data_cb read_cb, stream_data_cb write_cb,
    stream_event_cb event_cb, void *arg)
{
	s->read_cb = read_cb;
	s->write_cb = write_cb;
	s->event_cb = event_cb;
	s->arg = arg;
}

void
stream_enable(struct stream *s, short what)
{
	s->enabled |= what;
	stream_sync_read(s);
	if ((what & STREAM_WRITE) && evbuffer_get_length(s->out) > 0)
		stream_schedule_write(s);
}

void
stream_disable(struct stream *s, short what)
{
	s->enabled &= ~what;
	stream_sync_read(s);
	if ((what & STREAM_WRITE) && !s->connecting)
		stream_unblock(s);
}

void
stream_set_read_max(struct stream *s, size_t max)
{
	s->read_max = max;
	stream_sync_read(s);
}

void
stream_set_counters(struct stream *s, struct micro_counters *c)
{
	s->counters = c;
}

void
stream_set_write_timeout(struct stream *s, const struct timeval *tv)
{
	s->has_write_timeout = tv != NULL;
	if (tv != NULL)
		s->write_timeout = *tv;
}

struct evbuffer *
stream_input(struct stream *s)
{
	return s->in;
}

struct evbuffer *
stream_output(struct stream *s)
{
	return s->out;
}

int
stream_fd(const struct stream *s)
{
	return s->fd;
}

struct event_base *
stream_base(const struct stream *s)
{
	return s->base;
}

void
stream_handover(struct stream *s)
{
	stream_setcb(s, NULL, NULL, NULL, NULL);
	stream_set_counters(s, NULL);
	stream_set_write_timeout(s, NULL);
	s->read_max = 0;
	/* The new owner reads the end of the stream for itself. */
	s->read_done = 0;
	stream_disable(s, STREAM_READ | STREAM_WRITE);
}

int
stream_release(struct stream *s)
{
	int	 fd = s->fd;

	s->fd = -1;
	stream_free(s);
	return fd;
}
