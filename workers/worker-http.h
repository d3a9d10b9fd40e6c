/* A worker's listener: the shared HTTP layer, its role's routes, /healthz. */
#ifndef MICRO_WORKER_HTTP_H
#define MICRO_WORKER_HTTP_H

struct http_request;
struct worker;

struct worker_route;

int	 worker_http_start(struct worker *);
/*
 * 1 if path is the worker's own (GET /healthz, or a route of table other
 * than a catch-all "/"): head handlers that proxy the rest skip those.
 */
int	 worker_http_owns(const struct worker_route *, const char *);
void	 worker_http_drain(struct worker *, void (*)(void *));
/*
 * 405 for a path of the worker's routes, with an Allow header listing the
 * methods the route table has for exactly that path (RFC 9110 15.5.6).
 */
void	 worker_http_reply_405(struct worker *, struct http_request *);

#endif
