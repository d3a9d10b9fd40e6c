/*
 * Websocket connections (see ws.h), framed in place: frames are parsed
 * where they lie in the read buffer (ws-frame.c) and written straight
 * into the output queue (ws-out.c), so a message costs one copy each way.
 *
 * The socket is ours, not a bufferevent's: a turn of the loop costs one
 * read, and one write per connection that has output, tried when the
 * turn's work is done (the write event is made active, not added); only
 * a socket that would block gets its write event added. A bufferevent
 * asks the kernel for FIONREAD before each read, adds then deletes its
 * write event around every write (three system calls more per turn), and
 * allocates and frees its buffer chains as they fill and drain.
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <linux/sockios.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "log.h"
#include "stream.h"
#include "util.h"
#include "ws.h"
#include "ws-frame.h"
#include "ws-int.h"
#include "ws-out.h"

#define WS_CLOSE_WAIT_MS	2000
#define WS_CLOSE_NO_STATUS	1005	/* received an empty close */
/*
 * At most this much is read from one connection per turn (redis-server's
 * figure too): a publisher's burst is delivered in slices, so its
 * subscribers receive, and it sends, while the rest is still coming in,
 * and other connections get their turn. bench/RESULTS.md has 4-64 KiB.
 */
#define WS_READ_SIZE		(16 * 1024)

#define WS_DEFAULT_MAX_MESSAGE		(1024 * 1024)
#define WS_DEFAULT_MAX_QUEUE_MSGS	1024
#define WS_DEFAULT_MAX_QUEUE_BYTES	(8 * 1024 * 1024)

struct ws {
	int			 fd;
	int			 server;
	uint8_t			*in;		/* a frame begun, or NULL */
	size_t			 in_len, in_cap;
	struct ws_out		 out;
	struct event		*read_ev;
	struct event		*write_ev;
	struct ws_limits	 limits;
	struct ws_callbacks	 cb;
	void			*arg;
	struct event		*end_ev;	/* close deadline, or finish now */
	struct event		*ping_ev;
	uint64_t		 alive_ms;	/* heard from, or took bytes */
	uint64_t		 taken;		/* ws_taken() at the last tick */
	int			 owed;		/* it had bytes to take then */
	int			 reading;	/* 0 once closed or failed */
	int			 going_away;	/* our close was 1001 */
	int			 frag_op;	/* message in fragments, or 0 */
	struct evbuffer		*frag;
	int			 close_sent;
	int			 close_received;
	uint16_t		 code_sent;
	uint16_t		 code_received;
	int			 ending;
	int			 cut;		/* for the process's bound */
	struct event		*cut_ev;	/* its overflow, from the loop */
	char			 peer[64];
	LIST_ENTRY(ws)		 entry;
};

/* Every websocket of the process, for the bound on their queues together. */
static LIST_HEAD(, ws)	 ws_all = LIST_HEAD_INITIALIZER(ws_all);

typedef void	(*ws_op_fn)(struct ws *, const struct ws_frame *, uint8_t *);

void
ws_random(void *buf, size_t len)
{
	if (getrandom(buf, len, 0) != (ssize_t)len)
		fatal("getrandom");
}

/* Cut the connection from the event loop (never inside a ws_* call). */
static void
ws_end_soon(struct ws *ws)
{
	if (ws->ending)
		return;
	ws->ending = 1;
	event_active(ws->end_ev, EV_TIMEOUT, 0);
}

/*
 * Closing a socket with unread input resets the connection, and the
 * reset may destroy the close frame in flight: a peer we stopped reading
 * (a protocol error, a message too big) may still be sending. So, as
 * lib/http-conn.c does for HTTP (nginx's lingering close, here on our
 * own socket, not a stream): half-close, and read and drop what comes
 * until the peer closes or the close deadline.
 */
static void
ws_linger(struct ws *ws)
{
	if (shutdown(ws->fd, SHUT_WR) == -1)
		ws_end_soon(ws);
}

/* Over once both closes are done (or reading stopped) and all has left. */
static void
ws_check(struct ws *ws)
{
	if (!ws->close_sent || ws->reading || ws_out_pending(&ws->out) > 0)
		return;
	if (ws->close_received)
		ws_end_soon(ws);
	else
		ws_linger(ws);
}

