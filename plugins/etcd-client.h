/*
 * Requests to an etcd cluster's v3 JSON gateway: the endpoint list with
 * failover, TLS options and the auth token header.
 */
#ifndef MICRO_PLUGINS_ETCD_CLIENT_H
#define MICRO_PLUGINS_ETCD_CLIENT_H

#include <stdint.h>

#include "plugins/curlev.h"

struct etcd_client;
struct registry_backend_conf;

/* Returns NULL with a static *cause for a bad address list. */
struct etcd_client *etcd_client_new(struct event_base *,
		    const struct registry_backend_conf *, const char **);
void		 etcd_client_free(struct etcd_client *);

/*
 * POST body (consumed) to path ("/v3/kv/range") on the current endpoint,
 * ended if not answered within ETCD_REQUEST_MS. The transfer is started;
 * NULL if libcurl refused it (logged by the caller through *cause).
 */
struct curlev_xfer *etcd_client_post(struct etcd_client *, const char *,
		    char *, curlev_done_cb, void *, const char **);
/*
 * The same for an answer that streams for as long as it is wanted (a
 * watch): no total timeout, the body is handed to data as it arrives.
 */
struct curlev_xfer *etcd_client_stream(struct etcd_client *, const char *,
		    char *, curlev_data_cb, curlev_done_cb, void *,
		    const char **);
/* The current endpoint failed: use the next one from now on. */
void		 etcd_client_failover(struct etcd_client *);
const char	*etcd_client_endpoint(const struct etcd_client *);
/* Username/password configured but no token held yet. */
int		 etcd_client_need_auth(const struct etcd_client *);
void		 etcd_client_auth_not_enabled(struct etcd_client *);
/* The authenticate request body, allocated. */
char		*etcd_client_auth_request(const struct etcd_client *);
/* Hand over a token (consumed), or NULL to drop a rejected one. */
void		 etcd_client_set_token(struct etcd_client *, char *);
/*
 * Revoke n leases together and wait for them, at most
 * ETCD_REVOKE_TIMEOUT_MS in all: only at shutdown, when the keys of this
 * host must go before the process does. Returns how many were revoked.
 */
size_t		 etcd_client_revoke_now(struct etcd_client *, const int64_t *,
		    size_t);

#endif
