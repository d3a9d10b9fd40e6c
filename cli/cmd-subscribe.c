/*
 * subscribe TOPIC [QUEUE]: a websocket to the broker's /sub; prints each
 * message's body on a line of its own, or the envelope with --json. Runs
 * until the broker closes or microctl is interrupted.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "base64.h"
#include "cmd.h"
#include "cmd-broker.h"
#include "http.h"
#include "util.h"
#include "ws.h"

static enum cmd_status	cmd_subscribe_exec(struct cmd_ctx *);

const struct cmd_entry cmd_subscribe_entry = {
	.name = "subscribe",
	.usage = "TOPIC [--queue QUEUE]",
	.minargs = 1,
	.maxargs = 1,
	.flags = CMD_F_QUEUE,
	.exec = cmd_subscribe_exec,
};

struct cmd_subscribe {
	struct event_base	*base;
	int			 json;
	char			 key[WS_KEY_LEN + 1];
	enum cmd_status		 status;
};

/* The envelope's Body, decoded; -1 if it is not an envelope. */
static int
cmd_subscribe_body(const void *data, size_t len)
{
	json_t		*env, *body;
	const char	*b64;
	char		*raw;
	long		 n;
	int		 rc = -1;

	env = json_loadb(data, len, 0, NULL);
	body = json_object_get(env, "Body");
	if ((b64 = json_string_value(body)) != NULL) {
		raw = xmalloc(strlen(b64) / 4 * 3 + 1);
		if ((n = base64_decode(b64, strlen(b64), raw)) >= 0) {
			fwrite(raw, 1, (size_t)n, stdout);
			rc = 0;
		}
		free(raw);
	}
	json_decref(env);
	return rc;
}

static void
cmd_subscribe_message(struct ws *ws, int binary, const void *data,
    size_t len, void *arg)
{
	struct cmd_subscribe	*s = arg;

	if (s->json)
		fwrite(data, 1, len, stdout);
	else if (cmd_subscribe_body(data, len) == -1) {
		s->status = cmd_error("broker sent a bad envelope");
		ws_close(ws, WS_CLOSE_UNSUPPORTED, "bad envelope");
		return;
	}
	putchar('\n');
	/* Nobody reads any more: microctl_flush() says so on the way out. */
	if (fflush(stdout) == EOF || ferror(stdout))
		ws_close(ws, WS_CLOSE_NORMAL, "output lost");
}

static void
cmd_subscribe_closed(struct ws *ws, uint16_t code, void *arg)
{
	struct cmd_subscribe	*s = arg;

	if (code != WS_CLOSE_NORMAL && s->status == CMD_OK)
		s->status = cmd_error("broker closed the subscription (%u)",
		    code);
	event_base_loopexit(s->base, NULL);
}

static const struct ws_callbacks cmd_subscribe_cbs = {
	.message = cmd_subscribe_message,
	.closed = cmd_subscribe_closed,
};

static void
cmd_subscribe_upgrade(struct http_creq *creq, struct stream *stream,
    void *arg)
{
	struct cmd_subscribe	*s = arg;
	const char		*cause;

	if (ws_client_open(creq, stream, s->key, NULL, &cmd_subscribe_cbs, s,
	    &cause) == NULL) {
		s->status = cmd_error("broker: %s", cause);
		event_base_loopexit(s->base, NULL);
	}
}

/* Anything but 101: the broker refused. */
static void
cmd_subscribe_refused(struct http_creq *creq, enum http_client_error err,
    void *arg)
{
	struct cmd_subscribe	*s = arg;

	if (err != HTTP_CLIENT_OK)
		s->status = cmd_error("broker: %s", http_client_strerror(err));
	else
		s->status = cmd_error("broker refused the subscription (%d)",
		    http_creq_status(creq));
}

static enum cmd_status
cmd_subscribe_exec(struct cmd_ctx *ctx)
{
	struct cmd_subscribe	 s;
	struct http_client	*client;
	struct http_creq	*creq;
	enum cmd_status		 rv;
	char			 addr[256], target[600];
	const char		*cause;

	memset(&s, 0, sizeof(s));
	s.json = ctx->opts->json;
	if ((rv = cmd_broker_target("/sub", ctx->argv[0], ctx->opts->queue,
	    target, sizeof(target))) != CMD_OK)
		return rv;
	if (cmd_broker_address(ctx, addr, sizeof(addr)) == -1)
		return CMD_ERROR;
	if ((s.base = event_base_new()) == NULL)
		return cmd_error("event_base_new failed");
	client = http_client_new(s.base, NULL);
	if ((creq = http_creq_new(client, "GET", addr, target, &cause)) ==
	    NULL)
		s.status = cmd_error("broker address %s: %s", addr, cause);
	else {
		ws_client_prepare(creq, s.key);
		http_creq_set_done_cb(creq, cmd_subscribe_refused, &s);
		http_creq_set_upgrade_cb(creq, cmd_subscribe_upgrade);
		http_creq_start(creq);
		event_base_dispatch(s.base);
	}
	http_client_free(client);
	event_base_free(s.base);
	return s.status;
}
