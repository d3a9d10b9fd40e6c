/*
 * version: this microctl's version and, when it answers, microd's.
 */
#include "config.h"

#include <stdio.h>

#include <jansson.h>

#include "cmd.h"
#include "mpjson.h"
#include "output.h"

static enum cmd_status	cmd_version_exec(struct cmd_ctx *);

const struct cmd_entry cmd_version_entry = {
	.name = "version",
	.usage = "",
	.minargs = 0,
	.maxargs = 0,
	.exec = cmd_version_exec,
};

static enum cmd_status
cmd_version_json(const msgpack_object *daemon)
{
	enum cmd_status	 rv;
	const char	*cause;
	json_t		*out, *d = NULL;

	if (daemon != NULL && (d = mpjson_from_msgpack(daemon, &cause)) ==
	    NULL)
		return cmd_error("microd sent data with no JSON form: %s",
		    cause);
	out = json_pack("{s:s, s:i, s:o?}", "version", PACKAGE_VERSION,
	    "protocol", CTL_PROTO_VERSION, "microd", d);
	rv = output_json_value(out);
	json_decref(out);
	return rv;
}

static enum cmd_status
cmd_version_exec(struct cmd_ctx *ctx)
{
	const msgpack_object	*data;
	char			 v[64], p[16];
	int			 reached;

	/* The client's version is worth printing even if microd is down. */
	reached = cmd_simple(ctx, "version") == 0;
	data = reached ? ctx->reply.data : NULL;
	if (ctx->opts->json) {
		if (cmd_version_json(data) != CMD_OK)
			return CMD_ERROR;
		return reached ? CMD_OK : CMD_ERROR;
	}
	printf("microctl %s (protocol %d)\n", PACKAGE_VERSION,
	    CTL_PROTO_VERSION);
	if (!reached)
		return CMD_ERROR;
	output_line("microd %s (protocol %s)",
	    output_field(data, "version", v, sizeof(v)),
	    output_field(data, "protocol", p, sizeof(p)));
	return CMD_OK;
}
