/*
 * microd's HTTP/1.1 layer, server and client, on our socket streams
 * (stream.h) and http-parser (doc/http.md says why not evhttp). Every worker serves its
 * listener with the server side; the RPC client and the reverse proxies use
 * the client side. Everything runs on one event base, single-threaded.
 *
 * Ownership, in one place:
 *
 * - A server request (struct http_request) is created and read by the layer.
 *   From the moment a handler (head or main) is called with it, it belongs
 *   to that handler until the handler finishes a reply (http_reply,
 *   http_reply_buffer, http_reply_error, http_reply_end), hijacks the
 *   connection (http_request_hijack) or calls http_request_release(). After
 *   any of these the pointer is invalid. The layer never frees a request a
 *   handler owns: if the client goes away first, the cancel callback (if
 *   set) is called once, the request becomes "orphaned" and every reply
 *   function still works but writes nothing; the owner still ends it.
 * - A client request (struct http_creq) belongs to the caller until
 *   http_creq_start(); from then on the layer frees it right after its done
 *   (or upgrade) callback returns, or inside http_creq_cancel(). Callbacks
 *   are never called from inside http_creq_start() or http_creq_cancel().
 * - Buffers handed to *_buffer() functions are drained (their bytes moved),
 *   not taken: the caller still frees the evbuffer.
 */
#ifndef MICRO_HTTP_H
#define MICRO_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct micro_counters;
struct stream;

/* Default limits, used where a field of struct http_limits is 0. */
#define HTTP_DEFAULT_MAX_HEADER		(32 * 1024)
#define HTTP_DEFAULT_MAX_BODY		(4 * 1024 * 1024)
#define HTTP_DEFAULT_READ_TIMEOUT	30000	/* ms */
#define HTTP_DEFAULT_IDLE_TIMEOUT	60000	/* ms */
#define HTTP_DEFAULT_SEND_TIMEOUT	60000	/* ms */
#define HTTP_DEFAULT_MAX_CONNECTIONS	1024

/*
 * Headers: an ordered list of (name, value); names compare without case.
 * The same type holds request, reply and client response headers.
 */
struct http_headers;

struct http_headers	*http_headers_new(void);
void		 http_headers_free(struct http_headers *);
void		 http_headers_clear(struct http_headers *);
/* Append; name and value are copied. */
void		 http_headers_add(struct http_headers *, const char *,
		    const char *);
/* Replace every header of that name by one. */
void		 http_headers_set(struct http_headers *, const char *,
		    const char *);
void		 http_headers_remove(struct http_headers *, const char *);
/* The first value of that name, or NULL. */
const char	*http_headers_get(const struct http_headers *, const char *);
/* How many headers have that name. */
size_t		 http_headers_count_of(const struct http_headers *,
		    const char *);
/* 1 if a comma-separated header of that name lists token (no case). */
int		 http_headers_has_token(const struct http_headers *,
		    const char *, const char *);
/* 1 if such a header lists anything other than token. */
int		 http_headers_has_other_token(const struct http_headers *,
		    const char *, const char *);
/*
 * 1 for a field of one connection (RFC 9110 7.6.1, and the older ones
 * still sent): never forwarded, nor taken from a service's reply. Those a
 * message's Connection names are too (http_headers_has_token).
 */
int		 http_header_hop(const char *);
/* Append "name: value\r\n" to a buffer, in one piece. */
void		 http_header_line(struct evbuffer *, const char *,
		    const char *);
/* Iterate: for (i = 0; http_headers_at(h, i, &n, &v); i++). */
size_t		 http_headers_count(const struct http_headers *);
int		 http_headers_at(const struct http_headers *, size_t,
		    const char **, const char **);

/* "OK", "Not Found"...; "Unknown" for codes it does not know. */
const char	*http_status_text(int);

/*
 * Query strings and form bodies (application/x-www-form-urlencoded): the
 * first value of name, percent- and '+'-decoded, allocated (free it), or
 * NULL if absent or badly encoded.
 */
char		*http_query_get(const char *, const char *);
/* 1 if every key and value of the query decodes (NULL: no query). */
int		 http_query_valid(const char *);
/* One key or value of a form, decoded and allocated; NULL if badly
 * encoded or holding a NUL. */
