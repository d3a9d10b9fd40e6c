/*
 * restart ROLE[/ID]: replace the workers of a role, or one of them.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "output.h"
#include "util.h"

static enum cmd_status	cmd_restart_exec(struct cmd_ctx *);

const struct cmd_entry cmd_restart_entry = {
	.name = "restart",
	.usage = "ROLE[/ID]",
	.minargs = 1,
	.maxargs = 1,
	.exec = cmd_restart_exec,
};

static int
cmd_restart_request(struct cmd_ctx *ctx, const char *role, long long id)
{
	if (cmd_begin(ctx, "restart", id == -1 ? 1 : 2) == -1)
		return -1;
	ctl_pack_kv_str(&ctx->frame.pk, "role", role);
	if (id != -1)
		ctl_pack_kv_uint(&ctx->frame.pk, "id", (uint64_t)id);
	return cmd_call(ctx);
}

static enum cmd_status
cmd_restart_exec(struct cmd_ctx *ctx)
{
	char		*role;
	long long	 id;
	int		 rv;

	role = xstrdup(ctx->argv[0]);
	if (cmd_parse_worker(role, &id) == -1) {
		free(role);
		cmd_error("bad worker '%s' (want ROLE or ROLE/ID)",
		    ctx->argv[0]);
		return cmd_usage(ctx->entry);
	}
	rv = cmd_restart_request(ctx, role, id);
	free(role);
	if (rv == -1)
		return CMD_ERROR;
	if (ctx->opts->json)
		return output_json(ctx->reply.data);
	printf("restarted %" PRId64 " worker(s)\n",
	    output_field_int(ctx->reply.data, "restarted"));
	return CMD_OK;
}
