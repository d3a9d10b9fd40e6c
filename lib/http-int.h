/*
 * Private to the HTTP layer (doc/http.md). Server: the listener
 * (http-server.c), a connection's life and I/O (http-conn.c), the parser
 * glue that makes requests out of bytes (http-parse.c), requests
 * (http-request.c) and replies (http-response.c). Client: pools
 * (http-client.c) and requests (http-creq.c, http-creq-parse.c).
 */
#ifndef MICRO_HTTP_INT_H
#define MICRO_HTTP_INT_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <http_parser.h>

#include "accept-pause.h"
#include "http.h"
#include "stream.h"

/* How long a closing connection drains what the client still sends. */
#define HTTP_LINGER_MS		2000
/* How long a draining server waits for the next request of an idle
 * connection (answered with Connection: close) before closing it. */
#define HTTP_DRAIN_GRACE_MS	2000
/* Replies queued beyond this: pipelined requests wait until they are sent. */
#define HTTP_OUTPUT_HIGH	(64 * 1024)
/* The warning that a server is full comes at most this often. */
#define HTTP_FULL_WARN_MS	60000

struct evconnlistener;

/*
 * How far the framing of a chunked body (its bytes but the chunk data)
 * has been checked: http-parser, as Debian builds it (not strict), takes
 * any byte after a CR for its LF and any two for the CRLF after chunk
 * data, and skips a bare LF or other control byte in a chunk extension.
 */
struct http_chunked {
	int		 state;
	int		 nonzero;	/* the chunk-size so far is not 0 */
	const char	*scan;	/* in the parser's block, checked up to here;
				   NULL: not a chunked body */
};

enum http_conn_state {
	HTTP_CONN_IDLE,		/* waiting for a request: idle timer */
	HTTP_CONN_HEAD,		/* reading a head: read timer */
	HTTP_CONN_BODY,		/* buffering a body: read timer */
	HTTP_CONN_STREAM,	/* handing a body to its owner: inactivity */
	HTTP_CONN_WAIT,		/* request read, its owner has not replied */
	HTTP_CONN_DISCARD,	/* replied early: dropping the rest of a body */
	HTTP_CONN_LINGER,	/* flush, half-close, drop input, close */
};

struct http_server {
	struct event_base	*base;
	struct evconnlistener	*listener;
	struct http_limits	 limits;
	http_handler_cb		 handler;
	http_handler_cb		 head_handler;
	void			*arg;
	struct micro_counters	*counters;
	const char		*error_id;	/* of the layer's own errors */
	TAILQ_HEAD(http_conns, http_conn)	 conns;
	size_t			 nconns;
	int			 full;		/* listener off: max_connections */
	uint64_t		 full_warned;	/* util_now_ms() of the warning */
	struct accept_pause	 pause;		/* listener off: out of fds */
	int			 draining;
	http_drain_cb		 drain_cb;
	void			*drain_arg;
	struct event		*drain_ev;
};

struct http_conn {
	TAILQ_ENTRY(http_conn)	 entry;
	struct http_server	*srv;
	struct stream		*stream;	/* NULL once hijacked */
	struct event		*timer;
	unsigned int		 idle_ms;	/* IDLE: armed once output is sent */
	struct event		*resume;	/* parse what a reply left */
	http_parser		 parser;
	enum http_conn_state	 state;
	struct http_request	*req;	/* being read or answered */
	char			*url;	/* head being parsed */
	size_t			 urllen;
	char			*field;
	char			*value;
	size_t			 fieldlen;
	size_t			 valuelen;
	struct http_chunked	 chunked;	/* framing of a chunked body */
	int			 head_cr;	/* the head's last byte was a CR */
	int			 head_done;	/* parser paused on an event */
	int			 msg_done;
	int			 error;	/* status the parser glue failed with */
	int			 expect;	/* owes a 100 Continue */
	int			 paused;	/* streamed body: owner is full */
	int			 eof;
	int			 halfclosed;
	int			 aborted;	/* a reply cut short: no linger */
	unsigned int		 busy;	/* inside a user callback */
	int			 dead;	/* free when no longer busy */
	unsigned int		 served;	/* requests answered */
	char			 peer[64];
};

struct http_request {
	struct http_conn	*conn;		/* NULL once orphaned */
	char			*method;
	char			*target;
	char			*path;
	char			*query;
	struct http_headers	*headers;
	struct http_headers	*reply_headers;
	struct evbuffer		*body;
	char			 peer[64];
	int			 minor;
	int			 keepalive;
	int			 head;		/* HEAD: no reply body */
	int			 owned;		/* a handler has it */

	http_cancel_cb		 cancel_cb;
	void			*cancel_arg;
	http_body_cb		 body_cb;
	void			*body_arg;
	http_writable_cb	 writable_cb;
	void			*writable_arg;