char		*http_query_decode(const char *, size_t);

/*
 * Server.
 */
struct http_server;
struct http_request;

/* Zero fields take the HTTP_DEFAULT_* values. */
struct http_limits {
	size_t		 max_header_size;  /* request line + headers: 431 */
	size_t		 max_body_size;	   /* buffered body: 413 */
	unsigned int	 read_timeout_ms;  /* head + buffered body: 408 */
	unsigned int	 idle_timeout_ms;  /* keep-alive wait: silent close */
	unsigned int	 send_timeout_ms;  /* client not reading: close */
	unsigned int	 max_connections;  /* beyond: stop accepting */
};

typedef void	(*http_handler_cb)(struct http_request *, void *);
/* Called once when a request ends before its owner ended it. */
typedef void	(*http_cancel_cb)(struct http_request *, void *);
/*
 * Streamed request body: buf holds the bytes not consumed yet; drain what
 * you take, the rest is offered again with the next call. done is 1 on the
 * last call (the body is complete; buf may still hold bytes).
 */
typedef void	(*http_body_cb)(struct http_request *, struct evbuffer *,
		    int, void *);
/* The reply's unsent bytes fell under the low-water mark. */
typedef void	(*http_writable_cb)(struct http_request *, void *);
typedef void	(*http_drain_cb)(void *);

/*
 * Serve an already bound and listening socket (inherited from the master).
 * The server owns fd from now on and closes it in http_server_free().
 * handler is called once per request when the whole body is buffered (up
 * to max_body_size); arg is passed to it. Returns NULL and *cause on error.
 */
struct http_server	*http_server_new(struct event_base *, int,
		    const struct http_limits *, http_handler_cb, void *,
		    const char **);
/*
 * Optional head handler (same arg): called when a request head is
 * complete, before its body. It may reply at once, call
 * http_request_stream_body() to take the body as it arrives (then the main
 * handler is not called for that request), or do neither (the body is
 * buffered and the main handler called as usual).
 */
void		 http_server_set_head_handler(struct http_server *,
		    http_handler_cb);
/* Counters to bump (may live in shm); NULL for none. */
void		 http_server_set_counters(struct http_server *,
		    struct micro_counters *);
/*
 * The id of the error JSON the layer's own answers carry (400, 408, 413,
 * 431, 501); id must outlive the server. Default: as http_reply_error.
 */
void		 http_server_set_error_id(struct http_server *, const char *);
size_t		 http_server_connections(const struct http_server *);
/*
 * Graceful stop: stop accepting, close idle connections now, answer the
 * requests in flight with "Connection: close", and call done(arg) (from
 * the event loop, never from inside this call) once no connection is left.
 */
void		 http_server_drain(struct http_server *, http_drain_cb,
		    void *);
/*
 * Close everything; requests handlers own become orphaned (see above).
 * Not from inside one of the server's callbacks.
 */
void		 http_server_free(struct http_server *);

/* Request, read side. Strings live as long as the request. */
const char	*http_request_method(const struct http_request *);
const char	*http_request_target(const struct http_request *); /* raw */
const char	*http_request_path(const struct http_request *); /* no query */
const char	*http_request_query(const struct http_request *); /* or NULL */
/* http_query_get() on the request's query string (free the result). */
char		*http_request_query_param(const struct http_request *,
		    const char *);
/*
 * A handler whose parameters are optional calls this first: a value that
 * does not decode would read as absent. 0, or replies 400 (as service)
 * and returns -1.
 */
int		 http_request_query_check(struct http_request *, const char *);
const struct http_headers *http_request_headers(const struct http_request *);
const char	*http_request_header(const struct http_request *, const char *);
struct evbuffer	*http_request_body(struct http_request *);
const char	*http_request_peer(const struct http_request *); /* host:port */
/* 1 once the client went away (the request is orphaned). */
int		 http_request_orphaned(const struct http_request *);
void		 http_request_set_cancel_cb(struct http_request *,
		    http_cancel_cb, void *);
/* From the head handler only: stream the body to cb (see http_body_cb). */
void		 http_request_stream_body(struct http_request *,
		    http_body_cb, void *);
