/*
 * One blocking query loop per service name on /v1/health/service/<name>:
 * every answer is the whole set of that name's healthy nodes, so what it
 * no longer lists is gone. The loops share CONSUL_WATCH_SLOTS connections:
 * a loop due while all are taken waits in a FIFO queue, and while anyone
 * waits, blocking queries are kept short (CONSUL_WAIT_SHARED_S) so that
 * the slots go round.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "plugins/consul-codec.h"
#include "plugins/consul.h"
#include "util.h"

/*
 * A relist restarts the loops this far apart (in order), not in one
 * instant: a burst of hundreds of queries is what a recovering agent
 * needs least.
 */
#define CONSUL_RELIST_STEP_MS	5

static void	consul_watch_promote(struct consul *);

static int
consul_ids_has(const json_t *ids, const char *id)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(ids, i, v) {
		if (strcmp(json_string_value(v), id) == 0)
			return 1;
	}
	return 0;
}

static void
consul_watch_forget(struct consul_watch *w, const json_t *keep)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(w->ids, i, v) {
		if (keep == NULL || !consul_ids_has(keep, json_string_value(v)))
			w->c->host->remove(w->c->host->core, w->name,
			    json_string_value(v));
	}
}

static void
consul_watch_apply(struct consul_watch *w, json_t *services)
{
	const json_t	*svc, *node;
	json_t		*ids = json_array();
	char		*text;
	size_t		 i, j;

	json_array_foreach(services, i, svc) {
		if ((text = json_dumps(svc, JSON_COMPACT)) == NULL)
			fatalx("json_dumps");
		if (w->c->host->update(w->c->host->core, text,
		    strlen(text)) == 0) {
			json_array_foreach(json_object_get(svc, "nodes"), j,
			    node)
				json_array_append(ids, json_object_get(node,
				    "id"));
		}
		free(text);
	}
	consul_watch_forget(w, ids);
	json_decref(w->ids);
	w->ids = ids;
}

/* The loop's part of a relist is done. */
static void
consul_watch_listed(struct consul_watch *w)
{
	if (!w->relist)
		return;
	w->relist = 0;
	consul_watch_check_relist(w->c);
}

/*
 * Logged once per run of failures: the loop retries every 2 s at most,
 * for as long as the name is listed. status: the HTTP one, 0 without.
 */
static void
consul_watch_failed(struct consul_watch *w, const char *error, long status)
{
	if (w->backoff_ms == 0)
		consul_log(w->c, w->c->connected ? LOG_LEVEL_WARN :
		    LOG_LEVEL_DEBUG, "health %s: %s", w->name, error);
	w->index = 0;
	w->backoff_ms = consul_backoff_next(w->backoff_ms);
	/*
	 * A refusal (a name no URL can carry, such as "..") will be the
	 * answer to every retry: waiting for it would hold the relist, and
	 * with it the pruning of nodes deleted meanwhile, for ever. Its
	 * name counts as listing nothing. A 429 or 5xx passes.
	 */
	if (status >= 400 && status < 500 && status != 429)
		consul_watch_listed(w);
}

static void
consul_watch_done(struct curlev_xfer *x, CURLcode rv, long status)
{
	struct consul_watch	*w = x->arg;
	struct timeval		 tv;
	json_t			*services = NULL;
	char			*error = NULL;
	size_t			 skipped;

	w->xfer = NULL;
	w->c->watch_running--;
	if (consul_answer_ok(w->c, x, rv, status, &error) &&
	    (services = consul_parse_health(x->body, x->len, w->name,
	    &skipped, &error)) != NULL) {
		if (skipped > 0)
			consul_log(w->c, LOG_LEVEL_DEBUG, "health %s: %zu "
			    "tags not in go-micro's encoding skipped", w->name,
			    skipped);
		if (w->backoff_ms != 0)
			consul_log(w->c, LOG_LEVEL_INFO, "health %s: answered "
			    "again", w->name);
		w->backoff_ms = 0;
		w->index = consul_answer_index(x, w->index);
		consul_watch_apply(w, services);
		json_decref(services);
		consul_watch_listed(w);
	} else
		consul_watch_failed(w, error, rv == CURLE_OK ? status : 0);
	free(error);
	consul_loop_delay(w->start_ms, w->backoff_ms, &tv);
	evtimer_add(w->ev, &tv);
	consul_watch_promote(w->c);
}

