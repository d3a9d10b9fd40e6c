/*
 * go.micro.api.greeter in C: micro's api handler sends it an api.Request
 * for GET /greeter/say/hello?name=John; it calls go.micro.srv.greeter
 * Say.Hello through the sidecar's POST /rpc and answers an api.Response
 * whose body is the srv's reply, {"msg":"Hello John"}.
 *
 * usage: greeter-api [-l host:port] [-s sidecar-host:port]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "examples/greeter/greeter.h"
#include "http.h"
#include "log.h"

#define API_NAME	"go.micro.api.greeter"

static struct greeter	 api_g;

/* api.Response {statusCode, header, body}. */
static void
api_respond(struct http_request *req, int status, const char *body,
    size_t len)
{
	json_t	*rsp;

	rsp = json_pack("{s:i, s:{s:{s:s, s:[s]}}, s:s%}", "statusCode",
	    status, "header", "Content-Type", "key", "Content-Type", "values",
	    "application/json", "body", body, len);
	if (rsp == NULL)
		http_reply_error(req, 502, API_NAME, "srv reply is not text");
	else
		greeter_reply_json(req, 200, rsp);
}

static void
api_srv_done(struct http_creq *creq, enum http_client_error err, void *arg)
{
	struct http_request	*req = arg;
	struct evbuffer		*b;

	if (err != HTTP_CLIENT_OK) {
		http_reply_error(req, 502, API_NAME, http_client_strerror(err));
		return;
	}
	b = http_creq_response_body(creq);
	api_respond(req, http_creq_status(creq),
	    (const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
}

/* get.name.values[0] of the api.Request, or NULL. */
static const char *
api_name(json_t *in)
{
	json_t	*pair = json_object_get(json_object_get(in, "get"), "name");

	return json_string_value(json_array_get(json_object_get(pair,
	    "values"), 0));
}

static void
api_say_hello(struct http_request *req, json_t *in)
{
	struct http_creq	*creq;
	const char		*name = api_name(in), *cause;
	json_t			*call;
	char			*body;

	if (name == NULL) {
		http_reply_error(req, 400, API_NAME, "Name cannot be blank");
		return;
	}
	creq = http_creq_new(api_g.http, "POST", api_g.sidecar, "/rpc",
	    &cause);
	if (creq == NULL) {
		http_reply_error(req, 500, API_NAME, cause);
		return;
	}
	call = json_pack("{s:s, s:s, s:{s:s}}", "service",
	    "go.micro.srv.greeter", "method", "Say.Hello", "request", "name",
	    name);
	body = json_dumps(call, JSON_COMPACT);
	json_decref(call);
	http_headers_set(http_creq_headers(creq), "Content-Type",
	    "application/json");
	evbuffer_add(http_creq_body(creq), body, strlen(body));
	free(body);
	http_creq_set_done_cb(creq, api_srv_done, req);
	http_creq_start(creq);
}

static void
api_handle(struct http_request *req, void *arg)
{
	const char	*endpoint = http_request_header(req, "Micro-Endpoint");
	json_t		*in = greeter_body_json(req);

	if (in == NULL)
		http_reply_error(req, 400, API_NAME, "not an api.Request");
	else if (endpoint == NULL || strcmp(endpoint, "Say.Hello") != 0)
		http_reply_error(req, 404, API_NAME, "unknown endpoint");
	else
		api_say_hello(req, in);
	json_decref(in);
}

static json_t *
api_service(const struct greeter *g)
{
	char	 id[128];

	snprintf(id, sizeof(id), "%s-%s", API_NAME, g->address);
	return json_pack("{s:s, s:s, s:[{s:s}], s:[{s:s, s:s, s:{s:s}}]}",
	    "name", API_NAME, "version", "latest", "endpoints", "name",
	    "Say.Hello", "nodes", "id", id, "address", g->address,
	    "metadata", "protocol", "mucp");
}

int
main(int argc, char **argv)
{
	const char	*listen = "127.0.0.1:0";
	int		 ch;

	api_g.sidecar = "127.0.0.1:8081";
	while ((ch = getopt(argc, argv, "l:s:")) != -1) {
		switch (ch) {
		case 'l':
			listen = optarg;
			break;
		case 's':
			api_g.sidecar = optarg;
			break;
		default:
			fprintf(stderr, "usage: greeter-api [-l host:port] "
			    "[-s sidecar]\n");
			return 2;
		}
	}
	return greeter_serve(&api_g, "greeter-api", listen, api_handle,
	    api_service);
}
