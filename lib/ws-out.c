/* A websocket's output queue (see ws-out.h). */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "ws-out.h"

#define WS_OUT_FRAMES_MIN	16

/* What every queue of the process holds (ws_out_held). */
static size_t	 ws_out_all;

/*
 * What a queue counts against the process's bound: all the memory of a
 * buffer a backlog grew past WS_OUT_KEEP, not just its unsent bytes, or
 * a peer that stays a little behind would keep a buffer of megabytes
 * that counts for kilobytes; ws_out_send shrinks it as the backlog goes,
 * so it counts no more than it must. A smaller buffer counts its unsent
 * bytes: what it keeps between turns is the connection's working room
 * (at most WS_OUT_KEEP, given back on the ping tick when empty), or every
 * connection that once took a large message would count for good.
 */
static size_t
ws_out_held(const struct ws_out *o)
{
	return o->cap > WS_OUT_KEEP ? o->cap : ws_out_pending(o);
}

/* o changed, and held what it was before. */
static void
ws_out_recount(const struct ws_out *o, size_t held)
{
	ws_out_all = ws_out_all - held + ws_out_held(o);
}

void
ws_out_init(struct ws_out *o, const void *data, size_t len)
{
	size_t	 held;

	memset(o, 0, sizeof(*o));
	o->frames_cap = WS_OUT_FRAMES_MIN;
	o->frames = xcalloc(o->frames_cap, sizeof(*o->frames));
	if (len > 0)
		memcpy(ws_out_space(o, len), data, len);
	held = ws_out_held(o);
	o->len = len;
	o->total = o->base = len;
	ws_out_recount(o, held);
}

void
ws_out_free(struct ws_out *o)
{
	ws_out_all -= ws_out_held(o);
	free(o->buf);
	free(o->frames);
}

size_t
ws_out_pending_all(void)
{
	return ws_out_all;
}

/* The capacity ws_out_space() gives for n bytes more. */
static size_t
ws_out_grown(const struct ws_out *o, size_t n)
{
	size_t	 need = ws_out_pending(o) + n, cap;

	if (need <= o->cap)
		return o->cap;
	cap = o->cap > 0 ? 2 * o->cap : 4096;
	return cap < need ? need : cap;
}

size_t
ws_out_cost(const struct ws_out *o, size_t n)
{
	size_t	 cap = ws_out_grown(o, n);

	return (cap > WS_OUT_KEEP ? cap : ws_out_pending(o) + n) -
	    ws_out_held(o);
}

uint8_t *
ws_out_space(struct ws_out *o, size_t n)
{
	size_t	 cap, held = ws_out_held(o);

	if (o->len + n > o->cap && o->off > 0) {
		memmove(o->buf, o->buf + o->off, o->len - o->off);
		o->len -= o->off;
		o->off = 0;
	}
	if ((cap = ws_out_grown(o, n)) > o->cap) {
		o->buf = xrealloc(o->buf, cap);
		o->cap = cap;
		ws_out_recount(o, held);
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
	size_t	 held = ws_out_held(o);

	o->len += n;
	o->total += n;
	ws_out_recount(o, held);
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

uint64_t
ws_out_written(const struct ws_out *o)
{
	return o->total - ws_out_pending(o);
}

/*
 * Down to what is still to go: after a drop, a slow peer's backlog must
 * not keep its buffer for as long as the close takes, and a peer that
 * stays a little behind must not keep what its worst moment needed.
 */
static void
ws_out_fit(struct ws_out *o)
{
	size_t	 n = ws_out_pending(o), held = ws_out_held(o);

	if (o->cap <= WS_OUT_KEEP || n > o->cap / 2)
		return;
	memmove(o->buf, o->buf + o->off, n);
	o->off = 0;
	o->len = n;
	o->cap = n > WS_OUT_KEEP / 2 ? 2 * n : WS_OUT_KEEP;
	o->buf = xrealloc(o->buf, o->cap);
	ws_out_recount(o, held);
}

int
ws_out_send(struct ws_out *o, int fd)
{
	ssize_t	 n;
	size_t	 held = ws_out_held(o);

	if (ws_out_pending(o) == 0)
		return 0;
	n = send(fd, o->buf + o->off, o->len - o->off, MSG_NOSIGNAL);
	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	o->off += (size_t)n;
	ws_out_recount(o, held);
	if (o->off == o->len) {
		o->off = o->len = 0;
		if (o->cap > WS_OUT_KEEP)
			ws_out_trim(o);		/* a backlog is over */
	} else if (ws_out_pending(o) < o->cap / 4)
		ws_out_fit(o);	/* halved at least: no copy every turn */
	return 0;
}

void
ws_out_trim(struct ws_out *o)
{
	size_t	 held = ws_out_held(o);

	if (ws_out_pending(o) != 0)
		return;
	free(o->buf);
	o->buf = NULL;
	o->off = o->len = o->cap = 0;
	ws_out_recount(o, held);
}

void
ws_out_drop_unsent(struct ws_out *o)
{
	uint64_t	 sent, cut;
	size_t		 held;

	ws_out_sent(o);
	if (o->nframes == 0)
		return;
	held = ws_out_held(o);
	sent = ws_out_written(o);
	cut = o->base < sent ? o->frames[o->first] : o->base;
	o->len = o->off + (size_t)(cut - sent);
	o->total = o->base = cut;
	o->nframes = 0;
	ws_out_recount(o, held);
	ws_out_fit(o);
}
