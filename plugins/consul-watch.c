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
/*
 * A relist waits for a failing name this many tries: one lost answer is
 * no reason to go on without it.
 */
#define CONSUL_RELIST_TRIES	3

static void	consul_watch_promote(struct consul *);

/* Hand one go-micro Service to the core: 0 if it took it. */
static int
consul_watch_deliver(struct consul_watch *w, const json_t *svc)
{
	char	*text;
	int	 rv;

	if ((text = json_dumps(svc, JSON_COMPACT)) == NULL)
		fatalx("json_dumps");
	rv = w->c->host->update(w->c->host->core, text, strlen(text));
	free(text);
	return rv;
}

/*
 * The node ids of services as an object keyed by id: a name may have
 * thousands of nodes, which compared pairwise would cost millions of
 * comparisons per answer.
 */
static json_t *
consul_watch_ids(const json_t *services)
{
	const json_t	*svc, *node;
	json_t		*ids = json_object();
	size_t		 i, j;

	json_array_foreach(services, i, svc) {
		json_array_foreach(json_object_get(svc, "nodes"), j, node)
			json_object_set_new(ids, json_string_value(
			    json_object_get(node, "id")), json_true());
	}
	return ids;
}

/* The nodes delivered last that keep (NULL: none) lacks are gone. */
static void
consul_watch_forget(struct consul_watch *w, const json_t *keep)
{
	json_t		*ids = consul_watch_ids(w->services), *v;
	const char	*id;

	json_object_foreach(ids, id, v) {
		if (keep == NULL || json_object_get(keep, id) == NULL)
			w->c->host->remove(w->c->host->core, w->name, id);
	}
	json_decref(ids);
}

/*
 * A node the core would refuse is left out, not its version: logged once
 * while the agent lists it so, not at every answer.
 */
static void
consul_watch_vet(struct consul_watch *w, json_t *services)
{
	json_t		*refused = json_object(), *why, *was;
	const char	*id;

	consul_health_vet(services, refused);
	json_object_foreach(refused, id, why) {
		was = json_object_get(w->refused, id);
		if (was == NULL || !json_equal(was, why))
			consul_log(w->c, LOG_LEVEL_WARN, "health %s: node %s "
			    "left out: %s", w->name, id, json_string_value(why));
	}
	json_decref(w->refused);
	w->refused = refused;
}

static void
consul_watch_apply(struct consul_watch *w, json_t *services)
{
	json_t		*svc, *taken = json_array(), *keep;
	size_t		 i;

	consul_watch_vet(w, services);
	json_array_foreach(services, i, svc) {
		if (consul_watch_deliver(w, svc) == 0)
			json_array_append(taken, svc);
	}
	keep = consul_watch_ids(taken);
	consul_watch_forget(w, keep);
	json_decref(keep);
	json_decref(w->services);
	w->services = taken;
}

/* The loop's part of a relist is done. */
static void
consul_watch_listed(struct consul_watch *w)
{
	if (!w->relist)
		return;
	w->relist = 0;
	w->c->relist_due--;
	consul_watch_check_relist(w->c);
}

/*
 * A relist goes on without the name (doc/plugins.md): what it delivered
 * last is delivered again, so that the end of the relist keeps it.
 */
static void
consul_watch_keep(struct consul_watch *w)
{
	const json_t	*svc;
	size_t		 i;

	json_array_foreach(w->services, i, svc)
		consul_watch_deliver(w, svc);
	consul_watch_listed(w);
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
	if (!w->relist)
		return;
	/*
	 * Waiting for the name would hold the relist, and with it the
	 * pruning of nodes deleted meanwhile, for as long as it fails. A
	 * refusal (a name no URL can carry, such as "..") will be the
	 * answer to every retry: the name counts as listing nothing. A 5xx,
	 * a 429 or a timeout may pass: a few tries, then it keeps what it
	 * listed last, and the loop goes on retrying.
	 */
	if (status >= 400 && status < 500 && status != 429)
		consul_watch_listed(w);
	else if (++w->relist_tries >= CONSUL_RELIST_TRIES)
		consul_watch_keep(w);
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
consul_watch_new(struct consul *c, const char *name)
{
	struct consul_watch	*w;

	w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->name = xstrdup(name);
	w->services = json_array();
	w->refused = json_object();
	w->relist = c->relisting;
	if (w->relist)
		c->relist_due++;
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
	if (w->relist)
		w->c->relist_due--;
	if (forget)
		consul_watch_forget(w, NULL);
	json_decref(w->services);
	json_decref(w->refused);
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
	c->relist_due = 0;
	c->host->relist_begin(c->host->core);
	/* a plain query soon, not the rest of a blocking one */
	for (w = c->watches; w != NULL; w = w->next) {
		consul_watch_stop(w);
		w->relist = 1;
		c->relist_due++;
		w->relist_tries = 0;
		w->index = 0;
		w->backoff_ms = 0;	/* a fresh run: its failure is warned of */
		tv = util_timeval(ms);
		evtimer_add(w->ev, &tv);
		ms += CONSUL_RELIST_STEP_MS;
	}
}

void
consul_watch_check_relist(struct consul *c)
{
	if (!c->relisting || c->relist_due > 0)
		return;
	c->relisting = 0;
	c->host->relist_end(c->host->core);
}
