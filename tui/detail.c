/*
 * The detail view of one service: per version, its nodes (id, address,
 * last seen, ejected, metadata) and its endpoints, as numbered lines so
 * the screen can scroll through them.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tui/format.h"
#include "termtext.h"
#include "tui/table.h"
#include "tui/top.h"
#include "util.h"

static const struct table_col detail_node_cols[] = {
	{ "NODE", 28, 0 },
	{ "ADDRESS", 21, 0 },
	{ "LAST SEEN", 9, 1 },
	{ "EJECTED", 7, 0 },
	{ "METADATA", 0, 0 },
};

static const struct table_col detail_endpoint_cols[] = {
	{ "ENDPOINT", 28, 0 },
	{ "REQUEST", 21, 0 },
	{ "RESPONSE", 0, 0 },
};

/* Walks the lines; the one numbered want is written to out. */
struct detail_walk {
	size_t		 line;
	size_t		 want;
	int		 width;
	char		*out;
	size_t		 len;
};

static void
detail_emit(struct detail_walk *w, const struct table_col *cols,
    size_t ncols, const char *const *cells)
{
	if (w->line++ != w->want)
		return;
	if (cols != NULL)
		table_line(cols, ncols, cells, w->width, w->out, w->len);
	else
		termtext_fit(cells[0], w->width, w->out, w->len);
}

static void
detail_text(struct detail_walk *w, const char *text)
{
	detail_emit(w, NULL, 0, &text);
}

/* "k=v,k=v" of a JSON object of strings. */
static void
detail_metadata(const json_t *md, char *buf, size_t len)
{
	const char	*key;
	json_t		*v;
	size_t		 at = 0;
	int		 n;

	snprintf(buf, len, "-");
	json_object_foreach((json_t *)md, key, v) {
		n = snprintf(buf + at, len - at, "%s%s=%s", at ? "," : "", key,
		    json_is_string(v) ? json_string_value(v) : "?");
		if (n < 0 || (size_t)n >= len - at)
			break;
		at += (size_t)n;
	}
}

static const char *
detail_str(const json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return s != NULL && *s != '\0' ? s : "-";
}

/* Seconds since a wall time in ms; -1 (shown "-") when never. */
static int64_t
detail_ago(const json_t *ms)
{
	int64_t	 ago;

	if (!json_is_integer(ms))
		return -1;
	ago = (int64_t)util_wall_ms() - (int64_t)json_integer_value(ms);
	return ago > 0 ? ago / 1000 : 0;	/* another clock a bit ahead */
}

static void
detail_node(struct detail_walk *w, const json_t *node)
{
	char		 addr[128], seen[FMT_LEN], md[256];
	const char	*cells[5];
	json_t		*port = json_object_get(node, "port"), *v;

	/* go-micro 2016 keeps the port apart; later versions use host:port. */
	if (json_integer_value(port) > 0)
		snprintf(addr, sizeof(addr), "%s:%lld",
		    detail_str(node, "address"),
		    (long long)json_integer_value(port));
	else
		snprintf(addr, sizeof(addr), "%s", detail_str(node, "address"));
	fmt_duration(detail_ago(json_object_get(node, "last_seen")), seen,
	    sizeof(seen));
	v = json_object_get(node, "ejected");
	detail_metadata(json_object_get(node, "metadata"), md, sizeof(md));
	cells[0] = detail_str(node, "id");
	cells[1] = addr;
	cells[2] = seen;
	cells[3] = json_is_boolean(v) ? (json_is_true(v) ? "yes" : "no") : "-";
	cells[4] = md;
	detail_emit(w, detail_node_cols, nitems(detail_node_cols), cells);
}

/* An endpoint's request/response is a Value {"name","type",...}. */
static const char *
detail_value(const json_t *v)
{
	const char	*s = detail_str(v, "type");

	return strcmp(s, "-") != 0 ? s : detail_str(v, "name");
}

static void
detail_endpoint(struct detail_walk *w, const json_t *ep)
{
	const char	*cells[3];

	cells[0] = detail_str(ep, "name");
	cells[1] = detail_value(json_object_get(ep, "request"));
	cells[2] = detail_value(json_object_get(ep, "response"));
	detail_emit(w, detail_endpoint_cols, nitems(detail_endpoint_cols),
	    cells);
}

static void
detail_heading(struct detail_walk *w, const struct table_col *cols,
    size_t ncols)
{
	if (w->line++ == w->want)
		table_heading(cols, ncols, w->width, w->out, w->len);
}

static void
detail_version(struct detail_walk *w, const json_t *svc)
{
	const json_t	*nodes = json_object_get(svc, "nodes");
	const json_t	*eps = json_object_get(svc, "endpoints");
	char		 line[512], md[256];
	size_t		 i;

	detail_metadata(json_object_get(svc, "metadata"), md, sizeof(md));
	snprintf(line, sizeof(line), "Version %s  (%zu nodes, %zu endpoints)"
	    "  metadata: %s", detail_str(svc, "version"),
	    json_array_size(nodes), json_array_size(eps), md);
	detail_text(w, line);
	detail_heading(w, detail_node_cols, nitems(detail_node_cols));
	for (i = 0; i < json_array_size(nodes); i++)
		detail_node(w, json_array_get(nodes, i));
	if (json_array_size(eps) > 0) {
		detail_heading(w, detail_endpoint_cols,
		    nitems(detail_endpoint_cols));
		for (i = 0; i < json_array_size(eps); i++)
			detail_endpoint(w, json_array_get(eps, i));
	}
	detail_text(w, "");
}

static size_t
detail_walk(const struct top *t, struct detail_walk *w)
{
	size_t	 i;

	if (t->detail == NULL) {
		detail_text(w, t->detail_pending ? "  loading..." :
		    "  not registered");
		return w->line;
	}
	for (i = 0; i < json_array_size(t->detail); i++)
		detail_version(w, json_array_get(t->detail, i));
	return w->line;
}

size_t
detail_count(const struct top *t)
{
	char			 buf[1];
	struct detail_walk	 w = { 0, (size_t)-1, 0, buf, sizeof(buf) };

	return detail_walk(t, &w);
}

void
detail_line(const struct top *t, size_t n, int width, char *out, size_t len)
{
	struct detail_walk	 w = { 0, n, width, out, len };

	out[0] = '\0';
	detail_walk(t, &w);
}