static void
consul_watch_start(struct consul_watch *w)
{
	struct timeval		 retry = { 1, 0 };
	char			*base, *path;
	unsigned		 wait_s = CONSUL_WAIT_S;
	long			 timeout_ms;

	base = consul_path("/v1/health/service/", w->name);
	if (!TAILQ_EMPTY(&w->c->watch_queue))
		wait_s = CONSUL_WAIT_SHARED_S;
	path = consul_query_path(base, w->index, wait_s, &timeout_ms);
	free(base);
	w->start_ms = util_now_ms();
	if ((w->xfer = consul_request(w->c, "GET", path, NULL, timeout_ms,
	    consul_watch_done, w)) == NULL)
		evtimer_add(w->ev, &retry);
	else
		w->c->watch_running++;
	free(path);
}

static void
consul_watch_unqueue(struct consul_watch *w)
{
	if (!w->queued)
		return;
	TAILQ_REMOVE(&w->c->watch_queue, w, queue);
	w->queued = 0;
}

/* Start the loops waiting for a slot, as many as there are free slots. */
static void
consul_watch_promote(struct consul *c)
{
	struct consul_watch	*w;

	while (c->watch_running < CONSUL_WATCH_SLOTS &&
	    (w = TAILQ_FIRST(&c->watch_queue)) != NULL) {
		consul_watch_unqueue(w);
		consul_watch_start(w);
	}
}

static void
consul_watch_query(evutil_socket_t fd, short what, void *arg)
{
	struct consul_watch	*w = arg;

	if (w->c->watch_running < CONSUL_WATCH_SLOTS) {
		consul_watch_start(w);
		return;
	}
	w->queued = 1;
	TAILQ_INSERT_TAIL(&w->c->watch_queue, w, queue);
}

/* The loop stops: its query ended or its place in the queue given up. */
static void
consul_watch_stop(struct consul_watch *w)
{
	evtimer_del(w->ev);
	consul_watch_unqueue(w);
	if (w->xfer != NULL) {
		curlev_cancel(w->xfer);
		w->xfer = NULL;
		w->c->watch_running--;
	}
}

struct consul_watch *
consul_watch_get(struct consul *c, const char *name)
{
	struct consul_watch	*w;

	for (w = c->watches; w != NULL; w = w->next) {
		if (strcmp(w->name, name) == 0)
			return w;
	}
	w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->name = xstrdup(name);
	w->ids = json_array();
	w->relist = c->relisting;
	if ((w->ev = evtimer_new(c->host->base, consul_watch_query,
	    w)) == NULL)
		fatalx("evtimer_new");
	w->next = c->watches;
	c->watches = w;
	consul_watch_query(-1, 0, w);
	return w;
}

static void
consul_watch_free_one(struct consul_watch *w, int forget)
{
	consul_watch_stop(w);
	event_free(w->ev);
	if (forget)
		consul_watch_forget(w, NULL);
	json_decref(w->ids);
	free(w->name);
	free(w);
}

void
consul_watch_free(struct consul_watch *w, int forget)
{
	struct consul	*c = w->c;

	consul_watch_free_one(w, forget);
	consul_watch_promote(c);
}

void
consul_watch_free_all(struct consul *c)
{
	struct consul_watch	*w;

	while ((w = c->watches) != NULL) {
		c->watches = w->next;
		consul_watch_free_one(w, 0);
	}
}

void
consul_watch_relist(struct consul *c)
{
	struct consul_watch	*w;
	struct timeval		 tv;
	uint64_t		 ms = 0;

	c->relisting = 1;
	c->host->relist_begin(c->host->core);
	/* a plain query soon, not the rest of a blocking one */
	for (w = c->watches; w != NULL; w = w->next) {
		consul_watch_stop(w);
		w->relist = 1;
		w->index = 0;
		w->backoff_ms = 0;	/* a fresh run: its failure is warned of */
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(w->ev, &tv);
		ms += CONSUL_RELIST_STEP_MS;
	}
}

void
consul_watch_check_relist(struct consul *c)
{
	struct consul_watch	*w;

	if (!c->relisting)
		return;
	for (w = c->watches; w != NULL; w = w->next) {
		if (w->relist)
			return;
	}
	c->relisting = 0;
	c->host->relist_end(c->host->core);
}
