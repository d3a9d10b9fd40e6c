/*
 * One service's page: every version with its metadata, nodes and
 * endpoints (request and response fields as nested lists). The record's
 * JSON is copied out of shm, then parsed with the shared Service model.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "http.h"
#include "lib/svc.h"
#include "log.h"
#include "shm/services-json.h"
#include "web/html.h"
#include "web/web.h"
#include "workers/worker.h"

/* A metadata object as "key = value" lines; "none" when empty. */
static void
service_metadata(struct evbuffer *out, const json_t *md)
{
	const char	*k;
	json_t		*v;

	if (md == NULL || json_object_size(md) == 0) {
		evbuffer_add_printf(out, "<span class=\"meta\">none</span>");
		return;
	}
	evbuffer_add_printf(out, "<dl class=\"md\">");
	json_object_foreach((json_t *)md, k, v) {
		evbuffer_add_printf(out, "<dt>");
		html_text(out, k);
		evbuffer_add_printf(out, "</dt><dd>");
		html_text(out, json_is_string(v) ? json_string_value(v) : "");
		evbuffer_add_printf(out, "</dd>");
	}
	evbuffer_add_printf(out, "</dl>");
}

static const char *
service_str(const json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

/* go-micro's registry.Value: {name, type, values: [Value...]}. */
static void
service_fields(struct evbuffer *out, const json_t *value, int depth)
{
	const json_t	*values = json_object_get(value, "values");
	size_t		 i;

	if (!json_is_array(values) || json_array_size(values) == 0 ||
	    depth > 16)
		return;
	evbuffer_add_printf(out, "<ul class=\"fields\">");
	for (i = 0; i < json_array_size(values); i++) {
		value = json_array_get(values, i);
		evbuffer_add_printf(out, "<li><code>");
		html_text(out, service_str(value, "name"));
		evbuffer_add_printf(out, "</code> <span class=\"type\">");
		html_text(out, service_str(value, "type"));
		evbuffer_add_printf(out, "</span>");
		service_fields(out, value, depth + 1);
		evbuffer_add_printf(out, "</li>");
	}
	evbuffer_add_printf(out, "</ul>");
}

static void
service_message(struct evbuffer *out, const char *label, const json_t *msg)
{
	evbuffer_add_printf(out, "<div class=\"msg\"><p>%s: ", label);
	if (!json_is_object(msg)) {
		evbuffer_add_printf(out, "<span class=\"meta\">none</span>"
		    "</p></div>");
		return;
	}
	evbuffer_add_printf(out, "<span class=\"type\">");
	html_text(out, service_str(msg, "type"));
	evbuffer_add_printf(out, "</span></p>");
	service_fields(out, msg, 0);
	evbuffer_add_printf(out, "</div>");
}

static void
service_endpoint(struct evbuffer *out, const struct svc *s, const json_t *ep)
{
	const char	*name = service_str(ep, "name");

	evbuffer_add_printf(out, "<li class=\"endpoint\"><h4>");
	html_text(out, name);
	evbuffer_add_printf(out, "</h4><p><a href=\"/call?service=");
	html_url(out, s->name);
	evbuffer_add_printf(out, "&amp;endpoint=");
	html_url(out, name);
	evbuffer_add_printf(out, "\">Call ");
	html_text(out, name);
	evbuffer_add_printf(out, "</a></p>");
	service_message(out, "Request", json_object_get(ep, "request"));
	service_message(out, "Response", json_object_get(ep, "response"));
	evbuffer_add_printf(out, "<div class=\"msg\"><p>Metadata:</p>");
	service_metadata(out, json_object_get(ep, "metadata"));
	evbuffer_add_printf(out, "</div></li>\n");
}

static void
service_nodes(struct evbuffer *out, const struct svc *s, size_t n)
{
	size_t	 i;

	evbuffer_add_printf(out, "<h3 id=\"nodes-%zu\">Nodes</h3>\n"
	    "<div class=\"scroll\"><table aria-labelledby=\"nodes-%zu\">"
	    "<thead><tr><th scope=\"col\">ID</th><th scope=\"col\">Address"
	    "</th><th scope=\"col\">Metadata</th></tr></thead><tbody>\n",
	    n, n);
	for (i = 0; i < s->nnodes; i++) {
		evbuffer_add_printf(out, "<tr><th scope=\"row\">");
		html_text(out, s->nodes[i].id);
		evbuffer_add_printf(out, "</th><td>");
		html_text(out, s->nodes[i].address);
		evbuffer_add_printf(out, "</td><td>");
		service_metadata(out, s->nodes[i].metadata);
		evbuffer_add_printf(out, "</td></tr>\n");
	}
	evbuffer_add_printf(out, "</tbody></table></div>\n");
}

static void
service_version(struct evbuffer *out, const struct svc *s, size_t n)
{
	size_t	 i;

	evbuffer_add_printf(out, "<section aria-labelledby=\"v-%zu\">"
	    "<h2 id=\"v-%zu\">Version ", n, n);
	html_text(out, s->version[0] != '\0' ? s->version : "(none)");
	evbuffer_add_printf(out, "</h2>\n<h3>Metadata</h3>\n");
	service_metadata(out, s->metadata);
	service_nodes(out, s, n);
	evbuffer_add_printf(out, "<h3>Endpoints</h3>\n");
	if (json_array_size(s->endpoints) == 0)
		evbuffer_add_printf(out, "<p class=\"meta\">none</p>\n");
	else
		evbuffer_add_printf(out, "<ul class=\"endpoints\">\n");
	for (i = 0; i < json_array_size(s->endpoints); i++)
		service_endpoint(out, s, json_array_get(s->endpoints, i));
	if (json_array_size(s->endpoints) > 0)
		evbuffer_add_printf(out, "</ul>\n");
	evbuffer_add_printf(out, "</section>\n");
}

/* The service's versions, parsed; NULL if it is not registered. */
json_t *
web_service_versions(struct worker *w, const char *name)
{
	struct evbuffer	*b = evbuffer_new();
	json_t		*versions = NULL;
	json_error_t	 jerr;
	size_t		 len;

	if (shm_service_json(w->shm, w->slot_index, name, strlen(name),
	    b) == 0) {
		len = evbuffer_get_length(b);
		versions = json_loadb((const char *)evbuffer_pullup(b, -1),
		    len, 0, &jerr);
		if (versions == NULL)
			log_warnx("web: service %s: bad record JSON: %s", name,
			    jerr.text);
	}
	evbuffer_free(b);
	return versions;
}

void
web_service_page(struct worker *w, struct http_request *req,
    const char *name)
{
	struct evbuffer	*out;
	json_t		*versions;
	struct svc	*s;
	char		*cause;
	size_t		 i;

	if ((versions = web_service_versions(w, name)) == NULL) {
		web_not_found(req, "No such service.");
		return;
	}
	out = evbuffer_new();
	html_page_begin(out, "services", name);
	evbuffer_add_printf(out, "<h1>");
	html_text(out, name);
	evbuffer_add_printf(out, "</h1>\n<p><a href=\"/call?service=");
	html_url(out, name);
	evbuffer_add_printf(out, "\">Call this service</a></p>\n");
	for (i = 0; i < json_array_size(versions); i++) {
		if ((s = svc_from_json(json_array_get(versions, i), 0,
		    &cause)) == NULL) {
			log_warnx("web: service %s: %s", name, cause);
			free(cause);
			continue;
		}
		service_version(out, s, i);
		svc_free(s);
	}
	html_page_end(out);
	html_reply(req, 200, out);
	evbuffer_free(out);
	json_decref(versions);
}
