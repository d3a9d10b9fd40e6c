/*
 * GET /metrics: Prometheus text exposition (format 0.0.4) of what shm
 * holds: every process's counters from its slot, and the registry's
 * figures. Nothing is asked of another process, so a scrape costs no
 * messages and sees workers that are stuck.
 *
 * Output is a list of sections; a section emits only figures that exist
 * in shm. A subsystem that publishes figures there (the broker) adds one
 * row to metrics_sections.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "broker/ring.h"
#include "http.h"
#include "shm/shm.h"
#include "shm/svcstats.h"
#include "util.h"
#include "web/html.h"
#include "web/model.h"
#include "web/web.h"
#include "workers/worker.h"

#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"
#define METRICS_DURATION	"microd_service_request_duration_seconds"

static void
metrics_family(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A label value: backslash, double quote and newline are escaped. */
static void
metrics_label_value(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(out, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

static uint64_t
metrics_requests(const struct web_slot *s)
{
	return s->counters.requests;
}

static uint64_t
metrics_errors(const struct web_slot *s)
{
	return s->counters.errors;
}

static uint64_t
metrics_bytes_in(const struct web_slot *s)
{
	return s->counters.bytes_in;
}

static uint64_t
metrics_bytes_out(const struct web_slot *s)
{
	return s->counters.bytes_out;
}

static uint64_t
metrics_connections(const struct web_slot *s)
{
	return s->counters.connections;
}

static uint64_t
metrics_restarts(const struct web_slot *s)
{
	return s->info.restarts;
}

static uint64_t
metrics_start_time(const struct web_slot *s)
{
	return s->info.started_ms / 1000;
}

/*
 * How the figures of one worker's processes combine (metrics_worker_value):
 * counters and connections add up, a restart count and a start time are
 * the newest process's, the largest.
 */
enum metrics_merge {
	METRICS_SUM,
	METRICS_MAX,
};

static const struct {
	const char		*name;
	const char		*type;
	const char		*help;
	uint64_t		(*value)(const struct web_slot *);
	enum metrics_merge	 merge;
} metrics_worker_families[] = {
	{ "microd_worker_requests_total", "counter",
	    "HTTP requests answered by the process.", metrics_requests,
	    METRICS_SUM },
	{ "microd_worker_errors_total", "counter",
	    "5xx answers and protocol errors.", metrics_errors, METRICS_SUM },
	{ "microd_worker_received_bytes_total", "counter",
	    "Bytes read from clients.", metrics_bytes_in, METRICS_SUM },
	{ "microd_worker_sent_bytes_total", "counter",
	    "Bytes written to clients.", metrics_bytes_out, METRICS_SUM },
	{ "microd_worker_connections", "gauge",
	    "Client connections open now.", metrics_connections, METRICS_SUM },
	{ "microd_worker_restarts_total", "counter",
	    "Times the master respawned this worker.", metrics_restarts,
	    METRICS_MAX },
	{ "microd_worker_start_time_seconds", "gauge",
	    "Start time of the process since the Unix epoch.",
	    metrics_start_time, METRICS_MAX },
};

/*
 * Labels: role, index within the role, and config generation (during a
 * reload the old and the new api/0 both run). Not the pid: it would make
 * a new series on every restart.
 */
static void
metrics_worker_sample(struct evbuffer *out, const char *name,
    const struct web_slot *s, uint64_t v)
{
	evbuffer_add_printf(out, "%s{role=\"", name);
	metrics_label_value(out, web_model_role(s));
	evbuffer_add_printf(out, "\",worker=\"%u\",generation=\"%u\"} %llu\n",
	    s->info.id, s->info.generation, (unsigned long long)v);
}

/* Whether two slots are processes of one series: the same labels. */
static int
metrics_same_worker(const struct web_slot *a, const struct web_slot *b)
{
	return a->info.role == b->info.role && a->info.id == b->info.id &&
	    a->info.generation == b->info.generation;
}

/*
 * A restarted api or web worker drains its websockets beside its
 * successor, of the same role, index and generation: one series holds
 * both, since two samples of one series are invalid exposition. What
 * the old process still counts stays in the sum until it exits; the drop
 * then reads as a counter reset, as after a crash. Returns 0 for a slot
 * an earlier one of the same worker has spoken for.
 */
static int
metrics_worker_value(const struct web_slots *ws, size_t first, size_t f,
    uint64_t *v)
{
	uint64_t	 x;
	size_t		 i;

	for (i = 0; i < first; i++)
		if (metrics_same_worker(&ws->v[i], &ws->v[first]))
			return 0;
	*v = 0;
	for (i = first; i < ws->n; i++) {
		if (!metrics_same_worker(&ws->v[i], &ws->v[first]))
			continue;
		x = metrics_worker_families[f].value(&ws->v[i]);
		if (metrics_worker_families[f].merge == METRICS_SUM)
			*v += x;
		else if (x > *v)
			*v = x;
	}
	return 1;
}

static void
metrics_workers(struct worker *w, struct evbuffer *out)
{
	struct web_slots	 ws;
	uint64_t		 v;
	size_t			 f, i;

	web_model_slots(w, &ws);
	for (f = 0; f < nitems(metrics_worker_families); f++) {
		metrics_family(out, metrics_worker_families[f].name,
		    metrics_worker_families[f].type,
		    metrics_worker_families[f].help);
		for (i = 0; i < ws.n; i++)
			if (metrics_worker_value(&ws, i, f, &v))
				metrics_worker_sample(out,
				    metrics_worker_families[f].name, &ws.v[i],
				    v);
	}
	web_model_slots_free(&ws);
}

static void
metrics_value(struct evbuffer *out, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metrics_family(out, name, type, help);
	evbuffer_add_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

static void
metrics_registry_sync(struct worker *w, struct evbuffer *out)
{
	struct shm_sync	 sync;

	shm_read_begin(w->shm, w->slot_index);
	shm_read_sync(w->shm, &sync);
	shm_read_end(w->shm);
	sync.backend[sizeof(sync.backend) - 1] = '\0';
	metrics_family(out, "microd_registry_backend_connected", "gauge",
	    "1 while the registry backend is connected.");
	evbuffer_add_printf(out, "microd_registry_backend_connected"
	    "{backend=\"");
	metrics_label_value(out, sync.backend);
	evbuffer_add_printf(out, "\"} %d\n", sync.connected ? 1 : 0);
	metrics_value(out, "microd_registry_backend_revision", "gauge",
	    "Last backend revision (etcd) or index (Consul) applied.",
	    sync.revision);
	metrics_family(out, "microd_registry_sync_lag_seconds", "gauge",
	    "Delay from a backend event to its publication in shm.");
	evbuffer_add_printf(out, "microd_registry_sync_lag_seconds %.3f\n",
	    sync.lag_ms / 1000.0);
}

static void
metrics_registry(struct worker *w, struct evbuffer *out)
{
	struct shm_stats	 st;

	shm_stats(w->shm, &st);
	metrics_value(out, "microd_registry_services", "gauge",
	    "Services registered.", st.services);
	metrics_value(out, "microd_registry_nodes", "gauge",
	    "Nodes registered, over every service.", st.nodes);
	metrics_value(out, "microd_registry_updates_total", "counter",
	    "Registry publications (the shm generation).", st.generation);
	metrics_value(out, "microd_registry_puts_total", "counter",
	    "Service records written.", st.puts);
	metrics_value(out, "microd_registry_deletes_total", "counter",
	    "Service records deleted.", st.deletes);
	metrics_family(out, "microd_registry_put_errors_total", "counter",
	    "Service records refused.");
	evbuffer_add_printf(out, "microd_registry_put_errors_total"
	    "{reason=\"full\"} %llu\nmicrod_registry_put_errors_total"
	    "{reason=\"reader_stalled\"} %llu\n",
	    (unsigned long long)st.full_errors,
	    (unsigned long long)st.wait_errors);
	metrics_value(out, "microd_registry_writer_starts_total", "counter",
	    "Times a registry writer opened the segment.", st.writer_starts);
	metrics_value(out, "microd_registry_resets_total", "counter",
	    "Times a registry writer found the cache corrupt and emptied it.",
	    st.resets);
	metrics_value(out, "microd_shm_arena_bytes", "gauge",
	    "Size of the registry arena.", st.arena_size);
	metrics_value(out, "microd_shm_arena_used_bytes", "gauge",
	    "Arena bytes in use, dead records included.", st.bytes_used);
	metrics_value(out, "microd_shm_arena_live_bytes", "gauge",
	    "Arena bytes held by live records.", st.bytes_live);
	metrics_registry_sync(w, out);
}

/* name{service="S"[,le="LE"]} and a space: the value follows. */
static void
metrics_service_sample(struct evbuffer *out, const char *name,
    const struct svcstats_service *s, const char *le)
{
	evbuffer_add_printf(out, "%s{service=\"", name);
	metrics_label_value(out, s->name);
	if (le != NULL)
		evbuffer_add_printf(out, "\",le=\"%s", le);
	evbuffer_add(out, "\"} ", 3);
}

static void
metrics_service_histogram(struct evbuffer *out,
    const struct svcstats_service *s)
{
	char		 le[32];
	uint64_t	 below = 0;
	size_t		 i;

	for (i = 0; i < SVCSTATS_BUCKETS; i++) {
		if (i < SVCSTATS_BOUNDS)
			snprintf(le, sizeof(le), "%g",
			    (double)svcstats_bounds_us[i] / 1e6);
		else
			snprintf(le, sizeof(le), "+Inf");
		below += s->buckets[i];
		metrics_service_sample(out, METRICS_DURATION "_bucket", s, le);
		evbuffer_add_printf(out, "%llu\n", (unsigned long long)below);
	}
	metrics_service_sample(out, METRICS_DURATION "_sum", s, NULL);
	evbuffer_add_printf(out, "%.6f\n", (double)s->sum_us / 1e6);
	metrics_service_sample(out, METRICS_DURATION "_count", s, NULL);
	evbuffer_add_printf(out, "%llu\n", (unsigned long long)s->requests);
}

static uint64_t
metrics_service_requests(const struct svcstats_service *s)
{
	return s->requests;
}

static uint64_t
metrics_service_errors(const struct svcstats_service *s)
{
	return s->errors;
}

static void
metrics_service_counter(struct evbuffer *out, const char *name,
    const char *help, const struct svcstats_service *v, size_t n,
    uint64_t (*value)(const struct svcstats_service *))
{
	size_t	 i;

	metrics_family(out, name, "counter", help);
	for (i = 0; i < n; i++) {
		metrics_service_sample(out, name, &v[i], NULL);
		evbuffer_add_printf(out, "%llu\n",
		    (unsigned long long)value(&v[i]));
	}
}

/*
 * Calls and proxied requests through this host's workers, by service
 * (shm/svcstats.h): the sums never go backwards while the master runs.
 */
static void
metrics_services(struct worker *w, struct evbuffer *out)
{
	struct svcstats_service	*v;
	size_t			 i, n;

	v = svcstats_collect(&n);
	metrics_service_counter(out, "microd_service_requests_total",
	    "Requests to the service through this host.", v, n,
	    metrics_service_requests);
	metrics_service_counter(out, "microd_service_errors_total",
	    "Of those, 5xx answers and transport failures.", v, n,
	    metrics_service_errors);
	metrics_family(out, METRICS_DURATION, "histogram",
	    "Time from the request to the end of the answer.");
	for (i = 0; i < n; i++)
		metrics_service_histogram(out, &v[i]);
	free(v);
}

/* The broker's counters, summed over every broker and sidecar process. */
static void
metrics_broker(struct worker *w, struct evbuffer *out)
{
	static const struct {
		enum bring_counter	 counter;
		const char		*name;
		const char		*help;
	} fams[] = {
		{ BRING_PUBLISHED, "microd_broker_messages_published_total",
		    "Messages published to the broker." },
		{ BRING_DELIVERED, "microd_broker_messages_delivered_total",
		    "Copies queued to subscribers." },
		{ BRING_DROPPED, "microd_broker_subscribers_dropped_total",
		    "Subscribers disconnected for not keeping up." },
		{ BRING_LOST, "microd_broker_messages_lost_total",
		    "Messages a lapped reader skipped (at-most-once)." },
		{ BRING_UNROUTED, "microd_broker_messages_unrouted_total",
		    "Queue-group copies whose member had left." },
	};
	uint64_t	 c[BRING_NCOUNTERS];
	size_t		 i;

	bring_stats(c);
	for (i = 0; i < nitems(fams); i++)
		metrics_value(out, fams[i].name, "counter", fams[i].help,
		    c[fams[i].counter]);
}

static void (*const metrics_sections[])(struct worker *, struct evbuffer *) = {
	metrics_workers,
	metrics_registry,
	metrics_services,
	metrics_broker,
};

void
web_metrics(struct worker *w, struct http_request *req)
{
	struct evbuffer	*out = evbuffer_new();
	size_t		 i;

	for (i = 0; i < nitems(metrics_sections); i++)
		metrics_sections[i](w, out);
	http_reply_data_headers(req);
	http_headers_set(http_reply_headers(req), "Cache-Control", "no-store");
	http_reply_buffer(req, 200, METRICS_CONTENT_TYPE, out);
	evbuffer_free(out);
}
