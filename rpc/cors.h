/*
 * CORS for the gateway ([api] cors = origin,... ; "*" allows any origin
 * but "null", which must be listed; empty is off). Allowed origins are echoed with credentials allowed, as
 * micro does; preflights (OPTIONS with Access-Control-Request-Method) are
 * answered here without reaching a service.
 */
#ifndef MICRO_RPC_CORS_H
#define MICRO_RPC_CORS_H

struct cors;
struct http_headers;
struct http_request;

/* NULL when list is empty (CORS off). */
struct cors	*cors_new(const char *list);
void		 cors_free(struct cors *);
/*
 * Add Vary: Origin to req's reply, and the CORS headers when its Origin
 * is allowed. Returns 1 if req was a preflight and has been answered
 * (req is gone), else 0.
 */
int		 cors_apply(const struct cors *, struct http_request *);
/*
 * Whether a service's reply header must give way to the gateway's CORS
 * answer already in reply: a second Access-Control-Allow-Origin makes
 * browsers refuse the response.
 */
int		 cors_overrides(const struct http_headers *reply,
		    const char *name);

#endif
