/*
 * reload: have microd re-read its configuration, as SIGHUP does, but
 * report whether the new configuration was accepted.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "cmd.h"
#include "output.h"

static enum cmd_status	cmd_reload_exec(struct cmd_ctx *);

const struct cmd_entry cmd_reload_entry = {
	.name = "reload",
	.usage = "",
	.minargs = 0,
	.maxargs = 0,
	.exec = cmd_reload_exec,
};

static enum cmd_status
cmd_reload_exec(struct cmd_ctx *ctx)
{
	if (cmd_simple(ctx, "reload") == -1)
		return CMD_ERROR;
	if (ctx->opts->json)
		return output_json(ctx->reply.data);
	printf("reloaded: generation %" PRId64 "\n",
	    output_field_int(ctx->reply.data, "generation"));
	return CMD_OK;
}