/* Flow control of a streamed body: stop (1) or resume (0) reading. */
void		 http_request_pause_body(struct http_request *, int);
/* Give up the request without replying (after a cancel, typically). */
void		 http_request_release(struct http_request *);
/*
 * Take the connection over (websocket upgrade): from the main handler or
 * later, before any reply byte (else NULL and the connection is closed).
 * Returns its stream as stream_handover() leaves it (no callbacks, no
 * timeouts, reading and writing disabled), with any bytes read past the
 * request head still in its input; stream_free() closes the socket. The
 * request ends (read what you need from it first); the server forgets the
 * connection. NULL if the request is orphaned (it is still released).
 */
struct stream	*http_request_hijack(struct http_request *);

/*
 * Replies. Headers added to http_reply_headers() before the reply starts
 * are sent with it; Date, Content-Length / Transfer-Encoding and Connection
 * are the layer's. content_type may be NULL (none, or the one set in the
 * headers). HEAD requests get the headers only.
 */
struct http_headers	*http_reply_headers(struct http_request *);
void		 http_reply(struct http_request *, int, const char *,
		    const void *, size_t);
void		 http_reply_buffer(struct http_request *, int, const char *,
		    struct evbuffer *);
/*
 * The policy of an answer that is data, not a page (an error, a node's
 * reply, JSON, metrics): a browser made to open it runs nothing, fetches
 * nothing and frames it nowhere, whatever its Content-Type says.
 */
#define HTTP_CSP_DATA	"sandbox; default-src 'none'; frame-ancestors 'none'"
/* Mark the reply as data: nosniff and HTTP_CSP_DATA. */
void		 http_reply_data_headers(struct http_request *);
/*
 * The go-micro error JSON, Content-Type application/json:
 * {"id":ID,"code":CODE,"detail":DETAIL,"status":"<reason phrase>"}
 * id NULL means "go.micro.api"; invalid UTF-8 in id or detail becomes
 * U+FFFD. http_error_json returns the text, allocated. The detail may
 * echo the request, so the answer carries nosniff and HTTP_CSP_DATA.
 */
void		 http_reply_error(struct http_request *, int, const char *,
		    const char *);
char		*http_error_json(const char *, int, const char *);
/*
 * Streaming: the body length is the Content-Length header if set, else
 * chunked (HTTP/1.1) or up to the connection close (HTTP/1.0).
 */
void		 http_reply_start(struct http_request *, int);
void		 http_reply_chunk(struct http_request *, const void *, size_t);
void		 http_reply_chunk_buffer(struct http_request *,
		    struct evbuffer *);
void		 http_reply_end(struct http_request *);
/*
 * End a started reply that cannot be completed (its source failed): what
 * is queued is sent, then the connection closes without a last chunk, so
 * the client sees the reply cut short, never a shorter one as whole. It
 * closes as soon as that is sent: no lingering close waits for the client.
 */
void		 http_reply_abort(struct http_request *);
/* Reply bytes queued but not sent yet (flow control for proxies). */
size_t		 http_reply_pending(const struct http_request *);
void		 http_reply_set_writable_cb(struct http_request *,
		    http_writable_cb, void *);

/*
 * Client: keep-alive pools per numeric "host:port".
 */
struct http_client;
struct http_creq;

struct http_client_config {
	unsigned int	 max_idle;	/* idle connections per address: 8 */
	unsigned int	 idle_timeout_ms;	/* pooled connection: 30 s */
	unsigned int	 connect_timeout_ms;	/* request default: 5 s */
	unsigned int	 timeout_ms;	/* request default (total): 30 s */
	size_t		 max_header_size;	/* response head: 64 KiB */
	size_t		 max_body_size;	/* buffered response: 64 MiB */
};

enum http_client_error {
	HTTP_CLIENT_OK = 0,
	HTTP_CLIENT_CONNECT_REFUSED,	/* nothing listens: try another node */
	HTTP_CLIENT_CONNECT_TIMEOUT,
	HTTP_CLIENT_CONNECT_FAILED,	/* unreachable, no route... */
	HTTP_CLIENT_RESET,	/* lost before any response byte */
	HTTP_CLIENT_TIMEOUT,	/* request took longer than its timeout */
	HTTP_CLIENT_PROTOCOL,	/* bad, oversized or truncated response */
};

