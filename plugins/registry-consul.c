/*
 * The Consul registry backend (doc/plugins.md): go-micro's encoding, one
 * Consul service per node. We follow the store with blocking queries, one
 * loop on /v1/catalog/services and one per service name on
 * /v1/health/service/<name>, each obeying Consul's index rules and never
 * starting twice within CONSUL_LOOP_MIN_MS. Every request has a total
 * timeout, and at most CONSUL_CONNS_MAX connections are open to the agent.
 * This host's nodes are registered with the local agent and their TTL
 * checks passed on time.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "log.h"
#include "plugins/consul-codec.h"
#include "plugins/consul.h"
#include "util.h"

#define CONSUL_DEFAULT_ADDRESS	"127.0.0.1:8500"
#define CONSUL_LOOP_MIN_MS	100
#define CONSUL_BACKOFF_MAX_MS	2000
#define CONSUL_CONNECT_MS	2000L
/*
 * All deregistrations at close, together: the agent answers in
 * milliseconds, and the worker must be gone well within the default
 * [microd] shutdown_timeout (10 s) or it is killed.
 */
#define CONSUL_SHUTDOWN_MS	2000L

void
consul_log(struct consul *c, int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vhost(c->host->log, c->host->core, level, fmt, ap);
	va_end(ap);
}

static void
consul_publish(struct consul *c)
{
	struct registry_sync	 s = { c->connected, c->index, c->error };

	c->host->sync(c->host->core, &s);
}

static struct curlev_xfer *
consul_xfer(struct consul *c, const char *method, const char *path,
    const char *body, long timeout_ms, curlev_done_cb done, void *arg)
{
	struct curlev_xfer	*x;
	char			*url, *line;

	xasprintf(&url, "%s%s", c->base, path);
	x = curlev_xfer_new(c->cev, method, url, body, done, arg);
	free(url);
	if (c->host->conf->token[0] != '\0') {
		xasprintf(&line, "X-Consul-Token: %s", c->host->conf->token);
		curlev_header(x, line);
		free(line);
	}
	if (c->host->conf->tls_ca[0] != '\0')
		curl_easy_setopt(x->easy, CURLOPT_CAINFO,
		    c->host->conf->tls_ca);
	if (c->host->conf->tls_cert[0] != '\0')
		curl_easy_setopt(x->easy, CURLOPT_SSLCERT,
		    c->host->conf->tls_cert);
	if (c->host->conf->tls_key[0] != '\0')
		curl_easy_setopt(x->easy, CURLOPT_SSLKEY,
		    c->host->conf->tls_key);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, CONSUL_CONNECT_MS);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	return x;
}

struct curlev_xfer *
consul_request(struct consul *c, const char *method, const char *path,
    const char *body, long timeout_ms, curlev_done_cb done, void *arg)
{
	struct curlev_xfer	*x;
	const char		*cause;

	x = consul_xfer(c, method, path, body, timeout_ms, done, arg);
	if (curlev_start(x, &cause) == -1) {
		consul_log(c, LOG_LEVEL_WARN, "%s %s: %s", method, path, cause);
		return NULL;
	}
	return x;
}

size_t
consul_put_all_now(struct consul *c, char **paths, size_t n)
{
	struct curlev_xfer	**xs = xcalloc(n + 1, sizeof(*xs));
	size_t			  i, ok;

	for (i = 0; i < n; i++)
		xs[i] = consul_xfer(c, "PUT", paths[i], NULL,
		    CONSUL_SHUTDOWN_MS, NULL, NULL);
	ok = curlev_run_all_now(xs, n, CONSUL_SHUTDOWN_MS);
	free(xs);
	return ok;
}

char *
consul_path(const char *base, const char *part)
{
	CURL	*easy;
	char	*escaped, *path;

	/* libcurl before 7.82 wants a handle here, though it uses none */
	if ((easy = curl_easy_init()) == NULL ||
	    (escaped = curl_easy_escape(easy, part, 0)) == NULL)
		fatalx("curl_easy_escape");
	curl_easy_cleanup(easy);
	xasprintf(&path, "%s%s", base, escaped);
	curl_free(escaped);
	return path;
}

char *
consul_query_path(const char *path, uint64_t index, unsigned wait_s,
    long *timeout_ms)
{
	char	*out;

	if (index == 0) {
		*timeout_ms = CONSUL_REQUEST_MS;
		return xstrdup(path);
	}
	*timeout_ms = wait_s * 1000L + wait_s * 1000L / 16 + CONSUL_REQUEST_MS;
	xasprintf(&out, "%s?index=%llu&wait=%us", path,
	    (unsigned long long)index, wait_s);
	return out;
}

int
consul_answer_ok(struct consul *c, struct curlev_xfer *x, CURLcode rv,
    long status, char **error)
{
	free(*error);
	*error = NULL;
	if (rv != CURLE_OK)
		xasprintf(error, "%s", x->error);
	else if (status != 200)
		xasprintf(error, "HTTP %ld: %.200s", status,
		    x->body != NULL ? x->body : "");
	return *error == NULL;
}

/* The answer's X-Consul-Index applied to index by Consul's rules. */
uint64_t
consul_answer_index(struct curlev_xfer *x, uint64_t index)
{
	struct curl_header	*h;

	if (curl_easy_header(x->easy, "X-Consul-Index", 0, CURLH_HEADER, -1,
	    &h) != CURLHE_OK)
		return 0;
	return consul_index_next(index, h->value);
}

