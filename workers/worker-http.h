/* A worker's listener: the shared HTTP layer, its role's routes, /healthz. */
#ifndef MICRO_WORKER_HTTP_H
#define MICRO_WORKER_HTTP_H

struct worker;

int	 worker_http_start(struct worker *);
void	 worker_http_drain(struct worker *, void (*)(void *));

#endif