/* One final frame into the output; clients mask (RFC 6455 §5.3). */
static void
ws_put(struct ws *ws, int opcode, const void *data, size_t len)
{
	uint8_t	 mask[4], *p;
	size_t	 n;

	p = ws_out_space(&ws->out, WS_FRAME_HDR_MAX + len);
	if (!ws->server)
		ws_random(mask, sizeof(mask));
	n = ws_frame_header(p, opcode, len, ws->server ? NULL : mask);
	if (len > 0)
		memcpy(p + n, data, len);
	if (!ws->server)
		ws_frame_unmask(p + n, len, mask);
	ws_out_commit(&ws->out, n + len);
	/* Written once this turn's work is done (ws_write_cb). */
	if (!event_pending(ws->write_ev, EV_WRITE, NULL))
		event_active(ws->write_ev, EV_WRITE, 0);
}

/* Would one more frame of len bytes pass its own queue's limits? */
static int
ws_own_queue_full(struct ws *ws, size_t len)
{
	return ws_out_frames(&ws->out) + 1 > ws->limits.max_queue_msgs ||
	    ws_out_pending(&ws->out) + len > ws->limits.max_queue_bytes;
}

/*
 * Would it pass its queue's limits, or the process's queues' together?
 * Those count the memory a frame may take (ws_out_cost), header and a
 * buffer's growth included, so the bound holds to the byte.
 */
static int
ws_queue_full(struct ws *ws, size_t len)
{
	return ws_own_queue_full(ws, len) || (ws->limits.max_queue_all != 0 &&
	    ws_out_pending_all() + ws_out_cost(&ws->out, WS_FRAME_HDR_MAX +
	    len) > ws->limits.max_queue_all);
}

/* The peer furthest behind, of those still taking messages. */
static struct ws *
ws_slowest(void)
{
	struct ws	*w, *slowest = NULL;

	LIST_FOREACH(w, &ws_all, entry) {
		if (w->close_sent || w->ending || w->cut)
			continue;
		if (slowest == NULL ||
		    ws_out_pending(&w->out) > ws_out_pending(&slowest->out))
			slowest = w;
	}
	return slowest;
}

static void
ws_overflow(struct ws *ws)
{
	if (ws->cb.overflow != NULL)
		ws->cb.overflow(ws, ws->arg);
	else
		ws_close(ws, WS_CLOSE_POLICY, "output queue full");
}

static void
ws_cut_cb(evutil_socket_t fd, short what, void *arg)
{
	ws_overflow(arg);
}

/*
 * The process's queues together are full, not ws's own: the peer
 * furthest behind is cut, not whoever the next message is for, who may
 * be keeping up. What its socket takes leaves first: a burst queued in
 * one turn before any write makes a peer that keeps up look furthest
 * behind. If that makes no room, its unsent frames go now, and it takes
 * no more; its overflow comes from the loop, since a callback inside
 * another's send could pull its caller's list from under it. Returns
 * whether ws has room now.
 */
static int
ws_room_made(struct ws *ws, size_t len)
{
	struct ws	*slowest;
	size_t		 behind;

	while (ws_queue_full(ws, len)) {
		if (ws_own_queue_full(ws, len) || (slowest = ws_slowest()) ==
		    NULL || (behind = ws_out_pending(&slowest->out)) <=
		    ws_out_pending(&ws->out))
			return 0;
		if (ws_out_send(&slowest->out, slowest->fd) == 0 &&
		    ws_out_pending(&slowest->out) < behind)
			continue;
		slowest->cut = 1;
		ws_out_drop_unsent(&slowest->out);
		event_active(slowest->cut_ev, EV_TIMEOUT, 0);
	}
	return 1;
}

/* The close handshake has WS_CLOSE_WAIT_MS to finish. */
static void
ws_close_deadline(struct ws *ws)
{
	struct timeval	 tv = { WS_CLOSE_WAIT_MS / 1000,
			    (WS_CLOSE_WAIT_MS % 1000) * 1000 };

	evtimer_add(ws->end_ev, &tv);
}

