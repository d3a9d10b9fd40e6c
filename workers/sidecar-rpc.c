/* The sidecar's POST /rpc and POST /<service>/<method> (sidecar-rpc.h). */
#include "config.h"

#include <stddef.h>

#include "http.h"
#include "log.h"
#include "rpc/gateway.h"
#include "rpc/route.h"
#include "workers/sidecar-rpc.h"
#include "workers/worker.h"

/* One worker process serves one role: its client lives here. */
static struct rpc_client	*sidecar_rpc_client;

int
sidecar_rpc_init(struct worker *w)
{
	struct rpc_client_config cfg;
	const char		*cause;

	if (gateway_client_config(w->conf, &cfg, &cause) == -1) {
		log_warnx("sidecar: %s", cause);
		return -1;
	}
	sidecar_rpc_client = rpc_client_new(w->base, w->shm, w->slot_index,
	    &cfg);
	return 0;
}

void
sidecar_rpc_shutdown(struct worker *w)
{
	rpc_client_free(sidecar_rpc_client);
	sidecar_rpc_client = NULL;
}

void
sidecar_rpc_drain(struct worker *w)
{
	gateway_drain(sidecar_rpc_client, w->base,
	    w->conf->shutdown_timeout_ms);
}

void
sidecar_rpc(struct worker *w, struct http_request *req)
{
	gateway_rpc(sidecar_rpc_client, req);
}

void
sidecar_rpc_path(struct worker *w, struct http_request *req)
{
	struct route	 r;
	const char	*cause;

	if (route_from_path(w->conf->roles[ROLE_SIDECAR].namespace,
	    http_request_path(req), &r, &cause) == -1) {
		http_reply_error(req, 400, SIDECAR_ID, cause);
		return;
	}
	gateway_body_call(sidecar_rpc_client, req, r.service, r.method);
}