/* The response is complete (err 0) or failed; creq is freed after. */
typedef void	(*http_creq_done_cb)(struct http_creq *,
		    enum http_client_error, void *);
/* Streaming: the response head arrived (status and headers readable). */
typedef void	(*http_creq_head_cb)(struct http_creq *, void *);
/* Streaming: body bytes; drain what you take, the rest is offered again. */
typedef void	(*http_creq_body_cb)(struct http_creq *, struct evbuffer *,
		    void *);
/* A streamed request body may take more bytes. */
typedef void	(*http_creq_writable_cb)(struct http_creq *, void *);
/*
 * 101 Switching Protocols: the connection's stream is yours, as
 * stream_handover() leaves it, with the bytes past the head in its input.
 * creq is freed after.
 */
typedef void	(*http_creq_upgrade_cb)(struct http_creq *, struct stream *,
		    void *);

/*
 * "http://HOST:PORT/PATH?QUERY": the address to connect to and the
 * request target ("/" when there is no path). HOST must be numeric, as
 * every address microd connects to (no DNS on an event loop). Returns -1
 * with *cause if url is not that.
 */
int		 http_url_split(const char *url, char *addr, size_t addrlen,
		    const char **target, const char **cause);
/* cfg may be NULL; zero fields take the defaults above. */
struct http_client	*http_client_new(struct event_base *,
		    const struct http_client_config *);
/* Cancels (no callbacks) every request in flight, closes the pools. */
void		 http_client_free(struct http_client *);
const char	*http_client_strerror(enum http_client_error);
/*
 * 1 if a request with this method may reach a server twice without harm
 * (RFC 9110 9.2.2): only such a request is sent again once it may have
 * been read.
 */
int		 http_method_idempotent(const char *);

/*
 * A request to addr ("host:port", numeric) for target ("/path?query").
 * Returns NULL and *cause if addr is not a numeric address. Host defaults
 * to addr. The body is http_creq_body() and sent with Content-Length,
 * unless http_creq_stream_body() was called.
 */
struct http_creq	*http_creq_new(struct http_client *, const char *,
		    const char *, const char *, const char **);
struct http_headers	*http_creq_headers(struct http_creq *);
struct evbuffer	*http_creq_body(struct http_creq *);
/* 0 keeps the client's default. */
void		 http_creq_set_timeouts(struct http_creq *, unsigned int,
		    unsigned int);
void		 http_creq_set_done_cb(struct http_creq *, http_creq_done_cb,
		    void *);
/*
 * Stream the response instead of buffering it (arg as for done). The
 * timeout then bounds each silence of the node (nothing read from or
 * written to it; time paused by http_creq_pause excluded), not the whole
 * exchange: a download or event stream may last as long as bytes move.
 */
void		 http_creq_set_stream_cbs(struct http_creq *,
		    http_creq_head_cb, http_creq_body_cb);
void		 http_creq_set_upgrade_cb(struct http_creq *,
		    http_creq_upgrade_cb);
/*
 * Feed the request body after start with http_creq_write*() and end it
 * with http_creq_end_body(): chunked, or as the Content-Length header set
 * (then write exactly that much). Stop writing once the done callback ran.
 */
void		 http_creq_stream_body(struct http_creq *,
		    http_creq_writable_cb);
void		 http_creq_start(struct http_creq *);
void		 http_creq_write(struct http_creq *, const void *, size_t);
void		 http_creq_write_buffer(struct http_creq *, struct evbuffer *);
void		 http_creq_end_body(struct http_creq *);
/* Request bytes queued but not sent yet. */
size_t		 http_creq_pending(const struct http_creq *);
/* Flow control of a streamed response: stop (1) or resume (0) reading. */
void		 http_creq_pause(struct http_creq *, int);
/* No callback after this; the connection is closed, not pooled. */
void		 http_creq_cancel(struct http_creq *);

/* The response, from the head (or done) callback on. */
int		 http_creq_status(const struct http_creq *);
const struct http_headers *http_creq_response_headers(
		    const struct http_creq *);
struct evbuffer	*http_creq_response_body(struct http_creq *);
/* 1 if it went over a pooled connection (tests, metrics). */
int		 http_creq_reused(const struct http_creq *);

#endif
