/*
 * The list pages, rendered on the server so they read without JavaScript:
 * services, workers and web apps. Regions marked data-live are refreshed
 * by app.js when the /events feed says they changed.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "http.h"
#include "microd/conf.h"
#include "rpc/route.h"
#include "util.h"
#include "web/html.h"
#include "web/model.h"
#include "web/web.h"
#include "workers/worker-http.h"
#include "workers/worker.h"

static void
pages_versions(struct evbuffer *out, const struct web_service *s)
{
	size_t	 i;

	for (i = 0; i < s->nversions; i++) {
		if (i > 0)
			evbuffer_add(out, ", ", 2);
		html_text(out, s->versions[i][0] != '\0' ? s->versions[i] :
		    "(none)");
	}
}

static void
pages_service_row(struct evbuffer *out, const struct web_service *s)
{
	evbuffer_add_printf(out, "<tr data-name=\"");
	html_text(out, s->name);
	evbuffer_add_printf(out, "\"><th scope=\"row\">"
	    "<a href=\"/registry?service=");
	html_url(out, s->name);
	evbuffer_add_printf(out, "\">");
	html_text(out, s->name);
	evbuffer_add_printf(out, "</a></th><td>");
	pages_versions(out, s);
	evbuffer_add_printf(out, "</td><td class=\"num\">%zu</td></tr>\n",
	    s->nnodes);
}

static void
pages_filter_form(struct evbuffer *out, const char *q)
{
	evbuffer_add_printf(out, "<form class=\"filter\" role=\"search\" "
	    "method=\"get\" action=\"/registry\">\n<label for=\"q\">"
	    "Filter services</label>\n<input id=\"q\" name=\"q\" "
	    "type=\"search\" autocomplete=\"off\" data-filter=\"services\" "
	    "value=\"");
	html_text(out, q != NULL ? q : "");
	evbuffer_add_printf(out, "\">\n<button type=\"submit\">Filter"
	    "</button>\n</form>\n");
}

void
web_pages_services(struct worker *w, struct http_request *req)
{
	struct web_services	 ss;
	struct evbuffer		*out;
	const char		*filter;
	char			*q;
	size_t			 i, shown = 0;

	http_reply_data_headers(req);
	if (http_request_query_check(req, WEB_ID) == -1)
		return;
	out = evbuffer_new();
	q = http_request_query_param(req, "q");
	/* As app.js filters while typing: trimmed, ASCII case. */
	filter = q != NULL ? util_trim(q) : NULL;
	web_model_services(w, NULL, &ss);
	html_page_begin(out, "services", "Services");
	evbuffer_add_printf(out, "<h1>Services</h1>\n");
	pages_filter_form(out, filter);
	evbuffer_add_printf(out, "<div class=\"scroll\" id=\"services-region\""
	    " data-live=\"services\">\n<table id=\"services\">\n<caption>"
	    "Registered services</caption>\n<thead><tr><th scope=\"col\">"
	    "Name</th><th scope=\"col\">Versions</th><th scope=\"col\" "
	    "class=\"num\">Nodes</th></tr></thead>\n<tbody>\n");
	for (i = 0; i < ss.n; i++) {
		/* Enter must not change what app.js showed while typing. */
		if (filter != NULL && !util_ascii_contains(ss.v[i].name, filter))
			continue;
		pages_service_row(out, &ss.v[i]);
		shown++;
	}
	evbuffer_add_printf(out, "</tbody>\n</table>\n<p class=\"count\">"
	    "%zu of %zu services</p>\n</div>\n", shown, ss.n);
	html_page_end(out);
	html_reply(req, 200, out);
	evbuffer_free(out);
	web_model_services_free(&ss);
	free(q);
}

static void
pages_worker_row(struct evbuffer *out, const struct web_slot *s)
{
	const struct micro_counters	*c = &s->counters;

	evbuffer_add_printf(out, "<tr data-key=\"%u:%d\"><th scope=\"row\">"
	    "%s</th><td class=\"num\">%u</td><td class=\"num\">%d</td>"
	    "<td>%s</td><td class=\"num\">%u</td><td class=\"num\">%u</td>"
	    "<td class=\"num\" data-field=\"requests\">%llu</td>"
	    "<td class=\"num\" data-field=\"rate\">&ndash;</td>"
	    "<td class=\"num\" data-field=\"errors\">%llu</td>"
	    "<td class=\"num\" data-field=\"connections\">%llu</td></tr>\n",
	    s->index, (int)s->info.pid, web_model_role(s), s->info.id,
	    (int)s->info.pid, web_model_state(s), s->info.generation,
	    s->info.restarts, (unsigned long long)c->requests,
	    (unsigned long long)c->errors,
	    (unsigned long long)c->connections);
}

