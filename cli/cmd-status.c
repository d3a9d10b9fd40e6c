/*
 * status: what the master knows about itself, its listeners, workers and
 * registry backend.
 */
#include "config.h"

#include <stdlib.h>

#include "cmd.h"
#include "output.h"
#include "util.h"

static enum cmd_status	cmd_status_exec(struct cmd_ctx *);

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.usage = "",
	.minargs = 0,
	.maxargs = 0,
	.exec = cmd_status_exec,
};

/* Append ", role addr" (or " word") pieces of microd's to a line. */
static void
cmd_status_append(char **line, const char *sep, const msgpack_object *a,
    const msgpack_object *b)
{
	char	*more;

	xasprintf(&more, "%s%s%.*s%s%.*s", *line, sep, (int)a->via.str.size,
	    a->via.str.ptr, b != NULL ? " " : "",
	    b != NULL ? (int)b->via.str.size : 0, b != NULL ? b->via.str.ptr :
	    "");
	free(*line);
	*line = more;
}

static void
cmd_status_listeners(const msgpack_object *map)
{
	const msgpack_object_kv	*kv;
	char			*line;
	uint32_t		 i;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP ||
	    map->via.map.size == 0) {
		output_line("listeners:  none");
		return;
	}
	line = xstrdup("listeners:  ");
	for (i = 0; i < map->via.map.size; i++) {
		kv = &map->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR ||
		    kv->val.type != MSGPACK_OBJECT_STR)
			continue;
		cmd_status_append(&line, i > 0 ? ", " : "", &kv->key, &kv->val);
	}
	output_line("%s", line);
	free(line);
}

/* The "crashloop" array of "role/id" strings, when not empty. */
static void
cmd_status_crashloop(const msgpack_object *list)
{
	const msgpack_object	*o;
	char			*line;
	uint32_t		 i;

	if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY ||
	    list->via.array.size == 0)
		return;
	line = xstrdup("crash loop:");
	for (i = 0; i < list->via.array.size; i++) {
		o = &list->via.array.ptr[i];
		if (o->type == MSGPACK_OBJECT_STR)
			cmd_status_append(&line, " ", o, NULL);
	}
	output_line("%s", line);
	free(line);
}

/*
 * Changes a full shm segment refused, counted since the start, and
 * whether it is full now (a microd without "full": as its count says).
 */
static void
cmd_status_full(const msgpack_object *reg)
{
	const msgpack_object	*full = ctl_map_get(reg, "full");
	int64_t			 refused = output_field_int(reg, "full_errors");
	int			 now = refused > 0;
	char			 n[64];

	if (full != NULL && full->type == MSGPACK_OBJECT_BOOLEAN)
		now = full->via.boolean;
	output_field(reg, "full_errors", n, sizeof(n));
	if (now)
		output_line("registry full: %s changes refused, the shm segment "
		    "is full ([microd] shm_size)", n);
	else if (refused > 0)
		output_line("registry was full: %s changes refused since the "
		    "start; the shm segment has room now", n);
}

static void
cmd_status_registry(const msgpack_object *reg)
{
	const msgpack_object	*connected;
	char			 b1[64], b2[64], b3[64], b4[64];
	char			 err[1024];

	connected = ctl_map_get(reg, "connected");
	output_line("registry:   %s, %s, revision %s, %s services, %s nodes",
	    output_field(reg, "backend", b1, sizeof(b1)),
	    connected != NULL && connected->type == MSGPACK_OBJECT_BOOLEAN &&
	    connected->via.boolean ? "connected" : "disconnected",
	    output_field(reg, "revision", b2, sizeof(b2)),
	    output_field(reg, "services", b3, sizeof(b3)),
	    output_field(reg, "nodes", b4, sizeof(b4)));
	output_field(reg, "last_error", err, sizeof(err));
	if (*err != '-')
		output_line("registry error: %s", err);
	cmd_status_full(reg);
}

static void
cmd_status_print(const msgpack_object *st)
{
	char	 b1[64], b2[64], b3[64], b4[64], path[1024];

	output_line("microd %s, pid %s, up %s (since %s)",
	    output_field(st, "version", b1, sizeof(b1)),
	    output_field(st, "pid", b2, sizeof(b2)),
	    output_duration(output_field_int(st, "uptime"), b3, sizeof(b3)),
	    output_time(output_field_int(st, "started"), b4, sizeof(b4)));
	output_line("config:     %s (generation %s)",
	    output_field(st, "config", path, sizeof(path)),
	    output_field(st, "generation", b1, sizeof(b1)));
	cmd_status_listeners(ctl_map_get(st, "listeners"));
	output_line("workers:    %s", output_field(st, "workers", b1,
	    sizeof(b1)));
	cmd_status_crashloop(ctl_map_get(st, "crashloop"));
	cmd_status_registry(ctl_map_get(st, "registry"));
	output_field(st, "reload_error", path, sizeof(path));
	if (*path != '-')
		output_line("last reload failed: %s", path);
}

static enum cmd_status
cmd_status_exec(struct cmd_ctx *ctx)
{
	const msgpack_object	*data;

	if (cmd_simple(ctx, "status") == -1)
		return CMD_ERROR;
	data = ctx->reply.data;
	if (ctx->opts->json)
		return output_json(data);
	if (data == NULL || data->type != MSGPACK_OBJECT_MAP)
		return cmd_error("microd sent no status");
	cmd_status_print(data);
	return CMD_OK;
}
