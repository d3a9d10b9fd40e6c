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

/* Bind, listen and serve; fills g->address with the real port. */
void	 greeter_listen(struct greeter *, const char *,
	    void (*)(struct http_request *, void *));
/* Register svc (a Service JSON object with one node) until exit. */
void	 greeter_register(struct greeter *, json_t *);
/* Run until SIGINT/SIGTERM, then deregister. */
void	 greeter_run(struct greeter *);
/* The request body as JSON, or NULL. */
json_t	*greeter_body_json(struct http_request *);
void	 greeter_reply_json(struct http_request *, int, json_t *);

#endif
