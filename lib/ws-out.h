/*
 * A websocket's output queue (lib/ws.c): whole frames in one flat
 * buffer, written with one send() per loop turn. It remembers where each
 * unsent frame ends, which counts the frames still queued (the message
 * limit) and lets a close frame overtake every frame that has not
 * started to leave. The buffer keeps its size between turns (no
 * allocation per write) unless a backlog made it larger than
 * WS_OUT_KEEP; lib/ws.c trims it on every ping tick, so an idle
 * connection holds none, and a drop, or a backlog that goes down to a
 * quarter, shrinks it to what is left to send. The process's bound
 * counts such a buffer whole (see ws_out_held in ws-out.c).
 */
#ifndef MICRO_WS_OUT_H
#define MICRO_WS_OUT_H

#include <stddef.h>
#include <stdint.h>

#define WS_OUT_KEEP	(256 * 1024)

struct ws_out {
	uint8_t		*buf;
	size_t		 off, len, cap;	/* unsent: buf[off, len) */
	uint64_t	 total;		/* bytes ever queued */
	uint64_t	 base;		/* where frames[first] starts */
	uint64_t	*frames;	/* ends of unsent frames, a ring */
	size_t		 frames_cap;	/* a power of two */
	size_t		 first, nframes;
};

/* Starts with len bytes that are not a frame (the 101 answer). */
void		 ws_out_init(struct ws_out *, const void *, size_t);
void		 ws_out_free(struct ws_out *);
/*
 * Room for n bytes; ws_out_commit() then queues the bytes written there
 * as one frame.
 */
uint8_t		*ws_out_space(struct ws_out *, size_t);
void		 ws_out_commit(struct ws_out *, size_t);
/* Unsent bytes, and unsent frames. */
size_t		 ws_out_pending(const struct ws_out *);
size_t		 ws_out_frames(struct ws_out *);
/*
 * What every queue in this process holds together: the memory of the
 * buffers a backlog grew past WS_OUT_KEEP, the unsent bytes of the rest.
 */
size_t		 ws_out_pending_all(void);
/* What ws_out_space() and a commit of n bytes add to that. */
size_t		 ws_out_cost(const struct ws_out *, size_t);
/* Bytes that ever left: moves while the peer reads. */
uint64_t	 ws_out_written(const struct ws_out *);
/* Send what the socket takes: 0, or -1 with errno (not EAGAIN). */
int		 ws_out_send(struct ws_out *, int);
/* Give the buffer back if nothing is waiting in it. */
void		 ws_out_trim(struct ws_out *);
/* Forget every frame not yet started; a frame half sent stays whole. */
void		 ws_out_drop_unsent(struct ws_out *);

#endif
