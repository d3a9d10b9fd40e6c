/* A websocket's output queue (see ws-out.h). */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "ws-out.h"

#define WS_OUT_FRAMES_MIN	16

/* Unsent bytes of every queue of the process. */
static size_t	 ws_out_all;

void
ws_out_init(struct ws_out *o, const void *data, size_t len)
{
	memset(o, 0, sizeof(*o));
	o->frames_cap = WS_OUT_FRAMES_MIN;
	o->frames = xcalloc(o->frames_cap, sizeof(*o->frames));
	if (len > 0)
		memcpy(ws_out_space(o, len), data, len);
	o->len = len;
	o->total = o->base = len;
	ws_out_all += len;
}

void
ws_out_free(struct ws_out *o)
{
	ws_out_all -= ws_out_pending(o);
	free(o->buf);
	free(o->frames);
}

size_t
ws_out_pending_all(void)
{
	return ws_out_all;
}

uint8_t *
ws_out_space(struct ws_out *o, size_t n)
{
	size_t	 cap;

	if (o->len + n > o->cap && o->off > 0) {
		memmove(o->buf, o->buf + o->off, o->len - o->off);
		o->len -= o->off;
		o->off = 0;
	}
	if (o->len + n > o->cap) {
		cap = o->cap > 0 ? 2 * o->cap : 4096;
		if (cap < o->len + n)
			cap = o->len + n;
		o->buf = xrealloc(o->buf, cap);
		o->cap = cap;
	}
	return o->buf + o->len;
}

static void
ws_out_push(struct ws_out *o, uint64_t end)
{
	uint64_t	*grown;
	size_t		 i, mask = o->frames_cap - 1;

	if (o->nframes == o->frames_cap) {
		grown = xcalloc(2 * o->frames_cap, sizeof(*grown));
		for (i = 0; i < o->nframes; i++)
			grown[i] = o->frames[(o->first + i) & mask];
		free(o->frames);
		o->frames = grown;
		o->frames_cap *= 2;
		o->first = 0;
	}
	o->frames[(o->first + o->nframes) & (o->frames_cap - 1)] = end;
	o->nframes++;
}

void
ws_out_commit(struct ws_out *o, size_t n)
{
	o->len += n;
	o->total += n;
	ws_out_all += n;
	ws_out_push(o, o->total);
}

size_t
ws_out_pending(const struct ws_out *o)
{
	return o->len - o->off;
}

/* Forget the frames that have left entirely. */
static void
ws_out_sent(struct ws_out *o)
{
	uint64_t	 sent = o->total - ws_out_pending(o);

	while (o->nframes > 0 && o->frames[o->first] <= sent) {
		o->base = o->frames[o->first];
		o->first = (o->first + 1) & (o->frames_cap - 1);
		o->nframes--;
	}
}

size_t
ws_out_frames(struct ws_out *o)
{
	ws_out_sent(o);
	return o->nframes;
}

int
ws_out_send(struct ws_out *o, int fd)
{
	ssize_t	 n;

	if (ws_out_pending(o) == 0)
		return 0;
	n = send(fd, o->buf + o->off, o->len - o->off, MSG_NOSIGNAL);
	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	o->off += (size_t)n;
	ws_out_all -= (size_t)n;
	if (o->off < o->len)
		return 0;
	o->off = o->len = 0;
	if (o->cap > WS_OUT_KEEP)
		ws_out_trim(o);		/* a backlog is over */
	return 0;
}

void
ws_out_trim(struct ws_out *o)
{
	if (ws_out_pending(o) != 0)
		return;
	free(o->buf);
	o->buf = NULL;
	o->off = o->len = o->cap = 0;
}

/*
 * Down to what is still to go, after a drop: a slow peer's backlog must
 * not keep its buffer for as long as the close takes.
 */
static void
ws_out_fit(struct ws_out *o)
{
	size_t	 n = ws_out_pending(o);

	if (o->cap <= WS_OUT_KEEP || n > o->cap / 2)
		return;
	memmove(o->buf, o->buf + o->off, n);
	o->off = 0;
	o->len = n;
	o->cap = n > WS_OUT_KEEP / 2 ? 2 * n : WS_OUT_KEEP;
	o->buf = xrealloc(o->buf, o->cap);
}

void
ws_out_drop_unsent(struct ws_out *o)
{
	uint64_t	 sent, cut;

	ws_out_sent(o);
	if (o->nframes == 0)
		return;
	sent = o->total - ws_out_pending(o);
	cut = o->base < sent ? o->frames[o->first] : o->base;
	ws_out_all -= (size_t)(o->total - cut);
	o->len = o->off + (size_t)(cut - sent);
	o->total = o->base = cut;
	o->nframes = 0;
	ws_out_fit(o);
}
