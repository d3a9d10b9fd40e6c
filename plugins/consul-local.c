/*
 * This host's registrations with the Consul agent: one agent service per
 * node with a TTL check "service:<id>" passed at half its TTL. A pass the
 * agent refuses (it restarted and forgot us) registers again. A node
 * deregistered here is kept until the agent has let it go: left after one
 * failed deregistration, it would stay registered and passing for the
 * rest of its TTL, and every host would route to it. These are the
 * agent's own endpoints, answered without the servers: they go on while
 * the catalog loop is not connected (no cluster leader).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "plugins/consul-codec.h"
#include "plugins/consul.h"
#include "util.h"

#define CONSUL_TTL_DEFAULT_MS	30000
#define CONSUL_PASS_MIN_MS	250

struct consul_local {
	struct consul		*c;
	char			*id;
	char			*body;		/* register request, NULL: to
						   be deregistered */
	int			 registered;
	int			 held;		/* the agent may have it */
	/*
	 * One request at a time: a register or a deregistration ended
	 * early could still reach the agent after the one that follows.
	 */
	struct curlev_xfer	*xfer;
	int			 leaving;	/* xfer deregisters */
	struct event		*pass;		/* or retries the deregistration */
	uint64_t		 pass_ms;	/* TTL/2 */
	uint64_t		 backoff_ms;	/* failing: retried after */
	struct consul_local	*next;
};

struct consul_put {
	struct consul	*c;
	uint64_t	 ttl_ms;
};

static void	consul_local_deregister(struct consul_local *);

static void
consul_local_schedule(struct consul_local *l, uint64_t ms)
{
	struct timeval	 tv = util_timeval(ms);

	event_add(l->pass, &tv);
}

/*
 * Register again, and soon: waiting for the next tick would let the TTL
 * run out after one refused pass (a 429, a timeout), and the node turn
 * critical everywhere. Logged once per run of failures.
 */
static void
consul_local_failed(struct consul_local *l, const char *error)
{
	if (l->backoff_ms == 0)
		consul_log(l->c, LOG_LEVEL_WARN, "node %s: %s", l->id, error);
	l->registered = 0;
	l->backoff_ms = consul_backoff_next(l->backoff_ms);
	consul_local_schedule(l, l->backoff_ms < l->pass_ms ? l->backoff_ms :
	    l->pass_ms);
}

static void
consul_local_done(struct curlev_xfer *x, CURLcode rv, long status)
{
	struct consul_local	*l = x->arg;
	char			*error = NULL;

	l->xfer = NULL;
	if (l->body == NULL) {		/* deregistered while it was out */
		consul_local_deregister(l);
		return;
	}
	if (!consul_answer_ok(l->c, x, rv, status, &error)) {
		consul_local_failed(l, error);
		free(error);
		return;
	}
	if (!l->registered) {
		l->registered = l->held = 1;	/* now pass the check at once */
		event_active(l->pass, 0, 0);
	} else if (l->backoff_ms != 0) {
		consul_log(l->c, LOG_LEVEL_INFO, "node %s: passed again",
		    l->id);
		l->backoff_ms = 0;
		consul_local_schedule(l, l->pass_ms);
	}
}

static void
consul_local_register(struct consul_local *l)
{
	if (l->leaving)
		return;		/* its end registers */
	curlev_cancel(l->xfer);
	l->xfer = NULL;
	l->registered = 0;
	l->xfer = consul_request(l->c, "PUT", "/v1/agent/service/register",
	    l->body, CONSUL_REQUEST_MS, consul_local_done, l);
}

/* The TTL check go-micro names "service:<id>". */
static char *
consul_local_check_path(const char *id)
{
	char	*check, *path;

	xasprintf(&check, "service:%s", id);
	path = consul_path("/v1/agent/check/pass/", check);
	free(check);
	return path;
}

static void
consul_local_check_pass(struct consul_local *l)
{
	char	*path;

	path = consul_local_check_path(l->id);
	l->xfer = consul_request(l->c, "PUT", path, NULL, CONSUL_REQUEST_MS,
	    consul_local_done, l);
	free(path);
}

static void
consul_local_pass(evutil_socket_t fd, short what, void *arg)
{
	struct consul_local	*l = arg;

	/* one in flight is bounded by CONSUL_REQUEST_MS: its end retries */
	if (l->xfer != NULL)
		return;
	if (l->body == NULL)
		consul_local_deregister(l);
	else if (!l->registered)
		consul_local_register(l);
	else
		consul_local_check_pass(l);
}

static struct consul_local **
consul_local_find(struct consul *c, const char *id)
{
	struct consul_local	**pp;

	for (pp = &c->locals; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, id) == 0)
			break;
	}
	return pp;
}

static void
consul_local_set(const char *id, char *body, void *arg)
{
	struct consul_put	*p = arg;
	struct consul_local	**pp = consul_local_find(p->c, id), *l = *pp;

	if (l != NULL && l->body != NULL && strcmp(l->body, body) == 0) {
		free(body);
		return;
	}
	if (l == NULL) {
		l = *pp = xcalloc(1, sizeof(*l));
		l->c = p->c;
		l->id = xstrdup(id);
		if ((l->pass = event_new(p->c->host->base, -1, EV_PERSIST,
		    consul_local_pass, l)) == NULL)
			fatalx("event_new");
	} else if (l->body == NULL)
		l->backoff_ms = 0;	/* the deregistration's run is over */
	free(l->body);
	l->body = body;
	l->pass_ms = p->ttl_ms / 2;
	if (l->pass_ms < CONSUL_PASS_MIN_MS)
		l->pass_ms = CONSUL_PASS_MIN_MS;
	consul_local_schedule(l, l->pass_ms);
	consul_local_register(l);
}

