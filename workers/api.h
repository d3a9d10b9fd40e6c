/*
 * The api role (DESIGN.md §4): POST /rpc and the api, rpc or proxy handler
 * for every other path, with go-micro's path -> service/method mapping.
 */
#ifndef MICRO_API_H
#define MICRO_API_H

#include "workers/worker.h"

struct http_request;

int	 api_role_init(struct worker *);
void	 api_role_shutdown(struct worker *);
void	 api_role_drain(struct worker *);
int	 api_role_busy(struct worker *);
/* The role's head handler: the proxy handler streams from here. */
void	 api_head(struct http_request *, void *);

extern const struct worker_route api_routes[];

#endif