/* Close frame payload: code, then as much of the reason as fits. */
static void
ws_send_close(struct ws *ws, uint16_t code, const char *reason)
{
	uint8_t	 p[WS_CONTROL_MAX];
	size_t	 n = 0;

	if (code != WS_CLOSE_NO_STATUS) {
		p[0] = code >> 8;
		p[1] = code & 0xff;
		if (reason != NULL) {
			n = strlen(reason);
			if (n > sizeof(p) - 2)
				n = sizeof(p) - 2;
			memcpy(p + 2, reason, n);
		}
		n += 2;
	}
	ws_put(ws, WS_OP_CLOSE, p, n);
	ws->close_sent = 1;
	ws->going_away = code == WS_CLOSE_GOING_AWAY;
	ws->code_sent = code;
	ws_close_deadline(ws);
	ws_check(ws);
}

/* The peer ended it: its user learns now, not when the close completes. */
static void
ws_closing(struct ws *ws)
{
	if (ws->cb.closing != NULL)
		ws->cb.closing(ws, ws->arg);
}

/* A protocol violation: close with code, read no more. */
static void
ws_fail(struct ws *ws, uint16_t code, const char *cause)
{
	log_debug("websocket %s: %s", ws->peer, cause);
	ws->reading = 0;
	ws_close(ws, code, cause);
	ws_closing(ws);
	ws_check(ws);
}

/*
 * After our close nothing more is taken (RFC 6455 5.5.1 only stops the
 * sending), but after a server's 1001: a publisher's frames on their
 * way when a drain closed it are publishes it made, while one closed
 * for a refused publish was told that the ones after it are not taken.
 */
static void
ws_deliver(struct ws *ws, int opcode, const void *data, size_t len)
{
	if ((!ws->close_sent || (ws->server && ws->going_away)) &&
	    ws->cb.message != NULL)
		ws->cb.message(ws, opcode == WS_OP_BINARY, data, len, ws->arg);
}

static void
ws_op_data(struct ws *ws, const struct ws_frame *f, uint8_t *p)
{
	if (ws->frag_op != 0) {
		ws_fail(ws, WS_CLOSE_PROTOCOL, "new message inside another");
		return;
	}
	if (f->fin) {
		ws_deliver(ws, f->opcode, p, f->len);
		return;
	}
	ws->frag_op = f->opcode;
	evbuffer_add(ws->frag, p, f->len);
}

static void
ws_op_cont(struct ws *ws, const struct ws_frame *f, uint8_t *p)
{
	size_t	 len;

	if (ws->frag_op == 0) {
		ws_fail(ws, WS_CLOSE_PROTOCOL, "continuation of nothing");
		return;
	}
	evbuffer_add(ws->frag, p, f->len);
	if (!f->fin)
		return;
	len = evbuffer_get_length(ws->frag);
	ws_deliver(ws, ws->frag_op, evbuffer_pullup(ws->frag, -1), len);
	evbuffer_drain(ws->frag, len);
	ws->frag_op = 0;
}

/*
 * The peer's close: answer with its code (§5.5.1) after what is queued,
 * read no more.
 */
static void
ws_op_close(struct ws *ws, const struct ws_frame *f, uint8_t *p)
{
	const char	*cause;
	uint16_t	 code;

	if (ws_frame_close_code(p, f->len, &code, &cause) == -1) {
		ws_fail(ws, WS_CLOSE_PROTOCOL, cause);
		return;
	}
	ws->close_received = 1;
	ws->code_received = code;
	ws->reading = 0;
	if (!ws->close_sent) {
		ws_send_close(ws, code, NULL);
		ws_closing(ws);
	}
	ws_check(ws);
}

static void
ws_op_ping(struct ws *ws, const struct ws_frame *f, uint8_t *p)
{
	/* A peer that pings faster than it reads gets no answer. */
	if (!ws->close_sent && !ws_queue_full(ws, f->len))
		ws_put(ws, WS_OP_PONG, p, f->len);
}

static void
ws_op_pong(struct ws *ws, const struct ws_frame *f, uint8_t *p)
{
	/* Only proves the peer alive: alive_ms has moved. */
}

static const ws_op_fn ws_ops[16] = {
	[WS_OP_CONT] = ws_op_cont,
	[WS_OP_TEXT] = ws_op_data,
	[WS_OP_BINARY] = ws_op_data,
	[WS_OP_CLOSE] = ws_op_close,
	[WS_OP_PING] = ws_op_ping,
	[WS_OP_PONG] = ws_op_pong,
};

