/*
 * health SERVICE: call Debug.Health on every node of every version of a
 * service, each by its address through /rpc (as go-micro's "micro health"
 * does), and say which answered "ok". Exits 1 unless all did.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "cmd-http.h"
#include "log.h"
#include "output.h"
#include "util.h"

static enum cmd_status	cmd_health_exec(struct cmd_ctx *);

const struct cmd_entry cmd_health_entry = {
	.name = "health",
	.usage = "SERVICE",
	.minargs = 1,
	.maxargs = 1,
	.flags = CMD_F_PROXY | CMD_F_HTTP,
	.exec = cmd_health_exec,
};

/* Why a node's answer is not healthy, allocated; NULL when it is. */
static char *
cmd_health_verdict(const struct cmd_http_reply *reply)
{
	json_t		*rsp;
	const char	*status;
	char		*why = NULL;
	long		 code;

	if (reply->status < 200 || reply->status > 299)
		return cmd_http_error(reply, &code);
	rsp = json_loadb(reply->body, reply->len, 0, NULL);
	status = json_string_value(json_object_get(rsp, "status"));
	if (status == NULL)
		why = xstrdup("answer without a status");
	else if (strcmp(status, "ok") != 0)
		xasprintf(&why, "status %s", status);
	json_decref(rsp);
	return why;
}

/* {"id","address","ok","error"} for one node; NULL if /rpc is not there. */
static json_t *
cmd_health_node(struct cmd_ctx *ctx, const char *rpc, const char *service,
    const json_t *node)
{
	struct cmd_http_reply	 reply;
	const char		*addr, *id;
	json_t			*request, *out;
	char			*why;
	int			 rv;

	id = json_string_value(json_object_get(node, "id"));
	addr = json_string_value(json_object_get(node, "address"));
	if (id == NULL || addr == NULL) {
		cmd_error("bad service list: a node without id or address");
		return NULL;
	}
	request = json_object();
	rv = cmd_rpc(ctx, rpc, service, "Debug.Health", request, addr,
	    &reply);
	json_decref(request);
	if (rv == -1)
		return NULL;
	why = cmd_health_verdict(&reply);
	cmd_http_reply_free(&reply);
	out = json_pack("{s:s, s:s, s:b, s:s?}", "id", id, "address", addr,
	    "ok", why == NULL, "error", why);
	free(why);
	if (out == NULL)
		fatalx("json_pack failed");
	return out;
}

/* Every node of every version of the service, checked. */
static json_t *
cmd_health_check(struct cmd_ctx *ctx, const char *rpc, const char *service,
    const json_t *list)
{
	const json_t	*svc, *node;
	json_t		*out, *one;
	size_t		 i, j;

	out = json_array();
	json_array_foreach(list, i, svc) {
		json_array_foreach(json_object_get(svc, "nodes"), j, node) {
			if ((one = cmd_health_node(ctx, rpc, service, node)) ==
			    NULL) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, one);
		}
	}
	return out;
}

static void
cmd_health_print(const json_t *results)
{
	static const char *const columns[] = { "ID", "ADDRESS", "STATUS" };
	struct output_table	*t;
	const json_t		*r;
	const char		*error;
	size_t			 i;

	t = output_table_new(nitems(columns), columns);
	json_array_foreach(results, i, r) {
		error = json_string_value(json_object_get(r, "error"));
		output_table_cell(t, "%s",
		    json_string_value(json_object_get(r, "id")));
		output_table_cell(t, "%s",
		    json_string_value(json_object_get(r, "address")));
		output_table_cell(t, "%s", error != NULL ? error : "ok");
	}
	output_table_print(t);
}

static enum cmd_status
cmd_health_exec(struct cmd_ctx *ctx)
{
	enum cmd_status	 rv = CMD_OK;
	const json_t	*r;
	json_t		*list, *results;
	char		 rpc[256];
	size_t		 i;

	if ((list = cmd_services(ctx, ctx->argv[0])) == NULL)
		return CMD_ERROR;
	if (cmd_rpc_address(ctx, rpc, sizeof(rpc)) == -1 ||
	    (results = cmd_health_check(ctx, rpc, ctx->argv[0], list)) ==
	    NULL) {
		json_decref(list);
		return CMD_ERROR;
	}
	json_decref(list);
	if (ctx->opts->json)
		rv = output_json_value(results);
	else
		cmd_health_print(results);
	json_array_foreach(results, i, r) {
		if (!json_is_true(json_object_get(r, "ok")))
			rv = CMD_ERROR;
	}
	json_decref(results);
	return rv;
}
