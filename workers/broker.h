/*
 * The broker role, and what another role needs to speak to the broker:
 * the sidecar calls broker_worker_attach() from its init and routes
 * GET /broker to broker_worker_sidecar().
 */
#ifndef MICRO_WORKERS_BROKER_H
#define MICRO_WORKERS_BROKER_H

struct http_request;
struct worker;

/* Join the shared broker (logs why not); for a role's init hook. */
int	 broker_worker_attach(struct worker *);
/* For a role's shutdown hook. */
void	 broker_worker_detach(struct worker *);
/*
 * For a role's drain and busy hooks: websocket clients are told the
 * server goes away (1001), and the drain waits for their close.
 */
void	 broker_worker_drain(struct worker *);
int	 broker_worker_busy(struct worker *);
/* GET /broker?topic=T[&queue=Q]: publish and subscribe on one websocket. */
void	 broker_worker_sidecar(struct worker *, struct http_request *);

#endif