/* Would this frame take the message past max_message? */
static int
ws_too_big(const struct ws *ws, const struct ws_frame *f)
{
	size_t	 have = f->opcode == WS_OP_CONT ?
		    evbuffer_get_length(ws->frag) : 0;

	return !WS_OP_IS_CONTROL(f->opcode) &&
	    f->len > ws->limits.max_message - have;
}

/* Whole frames at p, unmasked in place; returns the bytes used. */
static size_t
ws_read_frames(struct ws *ws, uint8_t *p, size_t len)
{
	struct ws_frame	 f;
	const char	*cause;
	size_t		 used = 0;
	int		 n;

	while (ws->reading) {
		n = ws_frame_parse(p + used, len - used, ws->server, &f, &cause);
		if (n == -1)
			ws_fail(ws, WS_CLOSE_PROTOCOL, cause);
		else if (n > 0 && ws_too_big(ws, &f))
			ws_fail(ws, WS_CLOSE_TOO_BIG, "message too big");
		if (n <= 0 || !ws->reading || len - used - f.hlen < f.len)
			break;
		used += f.hlen;
		if (f.masked)
			ws_frame_unmask(p + used, f.len, f.mask);
		ws_ops[f.opcode](ws, &f, p + used);
		used += f.len;
	}
	return used;
}

static void
ws_input_grow(struct ws *ws, size_t need)
{
	if (ws->in_cap >= need)
		return;
	ws->in_cap = need > 2 * ws->in_cap ? need : 2 * ws->in_cap;
	ws->in = xrealloc(ws->in, ws->in_cap);
}

/* Keep the start of a frame for the next read. */
static void
ws_input_keep(struct ws *ws, const uint8_t *p, size_t len)
{
	if (len == 0 && ws->in_cap > 4 * WS_READ_SIZE) {
		/* Done with a large message: give its room back. */
		free(ws->in);
		ws->in = NULL;
		ws->in_cap = 0;
	}
	ws_input_grow(ws, len);
	if (len > 0)
		memmove(ws->in, p, len);
	ws->in_len = len;
}

/*
 * Read into the shared buffer, or after the frame begun in ours, then
 * parse in place: a read that ends on a frame boundary (most) costs no
 * copy. Also made active by ws_new for bytes that came with the upgrade.
 */
static void
ws_read_cb(evutil_socket_t fd, short what, void *arg)
{
	static uint8_t	 scratch[WS_READ_SIZE];
	struct ws	*ws = arg;
	uint8_t		*buf = scratch;
	ssize_t		 n;
	size_t		 len, used;

	if (ws->ending)
		return;
	if (ws->in_len > 0) {
		ws_input_grow(ws, ws->in_len + WS_READ_SIZE);
		buf = ws->in;
	}
	if ((n = recv(ws->fd, buf + ws->in_len, WS_READ_SIZE, 0)) == 0 ||
	    (n == -1 && errno != EAGAIN && errno != EINTR)) {
		ws_end_soon(ws);
		return;
	}
	if (n > 0)
		ws->alive_ms = util_now_ms();
	len = ws->in_len + (n > 0 ? (size_t)n : 0);
	used = ws_read_frames(ws, buf, len);
	/* After a close or an error, whatever else comes is ignored. */
	ws_input_keep(ws, buf + used, ws->reading ? len - used : 0);
}

static void
ws_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws	*ws = arg;

	if (ws->ending)
		return;
	if (ws_out_send(&ws->out, ws->fd) == -1) {
		ws_end_soon(ws);
		return;
	}
	if (ws_out_pending(&ws->out) > 0) {
		event_add(ws->write_ev, NULL);
		return;
	}
	event_del(ws->write_ev);
	ws_check(ws);
}

static uint16_t
ws_final_code(const struct ws *ws)
{
	if (ws->close_received)
		return ws->code_received;
	if (ws->close_sent)
		return ws->code_sent;
	return WS_CLOSE_ABNORMAL;
}

