/*
 * services (micro's "list services"): every registered service, its
 * versions and how many nodes serve it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "output.h"
#include "util.h"

static enum cmd_status	cmd_services_exec(struct cmd_ctx *);

const struct cmd_entry cmd_services_entry = {
	.name = "services",
	.alias = "list services",
	.usage = "",
	.minargs = 0,
	.maxargs = 0,
	.flags = CMD_F_PROXY,
	.exec = cmd_services_exec,
};

static const char *
cmd_services_str(const json_t *svc, const char *key)
{
	const char	*s = json_string_value(json_object_get(svc, key));

	return s != NULL ? s : "";
}

static int
cmd_services_cmp(const void *a, const void *b)
{
	const json_t	*x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int		 d;

	d = strcmp(cmd_services_str(x, "name"), cmd_services_str(y, "name"));
	if (d != 0)
		return d;
	return strcmp(cmd_services_str(x, "version"),
	    cmd_services_str(y, "version"));
}

/* One row per name, from the versions sorted next to each other. */
static void
cmd_services_rows(struct output_table *t, json_t **svcs, size_t n)
{
	const char	*name;
	char		*versions, *more;
	size_t		 i, j, nodes;

	for (i = 0; i < n; i = j) {
		name = cmd_services_str(svcs[i], "name");
		versions = xstrdup(cmd_services_str(svcs[i], "version"));
		nodes = json_array_size(json_object_get(svcs[i], "nodes"));
		for (j = i + 1; j < n && strcmp(name,
		    cmd_services_str(svcs[j], "name")) == 0; j++) {
			xasprintf(&more, "%s,%s", versions,
			    cmd_services_str(svcs[j], "version"));
			free(versions);
			versions = more;
			nodes += json_array_size(json_object_get(svcs[j],
			    "nodes"));
		}
		output_table_cell(t, "%s", name);
		output_table_cell(t, "%s", *versions != '\0' ? versions : "-");
		output_table_cell(t, "%zu", nodes);
		free(versions);
	}
}

static enum cmd_status
cmd_services_exec(struct cmd_ctx *ctx)
{
	static const char *const columns[] = { "NAME", "VERSIONS", "NODES" };
	struct output_table	*t;
	enum cmd_status		 rv;
	json_t			*list, **svcs;
	size_t			 i, n;

	if ((list = cmd_services(ctx, NULL)) == NULL)
		return CMD_ERROR;
	if (ctx->opts->json) {
		rv = output_json_value(list);
		json_decref(list);
		return rv;
	}
	n = json_array_size(list);
	svcs = xcalloc(n, sizeof(*svcs));
	for (i = 0; i < n; i++)
		svcs[i] = json_array_get(list, i);
	qsort(svcs, n, sizeof(*svcs), cmd_services_cmp);
	t = output_table_new(nitems(columns), columns);
	cmd_services_rows(t, svcs, n);
	output_table_print(t);
	free(svcs);
	json_decref(list);
	return CMD_OK;
}
