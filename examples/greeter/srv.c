/*
 * go.micro.srv.greeter in C: Say.Hello {"name":"John"} -> {"msg":"Hello
 * John"}, and Debug.Health. Speaks mucp (raw JSON, Micro-Endpoint) by
 * default, or with -j the 2016 JSON-RPC envelope, and registers itself
 * through a microd sidecar.
 *
 * usage: greeter-srv [-j] [-l host:port] [-s sidecar-host:port]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "examples/greeter/greeter.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define SRV_NAME	"go.micro.srv.greeter"

struct srv_endpoint {
	const char	*name;
	/* The result, or NULL with *error set. */
	json_t		*(*call)(json_t *, const char **);
};

static int	 srv_legacy;

static json_t *
srv_say_hello(json_t *req, const char **error)
{
	const char	*name = json_string_value(json_object_get(req, "name"));

	if (name == NULL || *name == '\0') {
		*error = "name required";
		return NULL;
	}
	return json_pack("{s:s+}", "msg", "Hello ", name);
}

static json_t *
srv_health(json_t *req, const char **error)
{
	return json_pack("{s:s}", "status", "ok");
}

static const struct srv_endpoint srv_endpoints[] = {
	{ "Say.Hello", srv_say_hello },
	{ "Debug.Health", srv_health },
};

static json_t *
srv_call(const char *endpoint, json_t *req, const char **error)
{
	size_t	 i;

	for (i = 0; endpoint != NULL && i < nitems(srv_endpoints); i++)
		if (strcmp(srv_endpoints[i].name, endpoint) == 0)
			return srv_endpoints[i].call(req, error);
	*error = "unknown endpoint";
	return NULL;
}

/* mucp: the endpoint in Micro-Endpoint, the raw request as the body. */
static void
srv_mucp(struct http_request *req)
{
	const char	*endpoint = http_request_header(req, "Micro-Endpoint");
	const char	*error = "request is not JSON";
	json_t		*in, *out = NULL;

	if ((in = greeter_body_json(req)) != NULL)
		out = srv_call(endpoint, in, &error);
	json_decref(in);
	if (out != NULL)
		greeter_reply_json(req, 200, out);
	else
		http_reply_error(req, 400, SRV_NAME, error);
}

/* 2016 JSON-RPC: errors travel in the envelope, with HTTP 200. */
static void
srv_jsonrpc(struct http_request *req)
{
	const char	*error = "bad JSON-RPC request";
	json_t		*in, *out = NULL, *id;

	in = greeter_body_json(req);
	id = json_object_get(in, "id");
	if (json_is_array(json_object_get(in, "params")))
		out = srv_call(json_string_value(json_object_get(in, "method")),
		    json_array_get(json_object_get(in, "params"), 0), &error);
	greeter_reply_json(req, 200, json_pack("{s:O?, s:o?, s:s?}",
	    "id", id, "result", out, "error", out ? NULL : error));
	json_decref(in);
}

static void
srv_handle(struct http_request *req, void *arg)
{
	if (strcmp(http_request_method(req), "POST") != 0)
		http_reply_error(req, 405, SRV_NAME, "method not allowed");
	else if (srv_legacy)
		srv_jsonrpc(req);
	else
		srv_mucp(req);
}

static json_t *
srv_service(const struct greeter *g)
{
	char	 id[128];

	snprintf(id, sizeof(id), "%s-%s", SRV_NAME, g->address);
	return json_pack("{s:s, s:s, s:[{s:s, s:{s:[{s:s, s:s}]}}],"
	    " s:[{s:s, s:s, s:{s:s, s:s}}]}",
	    "name", SRV_NAME, "version", "latest",
	    "endpoints", "name", "Say.Hello", "request", "values",
	    "name", "name", "type", "string",
	    "nodes", "id", id, "address", g->address, "metadata",
	    "protocol", srv_legacy ? "json-rpc" : "mucp", "server", "microd");
}

int
main(int argc, char **argv)
{
	struct greeter	 g;
	const char	*listen = "127.0.0.1:0";
	int		 ch;

	memset(&g, 0, sizeof(g));
	g.sidecar = "127.0.0.1:8081";
	while ((ch = getopt(argc, argv, "jl:s:")) != -1) {
		switch (ch) {
		case 'j':
			srv_legacy = 1;
			break;
		case 'l':
			listen = optarg;
			break;
		case 's':
			g.sidecar = optarg;
			break;
		default:
			fprintf(stderr, "usage: greeter-srv [-j] [-l host:port] "
			    "[-s sidecar]\n");
			return 2;
		}
	}
	return greeter_serve(&g, "greeter-srv", listen, srv_handle, srv_service);
}
