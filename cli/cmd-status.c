/*
 * status: what the master knows about itself, its listeners, workers and
 * registry backend.
 */
#include "config.h"

#include <stdio.h>

#include "cmd.h"
#include "output.h"

static enum cmd_status	cmd_status_exec(struct cmd_ctx *);

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.usage = "",
	.minargs = 0,
	.maxargs = 0,
	.exec = cmd_status_exec,
};

static void
cmd_status_listeners(const msgpack_object *map)
{
	const msgpack_object_kv	*kv;
	uint32_t		 i;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP ||
	    map->via.map.size == 0) {
		printf("listeners:  none\n");
		return;
	}
	printf("listeners:  ");
	for (i = 0; i < map->via.map.size; i++) {
		kv = &map->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR ||
		    kv->val.type != MSGPACK_OBJECT_STR)
			continue;
		printf("%s%.*s %.*s", i > 0 ? ", " : "",
		    (int)kv->key.via.str.size, kv->key.via.str.ptr,
		    (int)kv->val.via.str.size, kv->val.via.str.ptr);
	}
	printf("\n");
}

/* The "crashloop" array of "role/id" strings, when not empty. */
static void
cmd_status_crashloop(const msgpack_object *list)
{
	const msgpack_object	*o;
	uint32_t		 i;

	if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY ||
	    list->via.array.size == 0)
		return;
	printf("crash loop:");
	for (i = 0; i < list->via.array.size; i++) {
		o = &list->via.array.ptr[i];
		if (o->type == MSGPACK_OBJECT_STR)
			printf(" %.*s", (int)o->via.str.size, o->via.str.ptr);
	}
	printf("\n");
}

static void
cmd_status_registry(const msgpack_object *reg)
{
	const msgpack_object	*connected;
	char			 b1[64], b2[64], b3[64], b4[64];
	char			 err[1024];

	connected = ctl_map_get(reg, "connected");
	printf("registry:   %s, %s, revision %s, %s services, %s nodes\n",
	    output_field(reg, "backend", b1, sizeof(b1)),
	    connected != NULL && connected->type == MSGPACK_OBJECT_BOOLEAN &&
	    connected->via.boolean ? "connected" : "disconnected",
	    output_field(reg, "revision", b2, sizeof(b2)),
	    output_field(reg, "services", b3, sizeof(b3)),
	    output_field(reg, "nodes", b4, sizeof(b4)));
	output_field(reg, "last_error", err, sizeof(err));
	if (*err != '-')
		printf("registry error: %s\n", err);
}

static void
cmd_status_print(const msgpack_object *st)
{
	char	 b1[64], b2[64], b3[64], b4[64], path[1024];

	printf("microd %s, pid %s, up %s (since %s)\n",
	    output_field(st, "version", b1, sizeof(b1)),
	    output_field(st, "pid", b2, sizeof(b2)),
	    output_duration(output_field_int(st, "uptime"), b3, sizeof(b3)),
	    output_time(output_field_int(st, "started"), b4, sizeof(b4)));
	printf("config:     %s (generation %s)\n",
	    output_field(st, "config", path, sizeof(path)),
	    output_field(st, "generation", b1, sizeof(b1)));
	cmd_status_listeners(ctl_map_get(st, "listeners"));
	printf("workers:    %s\n", output_field(st, "workers", b1, sizeof(b1)));
	cmd_status_crashloop(ctl_map_get(st, "crashloop"));
	cmd_status_registry(ctl_map_get(st, "registry"));
	output_field(st, "reload_error", path, sizeof(path));
	if (*path != '-')
		printf("last reload failed: %s\n", path);
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
