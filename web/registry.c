/*
 * GET /registry[?service=NAME]: the dashboard's services pages for a
 * browser, the go-micro Service JSON for a program. micro's web answered
 * JSON when the request said application/json in Accept or Content-Type;
 * so does this.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "http.h"
#include "shm/services-json.h"
#include "web/html.h"
#include "web/web.h"
#include "workers/worker.h"

static int
registry_wants_json(const struct http_request *req)
{
	const char	*accept = http_request_header(req, "Accept");
	const char	*ctype = http_request_header(req, "Content-Type");

	return (accept != NULL && strstr(accept, "application/json") != NULL) ||
	    (ctype != NULL && strstr(ctype, "application/json") != NULL);
}

static void
registry_json(struct worker *w, struct http_request *req, const char *name)
{
	struct evbuffer	*b = evbuffer_new();

	if (name == NULL)
		shm_services_json(w->shm, w->slot_index, b);
	else if (shm_service_json(w->shm, w->slot_index, name, strlen(name),
	    b) == -1) {
		http_reply_error(req, 404, WEB_ID, "service not found");
		evbuffer_free(b);
		return;
	}
	http_headers_set(http_reply_headers(req), "Vary",
	    "Accept, Content-Type");
	http_reply_buffer(req, 200, "application/json", b);
	evbuffer_free(b);
}

void
web_registry(struct worker *w, struct http_request *req)
{
	char	*name;

	/* The HTML pages replace these with the page's own policy. */
	http_reply_data_headers(req);
	if (http_request_query_check(req, WEB_ID) == -1)
		return;
	name = http_request_query_param(req, "service");
	if (registry_wants_json(req))
		registry_json(w, req, name);
	else if (name != NULL)
		web_service_page(w, req, name);
	else
		web_pages_services(w, req);
	free(name);
}
