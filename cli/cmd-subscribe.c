/*
 * subscribe TOPIC [--queue QUEUE]: prints each message's body on a line of
 * its own, or the envelope with --json. By default the subscribe stream of
 * the control socket (microd subscribes for us, and says when the broker
 * interrupted it); with --proxy-address a websocket to that sidecar's
 * /broker. Runs until the subscription ends or microctl is interrupted.
 */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "base64.h"
#include "cmd.h"
#include "cmd-broker.h"
#include "http.h"
#include "output.h"
#include "util.h"
#include "ws.h"

static enum cmd_status	cmd_subscribe_exec(struct cmd_ctx *);

const struct cmd_entry cmd_subscribe_entry = {
	.name = "subscribe",
	.usage = "TOPIC [--queue QUEUE]",
	.minargs = 1,
	.maxargs = 1,
	.flags = CMD_F_QUEUE | CMD_F_PROXY,
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

/* The sidecar's /broker (go-micro's sidecar websocket). */
static enum cmd_status
cmd_subscribe_ws(struct cmd_ctx *ctx)
{
	struct cmd_subscribe	 s;
	struct http_client	*client;
	struct http_creq	*creq;
	enum cmd_status		 rv;
	char			 target[600];
	const char		*addr = ctx->opts->proxy_address, *cause;

	memset(&s, 0, sizeof(s));
	s.json = ctx->opts->json;
	if ((rv = cmd_broker_target("/broker", ctx->argv[0], ctx->opts->queue,
	    target, sizeof(target))) != CMD_OK)
		return rv;
	if ((s.base = event_base_new()) == NULL)
		return cmd_error("event_base_new failed");
	client = http_client_new(s.base, NULL);
	if ((creq = http_creq_new(client, "GET", addr, target, &cause)) ==
	    NULL)
		s.status = cmd_error("broker address %s: %s", addr, cause);
	else {
		/* The handshake only: the subscription then lasts. */
		if (ctx->opts->has_timeout)
			http_creq_set_timeouts(creq, 0,
			    ctx->opts->timeout_ms > UINT_MAX ? UINT_MAX :
			    (unsigned int)ctx->opts->timeout_ms);
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

/* The envelope the broker sends, from the event's header and body. */
static enum cmd_status
cmd_subscribe_print_json(const msgpack_object *header,
    const msgpack_object *body)
{
	const msgpack_object_kv	*kv;
	enum cmd_status		 rv;
	json_t			*env, *h;
	char			*b64;
	uint32_t		 i;

	h = json_object();
	for (i = 0; header != NULL && header->type == MSGPACK_OBJECT_MAP &&
	    i < header->via.map.size; i++) {
		kv = &header->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR ||
		    kv->val.type != MSGPACK_OBJECT_STR)
			continue;
		json_object_setn_new_nocheck(h, kv->key.via.str.ptr,
		    kv->key.via.str.size, json_stringn_nocheck(
		    kv->val.via.str.ptr, kv->val.via.str.size));
	}
	b64 = xmalloc(BASE64_LEN(body->via.bin.size) + 1);
	base64_encode(body->via.bin.ptr, body->via.bin.size, b64);
	env = json_pack("{s:o,s:s}", "Header", h, "Body", b64);
	free(b64);
	if (env == NULL)
		return cmd_error("cannot print JSON");
	rv = output_json_line(env);
	json_decref(env);
	return rv;
}

static enum cmd_status
cmd_subscribe_print(struct cmd_ctx *ctx, const msgpack_object *d)
{
	const msgpack_object	*body = ctl_map_get(d, "body");

	if (body == NULL || body->type != MSGPACK_OBJECT_BIN)
		return cmd_error("microd sent a message without a body");
	if (ctx->opts->json)
		return cmd_subscribe_print_json(ctl_map_get(d, "header"),
		    body);
	fwrite(body->via.bin.ptr, 1, body->via.bin.size, stdout);
	putchar('\n');
	return CMD_OK;
}

/* What is not a message goes to stderr: stdout stays the messages. */
static enum cmd_status
cmd_subscribe_event(struct cmd_ctx *ctx, const struct ctl_msg *m, int *down)
{
	char	 why[256];

	if (strcmp(m->event, "message") == 0)
		return cmd_subscribe_print(ctx, m->data);
	if (strcmp(m->event, "lost") == 0)
		cmd_warn("%" PRId64 " messages lost: microctl did not keep up",
		    output_field_int(m->data, "messages"));
	else if (strcmp(m->event, "interrupted") == 0) {
		output_field(m->data, "reason", why, sizeof(why));
		cmd_warn("subscription interrupted, resubscribing: %s", why);
		*down = 1;
	} else if (strcmp(m->event, "subscribed") == 0 && *down) {
		cmd_warn("subscribed again");
		*down = 0;
	}
	return CMD_OK;
}

/* The control socket's subscribe stream, for as long as microd lasts. */
static enum cmd_status
cmd_subscribe_ctl(struct cmd_ctx *ctx)
{
	enum cmd_status	 rv;
	struct ctl_msg	 m;
	const char	*queue = ctx->opts->queue, *cause;
	char		 target[600];
	int		 down = 0;

	if ((rv = cmd_broker_target("/sub", ctx->argv[0], queue, target,
	    sizeof(target))) != CMD_OK)
		return rv;
	if (cmd_begin(ctx, "subscribe", 1 + (queue != NULL)) == -1)
		return CMD_ERROR;
	ctl_pack_kv_str(&ctx->frame.pk, "topic", ctx->argv[0]);
	if (queue != NULL)
		ctl_pack_kv_str(&ctx->frame.pk, "queue", queue);
	if (cmd_call(ctx) == -1)
		return CMD_ERROR;
	/* A quiet topic is no error: no timeout from now on. */
	ctlclient_set_timeout(ctx->client, INT_MAX);
	while (rv == CMD_OK) {
		memset(&m, 0, sizeof(m));
		if (ctlclient_recv(ctx->client, &m, &cause) == -1)
			rv = cmd_error("%s", cause);
		else if (m.event != NULL)
			rv = cmd_subscribe_event(ctx, &m, &down);
		ctl_msg_free(&m);
		/* Nobody reads any more: microctl_flush() says so. */
		if (fflush(stdout) == EOF || ferror(stdout))
			break;
	}
	return rv;
}

static enum cmd_status
cmd_subscribe_exec(struct cmd_ctx *ctx)
{
	if (ctx->opts->proxy_address != NULL)
		return cmd_subscribe_ws(ctx);
	return cmd_subscribe_ctl(ctx);
}
