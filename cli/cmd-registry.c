/*
 * The registry commands' two transports: the control socket to microd, or
 * with --proxy-address HTTP to a sidecar's /registry. Either way the
 * command gets the same JSON, so its output does not depend on the path.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cmd.h"
#include "cmd-http.h"
#include "log.h"
#include "mpjson.h"
#include "output.h"
#include "svc.h"
#include "util.h"

/* Parse enough to refuse what is not a Service; microd checks the rest. */
static json_t *
cmd_parse_service(const char *path, const char *text, size_t len)
{
	json_error_t	 error;
	json_t		*svc;

	if ((svc = json_loadb(text, len, 0, &error)) == NULL) {
		cmd_error("%s:%d: %s", path, error.line, error.text);
		return NULL;
	}
	if (!json_is_object(svc)) {
		cmd_error("%s: a Service must be a JSON object", path);
		json_decref(svc);
		return NULL;
	}
	return svc;
}

/* The JSON of a 2xx answer, or NULL after printing the error. */
static json_t *
cmd_http_json(const struct cmd_http_reply *reply)
{
	json_t	*v;
	char	*detail;
	long	 code;

	if (reply->status < 200 || reply->status > 299) {
		detail = cmd_http_error(reply, &code);
		cmd_error("%s", detail);
		free(detail);
		return NULL;
	}
	if ((v = json_loadb(reply->body, reply->len, JSON_DECODE_ANY,
	    NULL)) == NULL)
		cmd_error("the sidecar's answer is not JSON");
	return v;
}

/* register: POST /registry[?ttl=]; deregister: DELETE /registry. */
static json_t *
cmd_send_http(struct cmd_ctx *ctx, const char *cmd, const char *text)
{
	struct cmd_http_reply	 reply;
	json_t			*v;
	char			 target[64];
	int			 reg = strcmp(cmd, "register") == 0;

	snprintf(target, sizeof(target), "/registry");
	if (reg && ctx->opts->has_ttl)
		snprintf(target, sizeof(target), "/registry?ttl=%" PRIu64 "ms",
		    ctx->opts->ttl_ms);
	if (cmd_http(ctx->opts, reg ? "POST" : "DELETE",
	    ctx->opts->proxy_address, target, text, &reply) == -1)
		return NULL;
	v = cmd_http_json(&reply);
	cmd_http_reply_free(&reply);
	return v;
}

static json_t *
cmd_send_ctl(struct cmd_ctx *ctx, const char *cmd, const char *text,
    size_t len)
{
	msgpack_packer	*pk = &ctx->frame.pk;
	const char	*cause;
	json_t		*v;

	if (cmd_begin(ctx, cmd, 1 + ctx->opts->has_ttl) == -1)
		return NULL;
	ctl_pack_str(pk, "json");
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, text, len);
	if (ctx->opts->has_ttl)
		ctl_pack_kv_uint(pk, "ttl_ms", ctx->opts->ttl_ms);
	if (cmd_call(ctx) == -1)
		return NULL;
	if (ctx->reply.data == NULL)
		return json_null();
	if ((v = mpjson_from_msgpack(ctx->reply.data, &cause)) == NULL)
		cmd_error("microd sent data with no JSON form: %s", cause);
	return v;
}

static enum cmd_status
cmd_send_text(struct cmd_ctx *ctx, const char *cmd, const char *text,
    size_t len, const json_t *svc)
{
	const char	*name, *version;
	enum cmd_status	 rv;
	json_t		*reply;

	if (ctx->opts->proxy_address != NULL)
		reply = cmd_send_http(ctx, cmd, text);
	else
		reply = cmd_send_ctl(ctx, cmd, text, len);
	if (reply == NULL)
		return CMD_ERROR;
	if (ctx->opts->json) {
		rv = output_json_value(reply);
		json_decref(reply);
		return rv;
	}
	json_decref(reply);
	name = json_string_value(json_object_get(svc, "name"));
	version = json_string_value(json_object_get(svc, "version"));
	output_line("%sed %s%s%s", cmd, name != NULL ? name : "service",
	    version != NULL && *version != '\0' ? " " : "",
	    version != NULL ? version : "");
	return CMD_OK;
}

enum cmd_status
cmd_send_service(struct cmd_ctx *ctx, const char *cmd)
{
	const char	*path = ctx->argv[0];
	enum cmd_status	 rv;
	json_t		*svc;
	char		*text;
	size_t		 len;

	/* No more than the registry takes (nor the control socket). */
	if ((text = cmd_read_input(path, SVC_JSON_MAX, &len)) == NULL)
		return CMD_ERROR;
	if ((svc = cmd_parse_service(strcmp(path, "-") == 0 ? "stdin" : path,
	    text, len)) == NULL) {
		free(text);
		return CMD_ERROR;
	}
	rv = cmd_send_text(ctx, cmd, text, len, svc);
	json_decref(svc);
	free(text);
	return rv;
}

/* list itself if it is an array; else NULL after printing why. */
static json_t *
cmd_services_array(json_t *list)
{
	if (list != NULL && !json_is_array(list)) {
		cmd_error("bad service list: not an array");
		json_decref(list);
		return NULL;
	}
	return list;
}

/* GET /registry[?service=NAME] */
static json_t *
cmd_services_http(struct cmd_ctx *ctx, const char *name)
{
	struct cmd_http_reply	 reply;
	json_t			*list;
	char			*target, *esc = NULL;
	int			 rv;

	/* libcurl has ignored the handle argument since 7.15.4. */
	if (name != NULL && (esc = curl_easy_escape(NULL, name, 0)) == NULL)
		fatalx("curl_easy_escape failed");
	xasprintf(&target, "/registry%s%s", esc != NULL ? "?service=" : "",
	    esc != NULL ? esc : "");
	curl_free(esc);
	rv = cmd_http(ctx->opts, "GET", ctx->opts->proxy_address, target, NULL,
	    &reply);
	free(target);
	if (rv == -1)
		return NULL;
	list = cmd_http_json(&reply);
	cmd_http_reply_free(&reply);
	return cmd_services_array(list);
}

static json_t *
cmd_services_ctl(struct cmd_ctx *ctx, const char *name)
{
	const msgpack_object	*text;
	json_error_t		 error;
	json_t			*list;

	if (cmd_begin(ctx, name != NULL ? "service" : "services",
	    name != NULL) == -1)
		return NULL;
	if (name != NULL)
		ctl_pack_kv_str(&ctx->frame.pk, "name", name);
	if (cmd_call(ctx) == -1)
		return NULL;
	text = ctl_map_get(ctx->reply.data, "json");
	if (text == NULL || text->type != MSGPACK_OBJECT_STR) {
		cmd_error("microd sent no service list");
		return NULL;
	}
	list = json_loadb(text->via.str.ptr, text->via.str.size, 0, &error);
	if (list == NULL)
		cmd_error("microd sent a bad service list: %s", error.text);
	return cmd_services_array(list);
}

json_t *
cmd_services(struct cmd_ctx *ctx, const char *name)
{
	if (ctx->opts->proxy_address != NULL)
		return cmd_services_http(ctx, name);
	return cmd_services_ctl(ctx, name);
}