/* When the loop that started at start_ms may go again, as a timeval. */
void
consul_loop_delay(uint64_t start_ms, uint64_t backoff_ms, struct timeval *tv)
{
	uint64_t	 now = util_now_ms(), wait = backoff_ms;

	if (now - start_ms < CONSUL_LOOP_MIN_MS &&
	    CONSUL_LOOP_MIN_MS - (now - start_ms) > wait)
		wait = CONSUL_LOOP_MIN_MS - (now - start_ms);
	*tv = util_timeval(wait);
}

uint64_t
consul_backoff_next(uint64_t ms)
{
	return util_backoff_next(ms, CONSUL_LOOP_MIN_MS, CONSUL_BACKOFF_MAX_MS);
}

/*
 * A loop per name the catalog lists, the others freed with their nodes.
 * The names are an object keyed by name while they are matched: 10 000
 * of them compared pairwise took the worker's loop a second per answer.
 */
static void
consul_catalog_names(struct consul *c, const json_t *names)
{
	struct consul_watch	**pp, *w;
	json_t			*fresh = json_object(), *v;
	const char		*name;
	size_t			 i;

	json_array_foreach(names, i, v)
		json_object_set(fresh, json_string_value(v), json_null());
	for (pp = &c->watches; (w = *pp) != NULL;) {
		if (json_object_del(fresh, w->name) == 0)
			pp = &w->next;
		else {
			*pp = w->next;
			consul_watch_free(w, 1);
		}
	}
	json_object_foreach(fresh, name, v)
		consul_watch_new(c, name);
	json_decref(fresh);
}

static void
consul_catalog_done(struct curlev_xfer *x, CURLcode rv, long status)
{
	struct consul	*c = x->arg;
	struct timeval	 tv;
	json_t		*names;
	char		*cause;

	c->catalog = NULL;
	if (consul_answer_ok(c, x, rv, status, &c->error) &&
	    (names = consul_parse_catalog(x->body, x->len, &cause)) == NULL) {
		c->error = cause;
	}
	if (c->error != NULL) {
		if (c->connected)
			consul_log(c, LOG_LEVEL_WARN, "catalog: %s", c->error);
		c->connected = 0;
		c->index = 0;
		c->backoff_ms = consul_backoff_next(c->backoff_ms);
	} else {
		c->backoff_ms = 0;
		c->index = consul_answer_index(x, c->index);
		if (!c->connected) {
			c->connected = 1;
			consul_log(c, LOG_LEVEL_INFO, "connected to %s",
			    c->base);
			consul_watch_relist(c);
			consul_local_resync(c);
		}
		consul_catalog_names(c, names);
		json_decref(names);
		consul_watch_check_relist(c);
	}
	consul_publish(c);
	consul_loop_delay(c->catalog_start, c->backoff_ms, &tv);
	evtimer_add(c->catalog_ev, &tv);
}

static void
consul_catalog_query(evutil_socket_t fd, short what, void *arg)
{
	struct consul	*c = arg;
	struct timeval	 retry = { 1, 0 };
	char		*path;
	long		 timeout_ms;

	c->catalog_start = util_now_ms();
	path = consul_query_path("/v1/catalog/services", c->index,
	    CONSUL_WAIT_S, &timeout_ms);
	if ((c->catalog = consul_request(c, "GET", path, NULL, timeout_ms,
	    consul_catalog_done, c)) == NULL)
		evtimer_add(c->catalog_ev, &retry);
	free(path);
}

static void
consul_close(void *arg)
{
	struct consul		*c = arg;

	consul_local_free(c);
	consul_watch_free_all(c);
	curlev_free(c->cev);
	event_free(c->catalog_ev);
	free(c->base);
	free(c->error);
	free(c);
}

static void *
consul_open(const struct registry_host *host, const char **cause)
{
	const char	*addr;
	char		*list, *rest;
	struct consul	*c;

	if (host->abi != REGISTRY_BACKEND_ABI) {
		*cause = "host speaks another backend ABI";
		return NULL;
	}
	list = rest = xstrdup(host->conf->address);
	if ((addr = util_list_next(&rest)) == NULL)
		addr = CONSUL_DEFAULT_ADDRESS;
	else if (util_list_next(&rest) != NULL) {
		free(list);
		*cause = "consul takes one agent address";
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->host = host;
	TAILQ_INIT(&c->watch_queue);
	xasprintf(&c->base, "%s%s", strstr(addr, "://") != NULL ? "" :
	    host->conf->tls_ca[0] != '\0' ? "https://" : "http://", addr);
	free(list);
	if ((c->cev = curlev_new(host->base, cause)) == NULL) {
		free(c->base);
		free(c);
		return NULL;
	}
	curlev_max_host_connections(c->cev, CONSUL_CONNS_MAX);
	if ((c->catalog_ev = evtimer_new(host->base, consul_catalog_query,
	    c)) == NULL)
		fatalx("evtimer_new");
	consul_publish(c);
	consul_catalog_query(-1, 0, c);
	return c;
}

__attribute__((visibility("default")))
const struct registry_backend microd_registry_backend = {
	.abi = REGISTRY_BACKEND_ABI,
	.name = "consul",
	.open = consul_open,
	.close = consul_close,
	.put = consul_local_put,
	.del = consul_local_del,
};
