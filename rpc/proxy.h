/*
 * The one reverse proxy of microd, for the api's "proxy" handler and the
 * web (DESIGN.md §4): /NAME/... goes to a node of NAMESPACE.NAME with the
 * path unchanged (api) or its first segment stripped (web); bodies stream
 * both ways with flow control, websocket upgrades are passed through (the
 * two connections spliced), X-Forwarded-For is appended. A request no
 * node answered is retried on another, up to the RPC client's attempts,
 * if its body can be sent again and it cannot run twice (it never
 * reached the node, or its method is idempotent).
 */
#ifndef MICRO_RPC_PROXY_H
#define MICRO_RPC_PROXY_H

#include <stdint.h>

struct event_base;
struct http_request;
struct proxy;
struct rpc_client;

/*
 * PROXY_STRIP_BASE (the web proxy): /NAME/rest goes to NAMESPACE.NAME as
 * /rest, with X-Micro-Web-Base-Path: /NAME so the app can build its links.
 */
#define PROXY_STRIP_BASE	0x1

/*
 * Errors are answered with the error JSON of id (e.g. "go.micro.api"). A
 * websocket through the proxy is closed, both ways, once no byte has
 * moved either way for idle_timeout_ms (the role's idle_timeout), or a
 * side has taken nothing of what is queued for it for that long. At most
 * max_splices (the listener's max_connections; 0: no bound) are open or
 * waiting for their 101 at a time: one more upgrade is answered 503
 * before any node is asked. An upgraded connection has left the HTTP
 * server, so this is what bounds them. proxy_free closes those left.
 */
struct proxy	*proxy_new(struct rpc_client *, const char *ns,
		    const char *id, int flags, uint64_t idle_timeout_ms,
		    unsigned max_splices);
void		 proxy_free(struct proxy *);
/* Websockets spliced now: a draining worker is busy while there are any. */
unsigned	 proxy_splices(const struct proxy *);
/*
 * The worker drains: new upgrades are refused (503), the websockets open
 * run on until they end, and done is called when the last one has. Those
 * left when shutdown_timeout_ms is about to pass are closed (a line
 * logged with their number) a little before it, and the requests still
 * in flight (an app's endless event stream) cut short, so that the
 * worker exits by itself ahead of the master's SIGKILL.
 */
void		 proxy_drain(struct proxy *, struct event_base *,
		    uint64_t shutdown_timeout_ms, void (*done)(void));
/*
 * Proxy req. From a head handler (streaming 1) the body streams to the
 * node as it arrives; from a main handler (0) it is already buffered.
 */
void		 proxy_request(struct proxy *, struct http_request *,
		    int streaming);
/*
 * 1 if a request should stream (an upgrade, a chunked body, or one over
 * PROXY_BUFFER_MAX); a small body is cheaper sent in one piece.
 */
#define PROXY_BUFFER_MAX	(64 * 1024)
int		 proxy_wants_stream(struct http_request *);

#endif
