/*
 * GET /events: a server-sent-events feed of the registry summary and the
 * worker slots, version 1 (doc/web.md). The worker polls the shm
 * generation (one load) every LIVE_POLL_MS and pushes a snapshot as soon
 * as it changes, and at least every LIVE_PUSH_MS for the counters. The
 * timer runs only while someone listens.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "http.h"
#include "util.h"
#include "web/html.h"
#include "web/model.h"
#include "web/web.h"
#include "workers/worker.h"

#define LIVE_VERSION		1
#define LIVE_POLL_MS		250
#define LIVE_PUSH_MS		1000
/* A client this far behind is dropped; its EventSource reconnects. */
#define LIVE_PENDING_MAX	(1024 * 1024)

struct live_client {
	TAILQ_ENTRY(live_client)	 entry;
	struct http_request		*req;
	struct web_live			*live;
};

struct web_live {
	struct worker			*w;
	TAILQ_HEAD(, live_client)	 clients;
	struct event			*tick;
	uint64_t			 generation;
	uint64_t			 pushed_ms;
	int				 closing;
};

static json_t *
live_services(const struct web_services *ss)
{
	json_t	*arr = json_array(), *o, *versions;
	size_t	 i, j;

	for (i = 0; i < ss->n; i++) {
		versions = json_array();
		for (j = 0; j < ss->v[i].nversions; j++)
			json_array_append_new(versions,
			    json_string(ss->v[i].versions[j]));
		o = json_pack("{s:s, s:o, s:I}", "name", ss->v[i].name,
		    "versions", versions, "nodes", (json_int_t)ss->v[i].nnodes);
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *
live_workers(const struct web_slots *ws)
{
	const struct web_slot	*s;
	json_t			*arr = json_array();
	size_t			 i;

	for (i = 0; i < ws->n; i++) {
		s = &ws->v[i];
		json_array_append_new(arr, json_pack("{s:I, s:s, s:I, s:I, "
		    "s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		    "slot", (json_int_t)s->index, "role", web_model_role(s),
		    "id", (json_int_t)s->info.id, "pid", (json_int_t)s->info.pid,
		    "state", web_model_state(s),
		    "generation", (json_int_t)s->info.generation,
		    "restarts", (json_int_t)s->info.restarts,
		    "started_ms", (json_int_t)s->info.started_ms,
		    "requests", (json_int_t)s->counters.requests,
		    "errors", (json_int_t)s->counters.errors,
		    "bytes_in", (json_int_t)s->counters.bytes_in,
		    "bytes_out", (json_int_t)s->counters.bytes_out,
		    "connections", (json_int_t)s->counters.connections));
	}
	return arr;
}

/*
 * One "snapshot" event: "event:", one "data:" line, a blank line; and the
 * shm generation it shows. A new client's first snapshot is not a push:
 * recording it would hide a change, and the next counters, from the others.
 */
static struct evbuffer *
live_snapshot(struct worker *w, uint64_t *generation)
{
	struct web_services	 ss;
	struct web_slots	 ws;
	struct evbuffer		*ev = evbuffer_new();
	json_t			*snap;
	char			*text;

	web_model_services(w, NULL, &ss);
	web_model_slots(w, &ws);
	snap = json_pack("{s:i, s:I, s:I, s:o, s:o}", "version", LIVE_VERSION,
	    "generation", (json_int_t)ss.generation,
	    "time_ms", (json_int_t)util_wall_ms(),
	    "services", live_services(&ss), "workers", live_workers(&ws));
	/* Compact JSON escapes newlines, so it fits one data: line. */
	text = json_dumps(snap, JSON_COMPACT);
	evbuffer_add_printf(ev, "event: snapshot\ndata: %s\n\n", text);
	free(text);
	json_decref(snap);
	*generation = ss.generation;
	web_model_services_free(&ss);
	web_model_slots_free(&ws);
	return ev;
}

static void
live_client_end(struct live_client *c)
{
	struct web_live	*live = c->live;

	TAILQ_REMOVE(&live->clients, c, entry);
	http_reply_end(c->req);
	free(c);
	if (TAILQ_EMPTY(&live->clients))
		evtimer_del(live->tick);
}

static void
live_push(struct web_live *live)
{
	struct live_client	*c, *next;
	struct evbuffer		*ev, *copy;

	ev = live_snapshot(live->w, &live->generation);
	live->pushed_ms = util_now_ms();
	for (c = TAILQ_FIRST(&live->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (http_reply_pending(c->req) > LIVE_PENDING_MAX) {
			live_client_end(c);
			continue;
		}
		copy = evbuffer_new();
		evbuffer_add_buffer_reference(copy, ev);
		http_reply_chunk_buffer(c->req, copy);
		evbuffer_free(copy);
	}
	evbuffer_free(ev);
}

static void
live_tick(evutil_socket_t fd, short events, void *arg)
{
	struct web_live	*live = arg;

	if (shm_generation(live->w->shm) != live->generation ||
	    util_now_ms() - live->pushed_ms >= LIVE_PUSH_MS)
		live_push(live);
}

/* The worker drains on SIGTERM; endless streams would hold it up. */
void
web_live_drain(struct web_live *live)
{
	live->closing = 1;
	while (!TAILQ_EMPTY(&live->clients))
		live_client_end(TAILQ_FIRST(&live->clients));
}

static void
live_cancel(struct http_request *req, void *arg)
{
	struct live_client	*c = arg;

	TAILQ_REMOVE(&c->live->clients, c, entry);
	if (TAILQ_EMPTY(&c->live->clients))
		evtimer_del(c->live->tick);
	http_request_release(req);
	free(c);
}

void
web_live_events(struct worker *w, struct http_request *req)
{
	struct web_live		*live = ((struct web *)w->role_data)->live;
	struct http_headers	*h = http_reply_headers(req);
	struct live_client	*c;
	struct evbuffer		*ev;
	struct timeval		 tv = { 0, LIVE_POLL_MS * 1000 };
	uint64_t		 generation;

	http_reply_data_headers(req);
	if (live->closing) {
		http_reply_error(req, 503, WEB_ID, "shutting down");
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->req = req;
	c->live = live;
	http_request_set_cancel_cb(req, live_cancel, c);
	http_headers_set(h, "Content-Type", "text/event-stream");
	http_headers_set(h, "Cache-Control", "no-store");
	http_headers_set(h, "X-Accel-Buffering", "no");
	http_reply_start(req, 200);
	http_reply_chunk(req, "retry: 2000\n\n", 13);
	ev = live_snapshot(w, &generation);
	http_reply_chunk_buffer(req, ev);
	evbuffer_free(ev);
	if (TAILQ_EMPTY(&live->clients)) {
		/* The only listener: this snapshot was its push. */
		live->generation = generation;
		live->pushed_ms = util_now_ms();
		evtimer_add(live->tick, &tv);
	}
	TAILQ_INSERT_TAIL(&live->clients, c, entry);
}

int
web_live_init(struct worker *w)
{
	struct web_live	*live = xcalloc(1, sizeof(*live));

	live->w = w;
	TAILQ_INIT(&live->clients);
	live->tick = event_new(w->base, -1, EV_PERSIST, live_tick, live);
	if (live->tick == NULL) {
		web_live_free(live);
		return -1;
	}
	((struct web *)w->role_data)->live = live;
	return 0;
}

void
web_live_free(struct web_live *live)
{
	if (live == NULL)
		return;
	while (!TAILQ_EMPTY(&live->clients))
		live_client_end(TAILQ_FIRST(&live->clients));
	if (live->tick != NULL)
		event_free(live->tick);
	free(live);
}
