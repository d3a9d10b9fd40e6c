/*
 * The RPC client (DESIGN.md §3, doc/rpc.md): call an endpoint of a service
 * found in the shm registry, over the HTTP client's keep-alive pools.
 * Shared by the api, sidecar and web roles; one per worker, on the
 * worker's event loop.
 *
 * A call looks the service up (copying its nodes out of the read
 * section), picks a node with the selector, and POSTs to it: mucp nodes
 * get the raw body with the Micro-* headers, other nodes the JSON-RPC
 * envelope. A call that never reached its node (refused, unreachable)
 * is retried on another node, one lost after it was sent is not (it may
 * have run); nodes that keep failing are ejected for a while (a timeout
 * that is the caller's own, shorter than microd's, is not the node's
 * failure). The outcome is always either the service's result or a
 * go-micro error JSON:
 *
 *   unknown service		404 "service not found"
 *   no node answering		503
 *   connection lost, bad reply	502
 *   timeout			504, or 408 when it was the caller's own
 *   service error		its code
 */
#ifndef MICRO_RPC_CLIENT_H
#define MICRO_RPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "rpc/codec.h"
#include "rpc/select.h"

struct event_base;
struct evbuffer;
struct http_client;
struct http_creq;
struct http_headers;
struct shm;

#define RPC_CLIENT_ID		"go.micro.client"
#define RPC_ATTEMPTS_DEFAULT	3

struct rpc_client_config {
	struct select_config	 select;
	unsigned		 connect_timeout_ms;
	unsigned		 timeout_ms;	/* a call without its own */
	unsigned		 attempts;	/* nodes tried per call */
};

struct rpc_request {
	const char		*service;
	const char		*endpoint;	/* "Say.Hello" */
	const char		*version;	/* NULL: any */
	const char		*address;	/* NULL: select a node */
	const char		*content_type;	/* of body; NULL: JSON */
	enum rpc_ctype		 accept;	/* format wanted back */
	/*
	 * Headers passed to the service as metadata (copied). Hop-by-hop
	 * headers, Content-*, Host, Timeout and Micro-* are not passed: the
	 * client sets its own.
	 */
	const struct http_headers *metadata;
	const void		*body;		/* copied */
	size_t			 len;
	unsigned		 timeout_ms;	/* 0: the client's */
	int			 caller_timeout; /* timeout_ms is the caller's */
};

struct rpc_response {
	int			 status;	/* 200, or the error's code */
	const char		*content_type;
	/* The result, or the error JSON; the callback may drain it. */
	struct evbuffer		*body;
	const struct rpc_error	*error;		/* NULL on success */
};

/* Nodes copied out of the registry. */
struct rpc_nodes {
	struct select_node	*v;
	size_t			 n;
	char			*strings;
};

struct rpc_client;
struct rpc_call;

/* Called once per call, never from inside rpc_call_start(). */
typedef void	(*rpc_done_cb)(const struct rpc_response *, void *);

struct rpc_client	*rpc_client_new(struct event_base *, struct shm *,
			    unsigned slot, const struct rpc_client_config *);
/* Cancels every call in flight (no callbacks). */
void		 rpc_client_free(struct rpc_client *);
/* The client's HTTP pools, for the proxies to share. */
struct http_client	*rpc_client_http(struct rpc_client *);
struct selector		*rpc_client_selector(struct rpc_client *);
/* Nodes a call may try (the proxies keep to it too). */
unsigned	 rpc_client_attempts(const struct rpc_client *);
/*
 * The HTTP request (method, target) to node n of service, for the calls
 * and the proxies alike. NULL and *cause for a node no request can go to
 * (a host name: microd resolves none): it is as unreachable as a node
 * that refuses, logged at debug and, if tracked (a registered node),
 * marked failed so that passive health ejects it.
 */
struct http_creq	*rpc_client_creq(struct rpc_client *,
			    const char *service, int tracked,
			    const struct select_node *n, const char *method,
			    const char *target, const char **cause);

/* Copy the nodes of service; -1 if it is not registered. */
int		 rpc_client_lookup(struct rpc_client *, const char *,
		    struct rpc_nodes *);
void		 rpc_nodes_free(struct rpc_nodes *);

struct rpc_call	*rpc_call_start(struct rpc_client *, const struct rpc_request *,
		    rpc_done_cb, void *);
/* No callback after this. */
void		 rpc_call_cancel(struct rpc_call *);

/*
 * A caller's Timeout header: a duration ("5s", "500ms") or a bare number
 * of seconds, as micro's /rpc reads it. Returns -1 if it is neither.
 */
int		 rpc_timeout_parse(const char *, unsigned *);

/* The config's timeout_ms, which a call without its own takes. */
unsigned	 rpc_client_timeout(const struct rpc_client *);
/*
 * End every call in flight now with the error code and detail, each
 * through its callback, which must start no call on this client; the
 * number ended. A draining worker answers its callers so rather than
 * leave them to the master's SIGKILL.
 */
unsigned	 rpc_client_fail_all(struct rpc_client *, int code,
		    const char *detail);

#endif