static void
ws_free(struct ws *ws)
{
	event_free(ws->end_ev);
	if (ws->ping_ev != NULL)
		event_free(ws->ping_ev);
	event_free(ws->read_ev);
	event_free(ws->write_ev);
	event_free(ws->cut_ev);
	free(ws->in);
	ws_out_free(&ws->out);
	evbuffer_free(ws->frag);
	close(ws->fd);
	LIST_REMOVE(ws, entry);
	free(ws);
}

static void
ws_end_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws	*ws = arg;

	ws->ending = 1;
	if (ws->cb.closed != NULL)
		ws->cb.closed(ws, ws_final_code(ws), ws->arg);
	ws_free(ws);
}

/*
 * Bytes the peer has taken: its kernel acknowledged them, so they left
 * the socket's send queue too (SIOCOUTQ). That queue holds megabytes on
 * a fast link, and a slow reader's backlog may all be there.
 */
static uint64_t
ws_taken(const struct ws *ws)
{
	uint64_t	 written = ws_out_written(&ws->out);
	int		 queued;

	if (ioctl(ws->fd, SIOCOUTQ, &queued) == -1 || queued < 0)
		queued = 0;
	/* More than we wrote: the HTTP layer's bytes are still there. */
	return (uint64_t)queued < written ? written - (uint64_t)queued : 0;
}

/*
 * Bytes taken since the last tick prove the peer alive if it had some
 * to take then: a slow reader's pings wait behind its backlog, and it
 * cannot answer what it has not reached. Not otherwise: the kernel of a
 * hung peer still acknowledges the ping itself.
 */
static void
ws_took(struct ws *ws, uint64_t now)
{
	uint64_t	 taken = ws_taken(ws);

	if (ws->owed && taken != ws->taken)
		ws->alive_ms = now;
	ws->taken = taken;
	ws->owed = ws_out_pending(&ws->out) > 0 ||
	    taken != ws_out_written(&ws->out);
}

/*
 * Two intervals without a word from the peer or a byte of its backlog
 * taken. With a backlog it takes nothing of, it is a slow peer, cut as
 * one whose queue is full (1008, and the overflow callback counts it);
 * otherwise it is gone.
 */
static void
ws_silent(struct ws *ws)
{
	if (ws->owed && !ws->close_sent && !ws->cut) {
		log_debug("websocket %s: backlog not read", ws->peer);
		ws_overflow(ws);
		return;
	}
	log_debug("websocket %s: no answer to ping", ws->peer);
	ws_end_soon(ws);
}

/*
 * A peer silent for two ping intervals is gone. It is pinged once quiet
 * for half an interval, not a whole one: the ticks do not follow what it
 * sends, so one that answered the last tick's ping is quiet for a hair
 * under an interval at this tick, and unpinged it would be quiet for two
 * at the next, and cut. A backlog it takes proves it alive too
 * (ws_took). Each tick also gives back an empty output buffer: one
 * allocation per interval keeps thousands of quiet subscribers from
 * holding up to WS_OUT_KEEP each.
 */
static void
ws_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws	*ws = arg;
	uint64_t	 idle, now = util_now_ms();

	ws_out_trim(&ws->out);
	ws_took(ws, now);
	idle = now - ws->alive_ms;
	if (idle >= 2 * (uint64_t)ws->limits.ping_ms) {
		ws_silent(ws);
		return;
	}
	if (idle >= ws->limits.ping_ms / 2 && !ws->close_sent &&
	    !ws_queue_full(ws, 0))
		ws_put(ws, WS_OP_PING, NULL, 0);
}

static void
ws_limits_default(struct ws_limits *l, const struct ws_limits *from)
{
	memset(l, 0, sizeof(*l));
	if (from != NULL)
		*l = *from;
	if (l->max_message == 0)
		l->max_message = WS_DEFAULT_MAX_MESSAGE;
	if (l->max_queue_msgs == 0)
		l->max_queue_msgs = WS_DEFAULT_MAX_QUEUE_MSGS;
	if (l->max_queue_bytes == 0)
		l->max_queue_bytes = WS_DEFAULT_MAX_QUEUE_BYTES;
}

static void
ws_set_peer(struct ws *ws)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);

	if (getpeername(ws->fd, (struct sockaddr *)&ss,
	    &len) == -1 || util_format_addr((struct sockaddr *)&ss,
	    ws->peer, sizeof(ws->peer)) == NULL)
		snprintf(ws->peer, sizeof(ws->peer), "?");
}

