/*
 * workers: one line per worker process of every role.
 */
#include "config.h"

#include "cmd.h"
#include "output.h"
#include "util.h"

static enum cmd_status	cmd_workers_exec(struct cmd_ctx *);

const struct cmd_entry cmd_workers_entry = {
	.name = "workers",
	.usage = "",
	.minargs = 0,
	.maxargs = 0,
	.exec = cmd_workers_exec,
};

static const char *const cmd_workers_columns[] = {
	"ROLE", "ID", "PID", "STATE", "RESTARTS", "STARTED", "REQUESTS",
	"ERRORS",
};

static void
cmd_workers_row(struct output_table *t, const msgpack_object *w)
{
	static const char *const keys[] = { "role", "id", "pid", "state",
	    "restarts" };
	char	 buf[128];
	size_t	 i;

	for (i = 0; i < nitems(keys); i++)
		output_table_cell(t, "%s", output_field(w, keys[i], buf,
		    sizeof(buf)));
	output_table_cell(t, "%s", output_time(output_field_int(w, "started"),
	    buf, sizeof(buf)));
	output_table_cell(t, "%s", output_field(w, "requests", buf,
	    sizeof(buf)));
	output_table_cell(t, "%s", output_field(w, "errors", buf,
	    sizeof(buf)));
}

static enum cmd_status
cmd_workers_exec(struct cmd_ctx *ctx)
{
	const msgpack_object	*data;
	struct output_table	*t;
	uint32_t		 i;

	if (cmd_simple(ctx, "workers") == -1)
		return CMD_ERROR;
	data = ctx->reply.data;
	if (ctx->opts->json)
		return output_json(data);
	if (data == NULL || data->type != MSGPACK_OBJECT_ARRAY)
		return cmd_error("microd sent no worker list");
	t = output_table_new(nitems(cmd_workers_columns), cmd_workers_columns);
	for (i = 0; i < data->via.array.size; i++)
		cmd_workers_row(t, &data->via.array.ptr[i]);
	output_table_print(t);
	return CMD_OK;
}