void
consul_local_put(void *arg, const char *json, uint64_t ttl_ms)
{
	struct consul_put	 p = { arg, ttl_ms };
	char			*cause;

	if (p.ttl_ms == 0)
		p.ttl_ms = p.c->host->conf->ttl_ms;
	if (p.ttl_ms == 0)
		p.ttl_ms = CONSUL_TTL_DEFAULT_MS;
	if (consul_register_each(json, p.ttl_ms, consul_local_set, &p,
	    &cause) == -1) {
		consul_log(p.c, LOG_LEVEL_WARN, "put: %s", cause);
		free(cause);
	}
}

static void
consul_local_free_one(struct consul_local *l)
{
	curlev_cancel(l->xfer);
	event_free(l->pass);
	free(l->id);
	free(l->body);
	free(l);
}

static char *
consul_local_deregister_path(const char *id)
{
	return consul_path("/v1/agent/service/deregister/", id);
}

/*
 * A deregistration the agent did not take (a 500, a restart, a timeout)
 * is tried again, 100 ms doubling to 2 s as etcd's deletes, and at once
 * when the catalog loop reconnects. One warning per run of failures.
 */
static void
consul_local_deregister_failed(struct consul_local *l, const char *error)
{
	if (l->backoff_ms == 0)
		consul_log(l->c, LOG_LEVEL_WARN, "node %s: deregister: %s: "
		    "retrying", l->id, error);
	l->backoff_ms = consul_backoff_next(l->backoff_ms);
	consul_local_schedule(l, l->backoff_ms);
}

static void
consul_local_deregistered(struct curlev_xfer *x, CURLcode rv, long status)
{
	struct consul_local	*l = x->arg, **pp;
	char			*error = NULL;

	l->xfer = NULL;
	l->leaving = 0;
	if (l->body != NULL) {		/* registered again meanwhile */
		consul_local_register(l);
		return;
	}
	/* 404: the agent has no such service (reaped, or it restarted) */
	if ((rv != CURLE_OK || status != 404) &&
	    !consul_answer_ok(l->c, x, rv, status, &error)) {
		consul_local_deregister_failed(l, error);
		free(error);
		return;
	}
	if (l->backoff_ms != 0)
		consul_log(l->c, LOG_LEVEL_INFO, "node %s: deregistered", l->id);
	pp = consul_local_find(l->c, l->id);
	*pp = l->next;
	consul_local_free_one(l);
}

static void
consul_local_deregister(struct consul_local *l)
{
	char	*path;

	if (l->xfer != NULL)
		return;		/* its end deregisters */
	path = consul_local_deregister_path(l->id);
	l->xfer = consul_request(l->c, "PUT", path, NULL, CONSUL_REQUEST_MS,
	    consul_local_deregistered, l);
	free(path);
	if (l->xfer == NULL)
		consul_local_deregister_failed(l, "not sent");
	else
		l->leaving = 1;
}

static void
consul_local_drop(const char *id, void *arg)
{
	struct consul_local	*l = *consul_local_find(arg, id);

	if (l == NULL || l->body == NULL)
		return;
	free(l->body);
	l->body = NULL;
	l->registered = 0;
	l->backoff_ms = 0;	/* a run of its own */
	consul_local_deregister(l);
}

void
consul_local_del(void *arg, const char *json)
{
	char	*cause;

	if (consul_ids_each(json, consul_local_drop, arg, &cause) == -1) {
		consul_log(arg, LOG_LEVEL_WARN, "del: %s", cause);
		free(cause);
	}
}

void
consul_local_resync(struct consul *c)
{
	struct consul_local	*l;

	for (l = c->locals; l != NULL; l = l->next) {
		if (l->body == NULL)
			consul_local_deregister(l);
		else
			consul_local_register(l);
	}
}

static size_t
consul_local_count(struct consul *c)
{
	struct consul_local	*l;
	size_t			 n = 0;

	for (l = c->locals; l != NULL; l = l->next)
		n++;
	return n;
}

/*
 * All deregistrations start together under one deadline: one after the
 * other, a silent agent would hold the worker past its shutdown_timeout.
 */
void
consul_local_free(struct consul *c)
{
	struct consul_local	*l;
	char			**paths;
	size_t			 n = 0, i, ok;

	paths = xcalloc(consul_local_count(c) + 1, sizeof(*paths));
	while ((l = c->locals) != NULL) {
		c->locals = l->next;
		if (l->held)
			paths[n++] = consul_local_deregister_path(l->id);
		consul_local_free_one(l);
	}
	if ((ok = consul_put_all_now(c, paths, n)) < n)
		consul_log(c, LOG_LEVEL_WARN, "close: %zu of %zu nodes not "
		    "deregistered, the agent will reap them", n - ok, n);
	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}
