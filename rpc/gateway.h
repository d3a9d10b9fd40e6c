/*
 * HTTP in, RPC out: what the api and sidecar roles share. A gateway call
 * takes a server request, carries its headers (plus X-Forwarded-For) to
 * the service as metadata, honours its Timeout header, and answers it
 * with the result or the go-micro error JSON. A client that goes away
 * cancels the call.
 */
#ifndef MICRO_RPC_GATEWAY_H
#define MICRO_RPC_GATEWAY_H

#include <sys/time.h>

#include <stdint.h>

#include "rpc/client.h"

struct config;
struct event_base;
struct http_request;

#define GATEWAY_RPC_ID	"go.micro.rpc"

/* The RPC client settings of [api] (timeouts, selector); -1 if bad. */
int	 gateway_client_config(const struct config *,
	    struct rpc_client_config *, const char **cause);

/* Write the call's outcome to the request (the default reply). */
typedef void	(*gateway_reply_cb)(struct http_request *,
		    const struct rpc_response *);

/*
 * Call r for req; r->metadata, timeout_ms and caller_timeout are filled
 * here, a bad Timeout header answered as error_id, one not shorter than
 * the client's own timeout ([api] request_timeout) ignored. reply NULL
 * means gateway_reply.
 */
void	 gateway_call(struct rpc_client *, struct http_request *,
	    struct rpc_request *, const char *, gateway_reply_cb);
void	 gateway_reply(struct http_request *, const struct rpc_response *);

/*
 * POST /rpc: JSON {"service","method"|"endpoint","request","address"}
 * (keys without case, request an object or a JSON string) or a form
 * service=&method=&request=&address=. microd adds "version": only nodes
 * of that version are called. Bad input is a 400 from id
 * go.micro.rpc; other methods a 405.
 */
void	 gateway_rpc(struct rpc_client *, struct http_request *);

/*
 * The "rpc" handler's call: service and endpoint from the path mapping,
 * the body (or, without one, the query as a JSON object) as the request.
 */
void	 gateway_body_call(struct rpc_client *, struct http_request *,
	    const char *service, const char *endpoint);

/*
 * When a draining worker cuts what is still in flight (its calls, and
 * what its proxy carries), counted from the drain's start: a little
 * before shutdown_timeout_ms (500 ms, a quarter of it at most), so that
 * the worker exits by itself ahead of the master's SIGKILL.
 */
struct timeval	 gateway_drain_cut(uint64_t shutdown_timeout_ms);
/*
 * The worker drains: the calls of the client still in flight at
 * gateway_drain_cut are answered 503 "server going away" (a line logged
 * with their number) rather than left to die with the worker.
 */
void	 gateway_drain(struct rpc_client *, struct event_base *,
	    uint64_t shutdown_timeout_ms);

/* The request's headers with the peer appended to X-Forwarded-For. */
struct http_headers *gateway_forwarded_headers(struct http_request *);

#endif