static void
ws_start_ping(struct ws *ws)
{
	struct timeval	 tv;

	ws->ping_ev = event_new(event_get_base(ws->end_ev), -1, EV_PERSIST,
	    ws_ping_cb, ws);
	tv = util_timeval(ws->limits.ping_ms);
	event_add(ws->ping_ev, &tv);
}

/* Take the socket and what is buffered from the stream, and free it. */
static void
ws_take(struct ws *ws, struct stream *s)
{
	struct event_base	*base = stream_base(s);
	struct evbuffer		*in = stream_input(s);
	struct evbuffer		*out = stream_output(s);

	ws->frag = evbuffer_new();
	ws->fd = stream_fd(s);
	ws->read_ev = event_new(base, ws->fd, EV_READ | EV_PERSIST,
	    ws_read_cb, ws);
	ws->write_ev = event_new(base, ws->fd, EV_WRITE, ws_write_cb, ws);
	ws->end_ev = evtimer_new(base, ws_end_cb, ws);
	ws->cut_ev = evtimer_new(base, ws_cut_cb, ws);
	if (ws->frag == NULL || ws->read_ev == NULL || ws->write_ev == NULL ||
	    ws->end_ev == NULL || ws->cut_ev == NULL)
		fatalx("websocket: out of memory");
	if ((ws->in_len = evbuffer_get_length(in)) > 0) {
		ws_input_grow(ws, ws->in_len);
		evbuffer_remove(in, ws->in, ws->in_len);
	}
	ws_out_init(&ws->out, evbuffer_pullup(out, -1),
	    evbuffer_get_length(out));
	stream_release(s);
}

struct ws *
ws_new(struct stream *s, int server, const struct ws_limits *limits,
    const struct ws_callbacks *cb, void *arg)
{
	struct ws	*ws;

	ws = xcalloc(1, sizeof(*ws));
	ws_take(ws, s);
	ws->server = server;
	ws_limits_default(&ws->limits, limits);
	ws->cb = *cb;
	ws->arg = arg;
	ws->alive_ms = util_now_ms();
	ws->reading = 1;
	LIST_INSERT_HEAD(&ws_all, ws, entry);
	ws_set_peer(ws);
	if (ws->limits.ping_ms > 0)
		ws_start_ping(ws);
	event_add(ws->read_ev, NULL);
	/* What is already queued (the 101) goes first. */
	if (ws_out_pending(&ws->out) > 0)
		event_active(ws->write_ev, EV_WRITE, 0);
	/* Bytes that came with the handshake are frames already. */
	if (ws->in_len > 0)
		event_active(ws->read_ev, EV_READ, 0);
	return ws;
}

/*
 * Full, maybe only because this turn queued it all before any write (a
 * burst read from the rings): what the socket takes now leaves first, so
 * a peer that keeps up is not taken for a slow one. -1: the peer is gone.
 */
static int
ws_send_now(struct ws *ws, size_t len)
{
	if (!ws_queue_full(ws, len) || ws_out_send(&ws->out, ws->fd) == 0)
		return 0;
	ws_end_soon(ws);
	return -1;
}

int
ws_send(struct ws *ws, int binary, const void *data, size_t len)
{
	if (ws->close_sent || ws->ending || ws->cut)
		return -1;
	if (ws_send_now(ws, len) == -1)
		return -1;
	if (!ws_room_made(ws, len)) {
		ws_overflow(ws);
		return -1;
	}
	ws_put(ws, binary ? WS_OP_BINARY : WS_OP_TEXT, data, len);
	return 0;
}

void
ws_close(struct ws *ws, uint16_t code, const char *reason)
{
	/* A close must not wait behind a slow peer's backlog. */
	if (!ws->close_sent && !ws->ending)
		ws_out_drop_unsent(&ws->out);
	ws_close_after_queued(ws, code, reason);
}

void
ws_close_after_queued(struct ws *ws, uint16_t code, const char *reason)
{
	if (ws->close_sent || ws->ending)
		return;
	ws_send_close(ws, code, reason);
}

const char *
ws_peer(const struct ws *ws)
{
	return ws->peer;
}
