/*
 * Serving a worker's inherited listener: limits from the role's section,
 * counters in the worker's shm slot, and dispatch through the role's route
 * table. Every listener answers GET /healthz.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "shm/shm.h"
#include "util.h"
#include "workers/worker-http.h"
#include "workers/worker.h"

/* Which worker answered and what registry it sees: lets an operator (and
 * the tests) check that every process reads the same shm registry. */
static void
worker_http_healthz(struct worker *w, struct http_request *req)
{
	struct shm_stats	 st;
	char			 body[256];
	int			 n;

	shm_stats(w->shm, &st);
	n = snprintf(body, sizeof(body), "{\"status\":\"ok\",\"worker\":"
	    "\"%s/%u\",\"pid\":%d,\"registry\":{\"generation\":%llu,"
	    "\"services\":%llu}}", w->role->name, w->id, (int)getpid(),
	    (unsigned long long)st.generation,
	    (unsigned long long)st.services);
	http_reply(req, 200, "application/json", body, n);
}

static const struct worker_route worker_http_common[] = {
	{ "GET", "/healthz", worker_http_healthz, 0 },
	{ NULL, NULL, NULL, 0 },
};

static int
worker_route_match(const struct worker_route *r, const char *path)
{
	size_t	 len = strlen(r->path);

	if (len > 0 && r->path[len - 1] == '/')
		return strncmp(path, r->path, len) == 0 ||
		    (strncmp(path, r->path, len - 1) == 0 &&
		    path[len - 1] == '\0');
	return strcmp(path, r->path) == 0;
}

/* Does r take method (HEAD where it takes GET)? */
static int
worker_route_takes(const struct worker_route *r, const char *method)
{
	if (r->method == NULL || strcmp(r->method, method) == 0)
		return 1;
	return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0 &&
	    !(r->flags & WORKER_ROUTE_NO_HEAD);
}

static const struct worker_route *
worker_route_find(const struct worker_route *table, const char *method,
    const char *path, int *path_known)
{
	const struct worker_route *r;

	for (r = table; r != NULL && r->path != NULL; r++) {
		if (!worker_route_match(r, path))
			continue;
		/* 405 is for a resource that exists: exact paths only. */
		if (r->path[strlen(r->path) - 1] != '/')
			*path_known = 1;
		if (worker_route_takes(r, method))
			return r;
	}
	return NULL;
}

int
worker_http_owns(const struct worker_route *table, const char *path)
{
	const struct worker_route *r;
	int			 known = 0;

	if (worker_route_find(worker_http_common, "GET", path, &known) != NULL)
		return 1;
	for (r = table; r != NULL && r->path != NULL; r++) {
		if (strcmp(r->path, "/") != 0 && worker_route_match(r, path))
			return 1;
	}
	return 0;
}

static void
worker_allow_add(char *allow, size_t len, const char *method)
{
	size_t	 used = strlen(allow);

	snprintf(allow + used, len - used, "%s%s", used != 0 ? ", " : "",
	    method);
}

/*
 * The methods the routes matching path take, as a 405's Allow lists them;
 * a bare catch-all ("/") names none.
 */
static void
worker_route_allow(const struct worker_route *table, const char *path,
    char *allow, size_t len)
{
	const struct worker_route *r;
	static const char *const methods[] = {
		"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"
	};
	size_t			 i;

	for (i = 0; i < nitems(methods); i++) {
		for (r = table; r != NULL && r->path != NULL; r++) {
			if (r->method != NULL && strcmp(r->path, "/") != 0 &&
			    worker_route_match(r, path) &&
			    worker_route_takes(r, methods[i])) {
				worker_allow_add(allow, len, methods[i]);
				break;
			}
		}
	}
}

void
worker_http_reply_405(struct worker *w, struct http_request *req)
{
	const char	*path = http_request_path(req);
	char		 allow[128] = "";

	worker_route_allow(worker_http_common, path, allow, sizeof(allow));
	if (allow[0] == '\0')
		worker_route_allow(w->role->routes, path, allow, sizeof(allow));
	if (allow[0] != '\0')
		http_headers_set(http_reply_headers(req), "Allow", allow);
	http_reply_error(req, 405, w->role->error_id, "method not allowed");
}

static void
worker_http_handle(struct http_request *req, void *arg)
{
	struct worker			*w = arg;
	const struct worker_route	*r;
	const char			*method = http_request_method(req);
	const char			*path = http_request_path(req);
	int				 known = 0;

	if ((r = worker_route_find(worker_http_common, method, path,
	    &known)) == NULL)
		r = worker_route_find(w->role->routes, method, path, &known);
	if (r != NULL)
		r->handle(w, req);
	else if (known)
		worker_http_reply_405(w, req);
	else
		http_reply_error(req, 404, w->role->error_id, "not found");
}

int
worker_http_start(struct worker *w)
{
	const struct config_listen	*cl = &w->conf->roles[w->role->id];
	struct http_limits		 limits;
	const char			*cause;

	memset(&limits, 0, sizeof(limits));
	limits.max_header_size = cl->max_header_size;
	limits.max_body_size = cl->max_body_size;
	limits.read_timeout_ms = cl->read_timeout_ms;
	limits.idle_timeout_ms = cl->idle_timeout_ms;
	limits.max_connections = cl->max_connections;
	w->http = http_server_new(w->base, w->listen_fd, &limits,
	    worker_http_handle, w, &cause);
	if (w->http == NULL) {
		log_warnx("cannot serve: %s", cause);
		return -1;
	}
	http_server_set_counters(w->http, w->counters);
	http_server_set_error_id(w->http, w->role->error_id);
	if (w->role->head_handler != NULL)
		http_server_set_head_handler(w->http, w->role->head_handler);
	return 0;
}

void
worker_http_drain(struct worker *w, void (*done)(void *))
{
	http_server_drain(w->http, done, w);
}
