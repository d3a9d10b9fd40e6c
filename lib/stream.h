/*
 * A non-blocking socket with an input and an output evbuffer: the part of
 * libevent's bufferevent the HTTP layer uses, without its per-request
 * system calls (doc/http.md, "Socket I/O").
 *
 * - Reading: the read event is added once and stays; each turn reads
 *   straight into space reserved in the input (a bufferevent asks the
 *   kernel for FIONREAD first, one more system call per read).
 * - Writing: bytes added to the output are written when the turn's
 *   callbacks are done (the write event is made active, not added), in
 *   one writev. Only a socket that would block gets its write event added
 *   (a bufferevent adds and deletes it around every write: two epoll_ctl).
 *
 * The callbacks mean what a bufferevent's mean: read after bytes arrived,
 * write once the output has drained to empty, event with STREAM_* bits.
 * The stream owns its socket: stream_free closes it.
 */
#ifndef MICRO_STREAM_H
#define MICRO_STREAM_H

#include <stddef.h>

struct event_base;
struct micro_counters;
struct evbuffer;
struct stream;
struct timeval;

/* Event callback bits: what happened, and while doing what. */
#define STREAM_READING		0x01
#define STREAM_WRITING		0x02
#define STREAM_EOF		0x10
#define STREAM_ERROR		0x20	/* errno says which */
#define STREAM_TIMEOUT		0x40
#define STREAM_CONNECTED	0x80

/* What stream_enable and stream_disable take (EV_READ, EV_WRITE alike). */
#define STREAM_READ		0x02
#define STREAM_WRITE		0x04

typedef void	(*stream_data_cb)(struct stream *, void *);
typedef void	(*stream_event_cb)(struct stream *, short, void *);

/* fd must be non-blocking; reading and writing start disabled. */
struct stream	*stream_new(struct event_base *, int fd);
/* fd has a connect() in progress: STREAM_CONNECTED (or an error) follows. */
void		 stream_connecting(struct stream *);
void		 stream_free(struct stream *);

void		 stream_setcb(struct stream *, stream_data_cb read_cb,
		    stream_data_cb write_cb, stream_event_cb event_cb, void *);
void		 stream_enable(struct stream *, short);
void		 stream_disable(struct stream *, short);
/* Stop reading while the input holds max bytes or more (0: no limit). */
void		 stream_set_read_max(struct stream *, size_t max);
/* Count the bytes read and written in c's bytes_in and bytes_out (or not). */
void		 stream_set_counters(struct stream *, struct micro_counters *c);
/* Give up (STREAM_TIMEOUT | STREAM_WRITING) when a write waits this long. */
void		 stream_set_write_timeout(struct stream *, const struct timeval *);

struct evbuffer	*stream_input(struct stream *);
struct evbuffer	*stream_output(struct stream *);
int		 stream_fd(const struct stream *);
struct event_base *stream_base(const struct stream *);

/*
 * Ready the stream for a new owner (a protocol switch: websockets,
 * tunnels): no callbacks, counters, read limit or write timeout, reading
 * and writing disabled; the socket and what is buffered stay.
 */
void		 stream_handover(struct stream *);
/*
 * Free the stream but not its socket, and return that. What is still
 * buffered is freed with it: take it first.
 */
int		 stream_release(struct stream *);

#endif
