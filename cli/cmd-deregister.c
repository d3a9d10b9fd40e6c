/*
 * deregister FILE|-: remove the nodes of a Service from the registry.
 */
#include "config.h"

#include "cmd.h"

static enum cmd_status	cmd_deregister_exec(struct cmd_ctx *);

const struct cmd_entry cmd_deregister_entry = {
	.name = "deregister",
	.usage = "FILE|-",
	.minargs = 1,
	.maxargs = 1,
	.flags = CMD_F_PROXY,
	.exec = cmd_deregister_exec,
};

static enum cmd_status
cmd_deregister_exec(struct cmd_ctx *ctx)
{
	return cmd_send_service(ctx, "deregister");
}
