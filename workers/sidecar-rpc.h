/*
 * The sidecar's RPC (DESIGN.md §4): POST /rpc as the api's, and
 * POST /<service>/<method> mapped like the api's rpc handler under the
 * sidecar's namespace (go.micro.srv). The RPC client is per worker
 * process, created by sidecar_rpc_init from the role's init.
 */
#ifndef MICRO_SIDECAR_RPC_H
#define MICRO_SIDECAR_RPC_H

struct http_request;
struct worker;

int	 sidecar_rpc_init(struct worker *);
void	 sidecar_rpc_shutdown(struct worker *);
/* Calls still in flight near shutdown_timeout are answered 503. */
void	 sidecar_rpc_drain(struct worker *);
void	 sidecar_rpc(struct worker *, struct http_request *);
void	 sidecar_rpc_path(struct worker *, struct http_request *);

#endif
