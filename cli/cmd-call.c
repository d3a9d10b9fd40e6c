/*
 * call SERVICE ENDPOINT [JSON|-]: one RPC through the /rpc of microd's api
 * gateway (or sidecar, or the --proxy-address sidecar); microctl itself
 * never calls a node. The answer is printed as the gateway returned it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "cmd-http.h"

static enum cmd_status	cmd_call_exec(struct cmd_ctx *);

const struct cmd_entry cmd_call_entry = {
	.name = "call",
	.usage = "SERVICE ENDPOINT [JSON|-]",
	.minargs = 2,
	.maxargs = 3,
	.flags = CMD_F_PROXY | CMD_F_HTTP,
	.exec = cmd_call_exec,
};

/* The request object: the argument, stdin for "-", {} without one. */
static enum cmd_status
cmd_call_request(const struct cmd_ctx *ctx, json_t **request)
{
	const char	*arg = ctx->argc > 2 ? ctx->argv[2] : "{}";
	json_error_t	 error;
	char		*text = NULL;
	size_t		 len = strlen(arg);

	if (strcmp(arg, "-") == 0 && (arg = text = cmd_read_input("-",
	    CMD_INPUT_MAX, &len)) == NULL)
		return CMD_ERROR;
	*request = json_loadb(arg, len, 0, &error);
	free(text);
	if (*request == NULL) {
		cmd_error("bad JSON request: %s (line %d, column %d)",
		    error.text, error.line, error.column);
		return CMD_USAGE;
	}
	if (!json_is_object(*request)) {
		cmd_error("bad JSON request: not an object");
		json_decref(*request);
		return CMD_USAGE;
	}
	return CMD_OK;
}

static enum cmd_status
cmd_call_print(const struct cmd_http_reply *reply)
{
	char	*detail;
	long	 code;

	if (reply->status >= 200 && reply->status <= 299) {
		fwrite(reply->body, 1, reply->len, stdout);
		if (reply->len == 0 || reply->body[reply->len - 1] != '\n')
			putchar('\n');
		return CMD_OK;
	}
	detail = cmd_http_error(reply, &code);
	cmd_error("%s (%ld)", detail, code);
	free(detail);
	return CMD_ERROR;
}

static enum cmd_status
cmd_call_exec(struct cmd_ctx *ctx)
{
	struct cmd_http_reply	 reply;
	enum cmd_status		 rv;
	json_t			*request;
	char			 rpc[256];

	if ((rv = cmd_call_request(ctx, &request)) != CMD_OK)
		return rv;
	if (cmd_rpc_address(ctx, rpc, sizeof(rpc)) == -1 ||
	    cmd_rpc(ctx, rpc, ctx->argv[0], ctx->argv[1], request, NULL,
	    &reply) == -1)
		rv = CMD_ERROR;
	else {
		rv = cmd_call_print(&reply);
		cmd_http_reply_free(&reply);
	}
	json_decref(request);
	return rv;
}
