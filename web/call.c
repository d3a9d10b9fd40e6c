/*
 * The call form: pick a service and an endpoint, edit the JSON request
 * (prefilled from the endpoint's request fields), send it to POST /rpc on
 * this listener. Without JavaScript the form posts and the browser shows
 * the raw reply; app.js sends it with fetch and shows status and latency.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "http.h"
#include "util.h"
#include "web/html.h"
#include "web/model.h"
#include "web/web.h"
#include "workers/worker.h"

#define CALL_DEPTH_MAX	16

/* The zero value a field of that go type starts with in the form. */
static json_t *
call_zero(const char *type)
{
	static const struct {
		const char	*prefix;
		int		 kind;
	} zeros[] = {
		{ "[]", JSON_ARRAY }, { "map[", JSON_OBJECT },
		{ "string", JSON_STRING }, { "bool", JSON_FALSE },
		{ "int", JSON_INTEGER }, { "uint", JSON_INTEGER },
		{ "float", JSON_REAL }, { "double", JSON_REAL },
	};
	size_t	 i;

	for (i = 0; i < nitems(zeros); i++) {
		if (strncmp(type, zeros[i].prefix,
		    strlen(zeros[i].prefix)) != 0)
			continue;
		switch (zeros[i].kind) {
		case JSON_ARRAY: return json_array();
		case JSON_OBJECT: return json_object();
		case JSON_STRING: return json_string("");
		case JSON_FALSE: return json_false();
		case JSON_INTEGER: return json_integer(0);
		default: return json_real(0);
		}
	}
	return json_null();
}

/* go-micro's registry.Value {name, type, values}: nested values = object. */
static json_t *
call_template_value(const json_t *value, int depth)
{
	const json_t	*values = json_object_get(value, "values");
	const char	*type = json_string_value(json_object_get(value, "type"));
	const char	*name;
	json_t		*obj, *child;
	size_t		 i;

	if (type == NULL)
		type = "";
	if (json_array_size(values) == 0 || depth > CALL_DEPTH_MAX ||
	    strncmp(type, "[]", 2) == 0)
		return call_zero(type);
	obj = json_object();
	json_array_foreach(values, i, child) {
		if ((name = json_string_value(json_object_get(child,
		    "name"))) != NULL)
			json_object_set_new(obj, name,
			    call_template_value(child, depth + 1));
	}
	return obj;
}

static char *
call_template(const json_t *endpoint)
{
	const json_t	*req = json_object_get(endpoint, "request");
	json_t		*t;
	char		*text;

	t = json_is_object(req) ? call_template_value(req, 0) : json_object();
	if (!json_is_object(t)) {
		json_decref(t);
		t = json_object();
	}
	text = json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(t);
	return text;
}

static void
call_service_select(struct worker *w, struct evbuffer *out,
    const char *service)
{
	struct web_services	 ss;
	size_t			 i;

	web_model_services(w, NULL, &ss);
	evbuffer_add_printf(out, "<form class=\"pick\" method=\"get\" "
	    "action=\"/call\">\n<label for=\"service\">Service</label>\n"
	    "<select id=\"service\" name=\"service\" data-autosubmit>\n"
	    "<option value=\"\">Choose a service</option>\n");
	for (i = 0; i < ss.n; i++) {
		evbuffer_add_printf(out, "<option value=\"");
		html_text(out, ss.v[i].name);
		evbuffer_add_printf(out, "\"%s>", service != NULL &&
		    strcmp(service, ss.v[i].name) == 0 ? " selected" : "");
		html_text(out, ss.v[i].name);
		evbuffer_add_printf(out, "</option>\n");
	}
	evbuffer_add_printf(out, "</select>\n<button type=\"submit\" "
	    "class=\"noscript\">Load endpoints</button>\n</form>\n");
	web_model_services_free(&ss);
}

