#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "output.h"
#include "util.h"

/* Leaves room in the frame for the keys around the Service JSON text. */
#define CMD_SERVICE_MAX	(CTL_FRAME_MAX - 256)

enum cmd_status
cmd_error(const char *fmt, ...)
{
	va_list	 ap;

	fputs("microctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CMD_ERROR;
}

enum cmd_status
cmd_usage(const struct cmd_entry *entry)
{
	fprintf(stderr, "usage: microctl [-j] [-s socket] %s%s%s\n",
	    entry->name, *entry->usage != '\0' ? " " : "", entry->usage);
	return CMD_USAGE;
}

int
cmd_begin(struct cmd_ctx *ctx, const char *cmd, size_t nargs)
{
	const char	*cause;

	if ((ctx->client = ctlclient_connect(ctx->opts->socket, &cause)) ==
	    NULL) {
		cmd_error("%s", cause);
		return -1;
	}
	ctlclient_begin(ctx->client, &ctx->frame, cmd, nargs > 0);
	if (nargs > 0) {
		ctl_pack_str(&ctx->frame.pk, "args");
		msgpack_pack_map(&ctx->frame.pk, nargs);
	}
	return 0;
}

int
cmd_call(struct cmd_ctx *ctx)
{
	const char	*cause;

	if (ctlclient_call(ctx->client, &ctx->frame, &ctx->reply, &cause) ==
	    -1) {
		cmd_error("%s", cause);
		return -1;
	}
	return 0;
}

int
cmd_simple(struct cmd_ctx *ctx, const char *cmd)
{
	if (cmd_begin(ctx, cmd, 0) == -1)
		return -1;
	return cmd_call(ctx);
}

/* The whole of path ("-": stdin, called name), at most CMD_SERVICE_MAX. */
static char *
cmd_read_file(const char *path, const char *name, size_t *len)
{
	FILE	*f = stdin;
	char	*buf;
	size_t	 n;

	if (strcmp(path, "-") != 0 && (f = fopen(path, "r")) == NULL) {
		cmd_error("%s: %s", name, strerror(errno));
		return NULL;
	}
	buf = xmalloc(CMD_SERVICE_MAX + 1);
	n = fread(buf, 1, CMD_SERVICE_MAX + 1, f);
	if (ferror(f) || n > CMD_SERVICE_MAX) {
		if (ferror(f))
			cmd_error("%s: read error", name);
		else
			cmd_error("%s: larger than %u bytes", name,
			    CMD_SERVICE_MAX);
		free(buf);
		buf = NULL;
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
}

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

static enum cmd_status
cmd_send_text(struct cmd_ctx *ctx, const char *cmd, const char *text,
    size_t len, const json_t *svc)
{
	msgpack_packer	*pk = &ctx->frame.pk;
	const char	*name, *version;

	if (cmd_begin(ctx, cmd, 1 + ctx->opts->has_ttl) == -1)
		return CMD_ERROR;
	ctl_pack_str(pk, "json");
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, text, len);
	if (ctx->opts->has_ttl)
		ctl_pack_kv_uint(pk, "ttl_ms", ctx->opts->ttl_ms);
	if (cmd_call(ctx) == -1)
		return CMD_ERROR;
	if (ctx->opts->json)
		return output_json(ctx->reply.data);
	name = json_string_value(json_object_get(svc, "name"));
	version = json_string_value(json_object_get(svc, "version"));
	printf("%sed %s%s%s\n", cmd, name != NULL ? name : "service",
	    version != NULL && *version != '\0' ? " " : "",
	    version != NULL ? version : "");
	return CMD_OK;
}

enum cmd_status
cmd_send_service(struct cmd_ctx *ctx, const char *cmd)
{
	const char	*path = ctx->argv[0], *name;
	enum cmd_status	 rv;
	json_t		*svc;
	char		*text;
	size_t		 len;

	name = strcmp(path, "-") == 0 ? "stdin" : path;
	if ((text = cmd_read_file(path, name, &len)) == NULL)
		return CMD_ERROR;
	if ((svc = cmd_parse_service(name, text, len)) == NULL) {
		free(text);
		return CMD_ERROR;
	}
	rv = cmd_send_text(ctx, cmd, text, len, svc);
	json_decref(svc);
	free(text);
	return rv;
}

json_t *
cmd_services_json(struct cmd_ctx *ctx)
{
	const msgpack_object	*text;
	json_error_t		 error;
	json_t			*list;

	text = ctl_map_get(ctx->reply.data, "json");
	if (text == NULL || text->type != MSGPACK_OBJECT_STR) {
		cmd_error("microd sent no service list");
		return NULL;
	}
	list = json_loadb(text->via.str.ptr, text->via.str.size, 0, &error);
	if (list == NULL || !json_is_array(list)) {
		cmd_error("microd sent a bad service list: %s",
		    list == NULL ? error.text : "not an array");
		json_decref(list);
		return NULL;
	}
	return list;
}
