/*
 * service NAME (micro's "get service NAME"): for each version of a
 * service, its nodes and its endpoints.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "output.h"
#include "util.h"

static enum cmd_status	cmd_service_exec(struct cmd_ctx *);

const struct cmd_entry cmd_service_entry = {
	.name = "service",
	.alias = "get service",
	.usage = "NAME",
	.minargs = 1,
	.maxargs = 1,
	.flags = CMD_F_PROXY,
	.exec = cmd_service_exec,
};

static const char *
cmd_service_str(const json_t *obj, const char *key)
{
	const char	*s = json_string_value(json_object_get(obj, key));

	return s != NULL && *s != '\0' ? s : "-";
}

/* "k=v,k=v" of a metadata object; "-" when empty. */
static char *
cmd_service_metadata(const json_t *md)
{
	const char	*key;
	json_t		*v;
	char		*s = NULL, *more;

	json_object_foreach((json_t *)md, key, v) {
		xasprintf(&more, "%s%s%s=%s", s != NULL ? s : "",
		    s != NULL ? "," : "", key,
		    json_is_string(v) ? json_string_value(v) : "?");
		free(s);
		s = more;
	}
	return s != NULL ? s : xstrdup("-");
}

/* A Value's type name ("Request"), from "type" or else "name". */
static const char *
cmd_service_type(const json_t *value)
{
	const char	*s = json_string_value(json_object_get(value, "type"));

	return s != NULL && *s != '\0' ? s : cmd_service_str(value, "name");
}

static void
cmd_service_nodes(const json_t *nodes)
{
	static const char *const columns[] = { "ID", "ADDRESS", "METADATA" };
	struct output_table	*t;
	const json_t		*node;
	size_t			 i;
	char			*md;

	/* The registry folds go-micro 2016's "port" into "address". */
	t = output_table_new(nitems(columns), columns);
	json_array_foreach(nodes, i, node) {
		md = cmd_service_metadata(json_object_get(node, "metadata"));
		output_table_cell(t, "%s", cmd_service_str(node, "id"));
		output_table_cell(t, "%s", cmd_service_str(node, "address"));
		output_table_cell(t, "%s", md);
		free(md);
	}
	output_table_print(t);
}

static void
cmd_service_endpoints(const json_t *endpoints)
{
	static const char *const columns[] = { "ENDPOINT", "REQUEST",
	    "RESPONSE" };
	struct output_table	*t;
	const json_t		*ep;
	size_t			 i;

	if (json_array_size(endpoints) == 0)
		return;
	t = output_table_new(nitems(columns), columns);
	json_array_foreach(endpoints, i, ep) {
		output_table_cell(t, "%s", cmd_service_str(ep, "name"));
		output_table_cell(t, "%s",
		    cmd_service_type(json_object_get(ep, "request")));
		output_table_cell(t, "%s",
		    cmd_service_type(json_object_get(ep, "response")));
	}
	printf("\n");
	output_table_print(t);
}

static void
cmd_service_print(const json_t *svc)
{
	const json_t	*md = json_object_get(svc, "metadata");
	char		*s;

	output_line("service %s version %s", cmd_service_str(svc, "name"),
	    cmd_service_str(svc, "version"));
	if (json_object_size(md) > 0) {
		s = cmd_service_metadata(md);
		output_line("metadata %s", s);
		free(s);
	}
	printf("\n");
	cmd_service_nodes(json_object_get(svc, "nodes"));
	cmd_service_endpoints(json_object_get(svc, "endpoints"));
}

static enum cmd_status
cmd_service_exec(struct cmd_ctx *ctx)
{
	enum cmd_status	 rv = CMD_OK;
	const json_t	*svc;
	json_t		*list;
	size_t		 i;

	if ((list = cmd_services(ctx, ctx->argv[0])) == NULL)
		return CMD_ERROR;
	if (ctx->opts->json)
		rv = output_json_value(list);
	else {
		json_array_foreach(list, i, svc) {
			if (i > 0)
				printf("\n");
			cmd_service_print(svc);
		}
	}
	json_decref(list);
	return rv;
}
