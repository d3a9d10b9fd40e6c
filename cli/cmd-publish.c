/*
 * publish TOPIC MESSAGE|-: POST the message to the broker's /pub; JSON
 * goes as application/json, anything else as text/plain.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "cmd.h"
#include "cmd-broker.h"
#include "http.h"
#include "util.h"

#define CMD_PUBLISH_MAX	(64 * 1024 * 1024)

static enum cmd_status	cmd_publish_exec(struct cmd_ctx *);

const struct cmd_entry cmd_publish_entry = {
	.name = "publish",
	.usage = "TOPIC MESSAGE|-",
	.minargs = 2,
	.maxargs = 2,
	.exec = cmd_publish_exec,
};

struct cmd_publish {
	struct event_base	*base;
	enum cmd_status		 status;
};

static void
cmd_publish_done(struct http_creq *creq, enum http_client_error err,
    void *arg)
{
	struct cmd_publish	*p = arg;
	struct evbuffer		*body;

	if (err != HTTP_CLIENT_OK)
		p->status = cmd_error("broker: %s", http_client_strerror(err));
	else if (http_creq_status(creq) != 202) {
		body = http_creq_response_body(creq);
		p->status = cmd_error("broker answered %d: %.*s",
		    http_creq_status(creq), (int)evbuffer_get_length(body),
		    (const char *)evbuffer_pullup(body, -1));
	} else
		p->status = CMD_OK;
	/* The client pools the connection: leave the loop ourselves. */
	event_base_loopexit(p->base, NULL);
}

/* The message: the argument, or stdin for "-". */
static int
cmd_publish_message(const char *arg, struct evbuffer *out)
{
	int	 n;

	if (strcmp(arg, "-") != 0)
		return evbuffer_add(out, arg, strlen(arg));
	while ((n = evbuffer_read(out, 0, 65536)) > 0)
		if (evbuffer_get_length(out) > CMD_PUBLISH_MAX) {
			cmd_error("message on stdin too large");
			return -1;
		}
	if (n == -1)
		cmd_error("stdin: %s", strerror(errno));
	return n;
}

static const char *
cmd_publish_ctype(struct evbuffer *body)
{
	json_t	*j;

	j = json_loadb((const char *)evbuffer_pullup(body, -1),
	    evbuffer_get_length(body), JSON_DECODE_ANY, NULL);
	json_decref(j);
	return j != NULL ? "application/json" : "text/plain";
}

static enum cmd_status
cmd_publish_exec(struct cmd_ctx *ctx)
{
	struct cmd_publish	 p = { NULL, CMD_ERROR };
	struct event_base	*base;
	struct http_client	*client;
	struct http_creq	*creq;
	struct evbuffer		*msg;
	enum cmd_status		 rv;
	char			 addr[256], target[600];
	const char		*cause;

	if ((rv = cmd_broker_target("/pub", ctx->argv[0], NULL, target,
	    sizeof(target))) != CMD_OK)
		return rv;
	if (cmd_broker_address(ctx, addr, sizeof(addr)) == -1)
		return CMD_ERROR;
	if ((p.base = base = event_base_new()) == NULL ||
	    (msg = evbuffer_new()) == NULL)
		return cmd_error("out of memory");
	client = http_client_new(base, NULL);
	if (cmd_publish_message(ctx->argv[1], msg) == -1)
		goto out;
	if ((creq = http_creq_new(client, "POST", addr, target, &cause)) ==
	    NULL) {
		p.status = cmd_error("broker address %s: %s", addr, cause);
		goto out;
	}
	http_headers_set(http_creq_headers(creq), "Content-Type",
	    cmd_publish_ctype(msg));
	evbuffer_add_buffer(http_creq_body(creq), msg);
	http_creq_set_done_cb(creq, cmd_publish_done, &p);
	http_creq_start(creq);
	event_base_dispatch(base);
out:
	evbuffer_free(msg);
	http_client_free(client);
	event_base_free(base);
	return p.status;
}