void
web_pages_workers(struct worker *w, struct http_request *req)
{
	struct web_slots	 ws;
	struct evbuffer		*out = evbuffer_new();
	size_t			 i;

	web_model_slots(w, &ws);
	html_page_begin(out, "workers", "Workers");
	evbuffer_add_printf(out, "<h1>Workers</h1>\n<div class=\"scroll\" "
	    "id=\"workers-region\" data-live=\"workers\">\n<table id=\"workers\">"
	    "\n<caption>Processes of this microd</caption>\n<thead><tr>"
	    "<th scope=\"col\">Role</th><th scope=\"col\" class=\"num\">ID</th>"
	    "<th scope=\"col\" class=\"num\">PID</th><th scope=\"col\">State"
	    "</th><th scope=\"col\" class=\"num\">Generation</th>"
	    "<th scope=\"col\" class=\"num\">Restarts</th>"
	    "<th scope=\"col\" class=\"num\">Requests</th>"
	    "<th scope=\"col\" class=\"num\">Req/s</th>"
	    "<th scope=\"col\" class=\"num\">Errors</th>"
	    "<th scope=\"col\" class=\"num\">Connections</th></tr></thead>\n"
	    "<tbody>\n");
	for (i = 0; i < ws.n; i++)
		pages_worker_row(out, &ws.v[i]);
	evbuffer_add_printf(out, "</tbody>\n</table>\n</div>\n");
	html_page_end(out);
	html_reply(req, 200, out);
	evbuffer_free(out);
	web_model_slots_free(&ws);
}

/*
 * Is /<short name>/ proxied? Not if the proxy refuses the name
 * (rpc/route.h) nor if the dashboard owns the path (/assets/...).
 */
static int
pages_app_reachable(struct worker *w, const char *short_name)
{
	char	*path;
	int	 owned;

	if (!route_valid_proxy_name(short_name, strlen(short_name)))
		return 0;
	xasprintf(&path, "/%s/", short_name);
	owned = worker_http_owns(w->role->routes, path);
	free(path);
	return !owned;
}

/*
 * An app is reached through the proxy at /<name without namespace>/; a
 * name the proxy does not serve is listed, not linked.
 */
static void
pages_app_item(struct worker *w, struct evbuffer *out,
    const struct web_service *s, size_t nslen)
{
	const char	*short_name = s->name + nslen;
	int		 reachable;

	if (*short_name == '\0')
		return;
	reachable = pages_app_reachable(w, short_name);
	evbuffer_add_printf(out, "<li>");
	if (reachable) {
		evbuffer_add_printf(out, "<a href=\"/");
		html_url(out, short_name);
		evbuffer_add_printf(out, "/\">");
	}
	html_text(out, short_name);
	evbuffer_add_printf(out, "%s <span class=\"meta\">", reachable ?
	    "</a>" : " (not served: a proxied name is letters, digits and "
	    "inner dashes, not a dashboard path)");
	html_text(out, s->name);
	evbuffer_add_printf(out, " · %zu node%s · ", s->nnodes,
	    s->nnodes == 1 ? "" : "s");
	pages_versions(out, s);
	evbuffer_add_printf(out, "</span></li>\n");
}

void
web_pages_apps(struct worker *w, struct http_request *req)
{
	const char		*ns = w->conf->roles[ROLE_WEB].namespace;
	struct web_services	 ss;
	struct evbuffer		*out = evbuffer_new();
	char			*prefix;
	size_t			 i;

	xasprintf(&prefix, "%s.", ns);
	web_model_services(w, prefix, &ss);
	html_page_begin(out, "apps", "Web apps");
	evbuffer_add_printf(out, "<h1>Web apps</h1>\n<p>Services named "
	    "<code>");
	html_text(out, prefix);
	evbuffer_add_printf(out, "*</code>, served through this "
	    "dashboard.</p>\n<div id=\"apps-region\" data-live=\"services\">\n");
	if (ss.n == 0)
		evbuffer_add_printf(out, "<p>No web apps registered.</p>\n");
	else
		evbuffer_add_printf(out, "<ul class=\"apps\" id=\"apps\">\n");
	for (i = 0; i < ss.n; i++)
		pages_app_item(w, out, &ss.v[i], strlen(prefix));
	if (ss.n > 0)
		evbuffer_add_printf(out, "</ul>\n");
	evbuffer_add_printf(out, "</div>\n");
	html_page_end(out);
	html_reply(req, 200, out);
	evbuffer_free(out);
	web_model_services_free(&ss);
	free(prefix);
}

void
web_not_found(struct http_request *req, const char *what)
{
	struct evbuffer	*out = evbuffer_new();

	html_page_begin(out, "", "Not found");
	evbuffer_add_printf(out, "<h1>Not found</h1>\n<p>");
	html_text(out, what);
	evbuffer_add_printf(out, "</p>\n");
	html_page_end(out);
	html_reply(req, 404, out);
	evbuffer_free(out);
}