/* One option per endpoint name across the versions; returns the chosen. */
static const json_t *
call_endpoint_options(struct evbuffer *out, const json_t *versions,
    const char *want, json_t *seen)
{
	const json_t	*v, *ep, *chosen = NULL;
	const char	*name;
	char		*tmpl;
	size_t		 i, j;

	json_array_foreach(versions, i, v) {
		json_array_foreach(json_object_get(v, "endpoints"), j, ep) {
			name = json_string_value(json_object_get(ep, "name"));
			if (name == NULL || json_object_get(seen, name) != NULL)
				continue;
			json_object_set_new(seen, name, json_true());
			if (chosen == NULL || (want != NULL &&
			    strcmp(want, name) == 0))
				chosen = ep;
			tmpl = call_template(ep);
			evbuffer_add_printf(out, "<option value=\"");
			html_text(out, name);
			evbuffer_add_printf(out, "\" data-template=\"");
			html_text(out, tmpl);
			evbuffer_add_printf(out, "\"%s>", want != NULL &&
			    strcmp(want, name) == 0 ? " selected" : "");
			html_text(out, name);
			evbuffer_add_printf(out, "</option>\n");
			free(tmpl);
		}
	}
	return chosen;
}

static void
call_form(struct evbuffer *out, const char *service, const json_t *versions,
    const char *want)
{
	json_t		*seen = json_object();
	const json_t	*chosen;
	char		*tmpl;

	evbuffer_add_printf(out, "<form id=\"call\" class=\"call\" "
	    "method=\"post\" action=\"/rpc\">\n<input type=\"hidden\" "
	    "name=\"service\" value=\"");
	html_text(out, service);
	evbuffer_add_printf(out, "\">\n<label for=\"endpoint\">Endpoint"
	    "</label>\n<select id=\"endpoint\" name=\"method\">\n");
	chosen = call_endpoint_options(out, versions, want, seen);
	tmpl = chosen != NULL ? call_template(chosen) : xstrdup("{}");
	evbuffer_add_printf(out, "</select>\n<label for=\"request\">Request "
	    "(JSON)</label>\n<textarea id=\"request\" name=\"request\" "
	    "rows=\"10\" spellcheck=\"false\">");
	html_text(out, tmpl);
	evbuffer_add_printf(out, "</textarea>\n<button type=\"submit\">Call"
	    "</button>\n</form>\n<section id=\"result\" class=\"result\" "
	    "aria-labelledby=\"result-h\" hidden>\n<h2 id=\"result-h\">"
	    "Response</h2>\n<p>Status <output id=\"status\"></output> · "
	    "Latency <output id=\"latency\"></output></p>\n"
	    "<pre id=\"response\" tabindex=\"0\"></pre>\n</section>\n");
	free(tmpl);
	json_decref(seen);
}

void
web_call_page(struct worker *w, struct http_request *req)
{
	struct evbuffer	*out;
	char		*service, *endpoint;
	json_t		*versions = NULL;
	int		 status = 200;

	http_reply_data_headers(req);
	if (http_request_query_check(req, WEB_ID) == -1)
		return;
	out = evbuffer_new();
	service = http_request_query_param(req, "service");
	endpoint = http_request_query_param(req, "endpoint");
	if (service != NULL && *service != '\0')
		versions = web_service_versions(w, service);
	html_page_begin(out, "call", "Call");
	evbuffer_add_printf(out, "<h1>Call a service</h1>\n");
	call_service_select(w, out, service);
	if (versions != NULL)
		call_form(out, service, versions, endpoint);
	else if (service != NULL && *service != '\0') {
		/* Gone since the link was drawn: still a page to pick from. */
		evbuffer_add_printf(out, "<p role=\"alert\">No such service."
		    "</p>\n");
		status = 404;
	}
	html_page_end(out);
	html_reply(req, status, out);
	evbuffer_free(out);
	json_decref(versions);
	free(service);
	free(endpoint);
}
