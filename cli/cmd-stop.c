/*
 * stop: a graceful stop, as SIGTERM; microd answers before it drains.
 */
#include "config.h"

#include <stdio.h>

#include "cmd.h"
#include "output.h"

static enum cmd_status	cmd_stop_exec(struct cmd_ctx *);

const struct cmd_entry cmd_stop_entry = {
	.name = "stop",
	.usage = "",
	.minargs = 0,
	.maxargs = 0,
	.exec = cmd_stop_exec,
};

static enum cmd_status
cmd_stop_exec(struct cmd_ctx *ctx)
{
	if (cmd_simple(ctx, "stop") == -1)
		return CMD_ERROR;
	if (ctx->opts->json)
		return output_json(ctx->reply.data);
	printf("microd is stopping\n");
	return CMD_OK;
}
