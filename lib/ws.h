/*
 * Websocket (RFC 6455) on a connection taken over from the HTTP layer,
 * framed in place by lib/ws-frame.c. Server side: ws_accept() checks the upgrade request,
 * hijacks it and answers 101. Client side: ws_client_prepare() adds the
 * upgrade headers to an http_creq, ws_client_open() checks the 101 and
 * wraps the connection.
 *
 * Output is a bounded queue (messages and bytes, see struct ws_limits):
 * ws_send() refuses a message that would exceed it and calls the overflow
 * callback, so a slow peer costs a fixed amount of memory and never slows
 * the caller. Ownership: a struct ws lives until its closed callback has
 * returned; it is freed right after. The closed callback is never called
 * from inside a ws_* call, only from the event loop, so callers may keep
 * iterating their own lists while they send or close.
 */
#ifndef MICRO_WS_H
#define MICRO_WS_H

#include <stddef.h>
#include <stdint.h>

struct http_creq;
struct http_request;
struct stream;
struct ws;

/* Close codes we send (RFC 6455 §7.4.1). */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_UNSUPPORTED	1003
#define WS_CLOSE_ABNORMAL	1006	/* never sent: connection lost */
#define WS_CLOSE_POLICY		1008
#define WS_CLOSE_TOO_BIG	1009

#define WS_KEY_LEN	24	/* base64 of 16 random bytes */
#define WS_ACCEPT_LEN	28	/* base64 of a SHA-1 */

/* Zero fields take the defaults in parentheses; ping_ms 0 is off. */
struct ws_limits {
	size_t		 max_message;	/* received message (1 MiB): 1009 */
	size_t		 max_queue_msgs;	/* unsent frames (1024) */
	size_t		 max_queue_bytes;	/* unsent bytes (8 MiB) */
	/*
	 * unsent bytes of every websocket of the process (0: no bound);
	 * past it, the one furthest behind overflows
	 */
	size_t		 max_queue_all;
	unsigned int	 ping_ms;	/* ping when idle; cut after 2x */
};

struct ws_callbacks {
	/* A whole text (binary 0) or binary (binary 1) message. */
	void	(*message)(struct ws *, int, const void *, size_t, void *);
	/*
	 * ws_send() refused a message: the queue is full. NULL means
	 * close with 1008. Called once per refusal.
	 */
	void	(*overflow)(struct ws *, void *);
	/*
	 * The peer closes (its close frame came) or broke the protocol:
	 * ws_send refuses from now on, and closed follows once the close
	 * completes, which may take seconds behind the queue. May be NULL.
	 */
	void	(*closing)(struct ws *, void *);
	/* The connection is over; code is the close code (1006 if lost). */
	void	(*closed)(struct ws *, uint16_t, void *);
};

/*
 * Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2 step 5.4): base64 of
 * SHA-1(key + GUID), into out (WS_ACCEPT_LEN + 1 bytes).
 */
void		 ws_accept_key(const char *, char *);

/*
 * Server, first step: 0 if req is a websocket upgrade ws_accept takes.
 * Otherwise answers it 400 (426 with Sec-WebSocket-Version for another
 * version) as service, sets *cause and returns -1: the request is done.
 * Apart so that a caller can check before it commits resources.
 */
int		 ws_upgrade_check(struct http_request *, const char *,
		    const char **);
/*
 * Server: upgrade req, which passed ws_upgrade_check. NULL with *cause if
 * the client went away meanwhile.
 */
struct ws	*ws_accept(struct http_request *, const struct ws_limits *,
		    const struct ws_callbacks *, void *, const char **);

/*
 * Client: add Upgrade, Connection, Sec-WebSocket-Version and a fresh
 * Sec-WebSocket-Key to creq; key receives that key (WS_KEY_LEN + 1).
 */
void		 ws_client_prepare(struct http_creq *, char *);
/*
 * From the creq's upgrade callback: check Sec-WebSocket-Accept against
 * key and take the stream over. On mismatch frees the stream, sets *cause,
 * returns NULL.
 */
struct ws	*ws_client_open(struct http_creq *, struct stream *,
		    const char *, const struct ws_limits *,
		    const struct ws_callbacks *, void *, const char **);

/*
 * Queue a message. Returns 0, or -1 when closing or when the message
 * does not fit the output queue (the overflow callback is then called).
 */
int		 ws_send(struct ws *, int, const void *, size_t);
/*
 * Start the close handshake with code and an optional reason (cut to
 * fit a control frame); nothing is sent or delivered after, and queued
 * messages that have not started to leave are dropped: the close frame
 * overtakes them. The connection is cut if the peer does not answer
 * within two seconds.
 */
void		 ws_close(struct ws *, uint16_t, const char *);
/*
 * The same, after the messages already queued (a server going away lets
 * them leave first); the two seconds start now all the same.
 */
void		 ws_close_after_queued(struct ws *, uint16_t, const char *);
/* The peer's address, "host:port". */
const char	*ws_peer(const struct ws *);

#endif