	int			 status;	/* of the reply, once started */
	int			 started;
	int			 chunked;
	int			 nobody;	/* HEAD, 1xx, 204, 304 */
};

/* http-server.c */
void		 http_server_conn_gone(struct http_server *);

/* http-conn.c: a connection's life and I/O. */
void		 http_conn_new(struct http_server *, int, struct sockaddr *);
void		 http_conn_free(struct http_conn *);
void		 http_conn_enter(struct http_conn *);
int		 http_conn_leave(struct http_conn *);
void		 http_conn_arm(struct http_conn *, unsigned int);
void		 http_conn_idle(struct http_conn *, unsigned int);
void		 http_conn_fail(struct http_conn *, int);
struct evbuffer	*http_request_output(const struct http_request *);
void		 http_request_count(struct http_request *, int);
void		 http_request_finish(struct http_request *, int);
int		 http_request_last(const struct http_request *);

/*
 * http-parse.c: requests out of the bytes, and the framing checks both
 * directions share. The chunk framing (RFC 9112 7.1) is checked from the
 * block http_parser_execute() is given, set as scan: http_chunked_data()
 * from on_body, http_parse_checked() once the parser returns, before the
 * block is drained. The struct is zeroed per message, at its head.
 */
void		 http_conn_parse(struct http_conn *);
int		 http_chunked_data(struct http_chunked *, const char *, size_t);
int		 http_parse_checked(struct http_chunked *, const char *, size_t,
		    int);
int		 http_te_faulty(const struct http_headers *, int);

/* http-request.c */
void		 http_request_free(struct http_request *);

/* http-response.c */
void		 http_date(char *, size_t);

/* http-headers.c: 1 if the n bytes are token characters (RFC 7230
   §3.2.6), as a field name must be. */
int		 http_token_chars(const char *, size_t);

/*
 * Client: pooled connections (http-client.c) and requests (http-creq.c,
 * http-creq-parse.c).
 */
struct http_pool;

struct http_cconn {
	TAILQ_ENTRY(http_cconn)	 entry;
	struct http_pool	*pool;
	struct stream		*stream;
	struct event		*timer;	/* idle in the pool */
};

struct http_client {
	struct event_base	*base;
	struct http_client_config cfg;
	LIST_HEAD(http_pools, http_pool)	 pools;
	TAILQ_HEAD(http_creqs, http_creq)	 reqs;	/* started, not done */
};

struct http_creq {
	TAILQ_ENTRY(http_creq)	 entry;
	struct http_client	*client;
	char			*method;
	char			*target;
	char			 addr[64];
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct http_headers	*headers;
	struct evbuffer		*body;
	struct evbuffer		*replay;	/* sent; NULL: cannot retry */
	unsigned int		 connect_ms;
	unsigned int		 timeout_ms;
	uint64_t		 deadline;
	struct event		*timer;
	struct event		*kick;	/* deferred failure or parse */
	enum http_client_error	 pending;

	http_creq_done_cb	 done_cb;
	http_creq_head_cb	 head_cb;
	http_creq_body_cb	 body_cb;
	http_creq_upgrade_cb	 upgrade_cb;
	http_creq_writable_cb	 writable_cb;
	void			*arg;
	int			 stream_body;
	int			 chunked;

	struct http_cconn	*conn;
	http_parser		 parser;
	struct http_chunked	 rsp_chunked;	/* framing of a chunked body */
	char			*field;
	char			*value;
	size_t			 fieldlen;
	size_t			 valuelen;
	size_t			 headlen;
	int			 status;
	struct http_headers	*rsp_headers;
	struct evbuffer		*rsp_body;
	int			 connecting;
	int			 reused;
	int			 retried;
	int			 got_byte;
	int			 head_end;	/* paused on a head's end */
	int			 head_done;
	int			 msg_done;
	int			 paused;
	int			 error;	/* from a parser callback */
	int			 body_ended;
	int			 linked;	/* on the client's list */
	int			 busy;
	int			 dead;
};

/* http-client.c */
void		 http_cconn_free(struct http_cconn *);
struct http_cconn *http_client_pool_get(struct http_client *, const char *);
void		 http_client_pool_put(struct http_client *, const char *,
		    struct http_cconn *);

/* http-creq.c */
void		 http_creq_done(struct http_creq *, enum http_client_error);
int		 http_creq_gone(struct http_creq *);
void		 http_creq_free(struct http_creq *);
void		 http_creq_unlink(struct http_creq *);
void		 http_creq_destroy(struct http_creq *);

/* http-creq-parse.c */
void		 http_creq_parse(struct http_creq *);
void		 http_creq_progress(struct http_creq *);
int		 http_creq_execute(struct http_creq *, struct evbuffer *,
		    const char *, size_t);

#endif
