/*
 * register FILE|- [--ttl DURATION]: add a Service (go-micro's JSON form)
 * to the registry; without --ttl microd's default TTL applies.
 */
#include "config.h"

#include "cmd.h"

static enum cmd_status	cmd_register_exec(struct cmd_ctx *);

const struct cmd_entry cmd_register_entry = {
	.name = "register",
	.usage = "[--ttl DURATION] FILE|-",
	.minargs = 1,
	.maxargs = 1,
	.flags = CMD_F_PROXY | CMD_F_TTL,
	.exec = cmd_register_exec,
};

static enum cmd_status
cmd_register_exec(struct cmd_ctx *ctx)
{
	return cmd_send_service(ctx, "register");
}
