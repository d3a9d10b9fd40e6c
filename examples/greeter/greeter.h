/*
 * What the two C greeter services share: a listener served by microd's
 * HTTP layer, and self-registration through a microd sidecar
 * (POST /registry?ttl=..., renewed every GREETER_RENEW_MS; DELETE on exit).
 */
#ifndef GREETER_H
#define GREETER_H

#include <stddef.h>

#include <jansson.h>

struct event_base;
struct http_client;
struct http_request;

#define GREETER_RENEW_MS	10000
#define GREETER_TTL		"30s"

struct greeter {
	struct event_base	*base;
	struct http_client	*http;
	const char		*sidecar;	/* host:port */
	char			 address[64];	/* where we listen */
	char			*service_json;
};

/*
 * A service's whole life: listen on listen (g->address gets the real
 * port), answer with handle, register what service(g) describes (a
 * Service JSON object with one node) and keep it registered, run until
 * SIGINT/SIGTERM, then deregister. Returns the exit status.
 */
int	 greeter_serve(struct greeter *, const char *name, const char *listen,
	    void (*handle)(struct http_request *, void *),
	    json_t *(*service)(const struct greeter *));
/* The request body as JSON, or NULL. */
json_t	*greeter_body_json(struct http_request *);
void	 greeter_reply_json(struct http_request *, int, json_t *);

#endif
