#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctlproto.h"
#include "tui/model.h"
#include "util.h"

static int64_t
model_int(const msgpack_object *map, const char *key)
{
	int64_t	 v;

	if (ctl_obj_int(ctl_map_get(map, key), &v) == -1)
		return -1;
	return v;
}

/* A missing or non-string field leaves "", shown as "-". */
static void
model_str(const msgpack_object *map, const char *key, char *buf, size_t len)
{
	const msgpack_object	*o = ctl_map_get(map, key);
	size_t			 n;

	buf[0] = '\0';
	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return;
	n = o->via.str.size < len - 1 ? o->via.str.size : len - 1;
	memcpy(buf, o->via.str.ptr, n);
	buf[n] = '\0';
}

static double
model_double(const msgpack_object *map, const char *key)
{
	const msgpack_object	*o = ctl_map_get(map, key);

	if (o == NULL)
		return NAN;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return (double)o->via.u64;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return o->via.f64 >= 0 ? o->via.f64 : NAN;
	default:
		return NAN;
	}
}

static int
model_bool(const msgpack_object *map, const char *key)
{
	const msgpack_object	*o = ctl_map_get(map, key);

	if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN)
		return -1;
	return o->via.boolean;
}

static void
model_free_services(struct model_service *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(s[i].name);
	free(s);
}

void
model_init(struct model *m)
{
	memset(m, 0, sizeof(*m));
	model_clear(m);
}

void
model_clear(struct model *m)
{
	char	 host[sizeof(m->st.host)];

	free(m->workers);
	model_free_services(m->services, m->nservices);
	memset(m, 0, sizeof(*m));
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "-");
	host[sizeof(host) - 1] = '\0';
	memcpy(m->st.host, host, sizeof(host));
	m->st.pid = m->st.uptime = m->st.generation = m->st.workers = -1;
	m->st.revision = m->st.lag_ms = m->st.services = m->st.nodes = -1;
	m->st.connected = -1;
	m->req_rate = m->err_rate = NAN;
}

static void
model_crashloop(const msgpack_object *list, char *buf, size_t len)
{
	const msgpack_object	*o;
	uint32_t		 i;
	size_t			 at = 0;
	int			 n;

	buf[0] = '\0';
	if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY)
		return;
	for (i = 0; i < list->via.array.size && at < len; i++) {
		o = &list->via.array.ptr[i];
		if (o->type != MSGPACK_OBJECT_STR)
			continue;
		n = snprintf(buf + at, len - at, "%s%.*s", at ? " " : "",
		    (int)o->via.str.size, o->via.str.ptr);
		at += n > 0 ? (size_t)n : 0;
	}
}

static void
model_status(struct model_status *st, const msgpack_object *s)
{
	const msgpack_object	*reg = ctl_map_get(s, "registry");

	model_str(s, "version", st->version, sizeof(st->version));
	model_str(s, "reload_error", st->reload_error,
	    sizeof(st->reload_error));
	model_crashloop(ctl_map_get(s, "crashloop"), st->crashloop,
	    sizeof(st->crashloop));
	st->pid = model_int(s, "pid");
	st->uptime = model_int(s, "uptime");
	st->generation = model_int(s, "generation");
	st->workers = model_int(s, "workers");
	model_str(reg, "backend", st->backend, sizeof(st->backend));
	model_str(reg, "last_error", st->last_error, sizeof(st->last_error));
	st->connected = model_bool(reg, "connected");
	st->revision = model_int(reg, "revision");
	st->lag_ms = model_int(reg, "lag_ms");
	st->services = model_int(reg, "services");
	st->nodes = model_int(reg, "nodes");
	st->full_errors = model_int(reg, "full_errors");
	st->full = model_bool(reg, "full");
}

static double
model_rate(int64_t now, int64_t then, double secs)
{
	if (now < 0 || then < 0 || now < then || secs <= 0)
		return NAN;
	return (double)(now - then) / secs;
}

static const struct model_worker *
model_prev_worker(const struct model *m, const struct model_worker *w)
{
	size_t	 i;

	for (i = 0; i < m->nworkers; i++) {
		if (strcmp(m->workers[i].role, w->role) == 0 &&
		    m->workers[i].id == w->id && m->workers[i].pid == w->pid)
			return &m->workers[i];
	}
	return NULL;
}

static void
model_worker(struct model_worker *w, const msgpack_object *o)
{
	model_str(o, "role", w->role, sizeof(w->role));
	model_str(o, "state", w->state, sizeof(w->state));
	w->id = model_int(o, "id");
	w->pid = model_int(o, "pid");
	w->restarts = model_int(o, "restarts");
	w->started = model_int(o, "started");
	w->connections = model_int(o, "connections");
	w->requests = model_int(o, "requests");
	w->errors = model_int(o, "errors");
	w->cpu_ms = model_int(o, "cpu_ms");
	w->rss = model_int(o, "rss");
}

static void
model_worker_rates(const struct model *m, struct model_worker *w,
    double secs)
{
	const struct model_worker	*p;

	w->req_rate = w->err_rate = w->cpu_pct = NAN;
	if ((p = model_prev_worker(m, w)) == NULL)
		return;
	w->req_rate = model_rate(w->requests, p->requests, secs);
	w->err_rate = model_rate(w->errors, p->errors, secs);
	w->cpu_pct = model_rate(w->cpu_ms, p->cpu_ms, secs) / 10;
}

static void
model_totals(struct model *m)
{
	size_t	 i;

	m->req_rate = m->err_rate = NAN;
	for (i = 0; i < m->nworkers; i++) {
		if (isnan(m->workers[i].req_rate))
			continue;
		if (isnan(m->req_rate))
			m->req_rate = m->err_rate = 0;
		m->req_rate += m->workers[i].req_rate;
		if (!isnan(m->workers[i].err_rate))
			m->err_rate += m->workers[i].err_rate;
	}
}

/* bsearch: a msgpack string against a row's name, as strcmp orders. */
static int
model_name_cmp(const void *key, const void *row)
{
	const msgpack_object_str	*k = key;
	const char			*name = ((const struct model_service *)
					    row)->name;
	size_t				 len = strlen(name);
	int				 c;

	c = memcmp(k->ptr, name, k->size < len ? k->size : len);
	return c != 0 ? c : (k->size > len) - (k->size < len);
}

/* The row of a name: a binary search, as there may be thousands. */
static struct model_service *
model_find_service(const struct model *m, const msgpack_object *name)
{
	if (name == NULL || name->type != MSGPACK_OBJECT_STR ||
	    m->nservices == 0)
		return NULL;
	return bsearch(&name->via.str, m->services, m->nservices,
	    sizeof(*m->services), model_name_cmp);
}

/* Optional per-service counters: {"name","requests","p99_ms","healthy"}. */
static void
model_service_stats(struct model *m, const msgpack_object *list,
    double secs)
{
	const msgpack_object	*o;
	struct model_service	*s;
	int64_t			 requests;
	uint32_t		 i;

	if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY)
		return;
	for (i = 0; i < list->via.array.size; i++) {
		o = &list->via.array.ptr[i];
		if ((s = model_find_service(m, ctl_map_get(o, "name"))) ==
		    NULL)
			continue;
		requests = model_int(o, "requests");
		s->req_rate = model_rate(requests, s->requests, secs);
		s->requests = requests;
		s->healthy = model_int(o, "healthy");
		s->p99_ms = model_double(o, "p99_ms");
	}
}

int
model_apply_stats(struct model *m, const msgpack_object *data,
    uint64_t now_ms, const char **cause)
{
	const msgpack_object	*status, *list;
	struct model_worker	*ws;
	double			 secs;
	uint32_t		 i, n;

	status = ctl_map_get(data, "status");
	list = ctl_map_get(data, "workers");
	if (status == NULL || status->type != MSGPACK_OBJECT_MAP ||
	    list == NULL || list->type != MSGPACK_OBJECT_ARRAY) {
		*cause = "stats event without status and workers";
		return -1;
	}
	secs = m->samples > 0 ? (double)(now_ms - m->stats_ms) / 1000 : 0;
	model_status(&m->st, status);
	n = list->via.array.size;
	ws = xcalloc(n ? n : 1, sizeof(*ws));
	for (i = 0; i < n; i++) {
		model_worker(&ws[i], &list->via.array.ptr[i]);
		model_worker_rates(m, &ws[i], secs);
	}
	free(m->workers);
	m->workers = ws;
	m->nworkers = n;
	model_totals(m);
	model_service_stats(m, ctl_map_get(data, "services"), secs);
	m->stats_ms = now_ms;
	m->samples++;
	/* Service rates need two samples taken while the rows existed. */
	if (m->have_services)
		m->service_samples++;
	return 0;
}

static void
model_add_version(struct model_service *s, const char *version)
{
	size_t	 at = strlen(s->versions);

	if (*version == '\0')
		version = "-";
	snprintf(s->versions + at, sizeof(s->versions) - at, "%s%s",
	    at ? "," : "", version);
}

/* A Service object (one version) of a services reply, for sorting. */
struct model_entry {
	const char	*name;
	const json_t	*svc;
	size_t		 index;		/* in the reply: versions keep it */
};

static int
model_entry_cmp(const void *a, const void *b)
{
	const struct model_entry	*x = a, *y = b;
	int				 c = strcmp(x->name, y->name);

	return c != 0 ? c : (x->index > y->index) - (x->index < y->index);
}

/* The Service objects with a name, sorted by it; *n of them. */
static struct model_entry *
model_entries(const json_t *root, size_t *n)
{
	struct model_entry	*e;
	const json_t		*svc;
	const char		*name;
	size_t			 i;

	e = xcalloc(json_array_size(root) + 1, sizeof(*e));
	*n = 0;
	json_array_foreach(root, i, svc) {
		if ((name = json_string_value(json_object_get(svc, "name"))) ==
		    NULL)
			continue;
		e[*n] = (struct model_entry){ name, svc, i };
		(*n)++;
	}
	qsort(e, *n, sizeof(*e), model_entry_cmp);
	return e;
}

/* One version: merged into the last row when it has the same name. */
static void
model_add_service(struct model *m, const struct model_entry *e)
{
	struct model_service	*s = NULL;

	if (m->nservices > 0)
		s = &m->services[m->nservices - 1];
	if (s == NULL || strcmp(s->name, e->name) != 0) {
		s = &m->services[m->nservices++];
		memset(s, 0, sizeof(*s));
		s->name = xstrdup(e->name);
		s->healthy = s->requests = -1;
		s->req_rate = s->p99_ms = NAN;
	}
	model_add_version(s, json_string_value(json_object_get(e->svc,
	    "version")) ?: "");
	s->nodes += json_array_size(json_object_get(e->svc, "nodes"));
}

/*
 * Counters arrive with the stats: keep them across the new list. Both
 * lists are sorted by name, so one merge pass pairs them.
 */
static void
model_carry_counters(struct model_service *s, size_t n,
    const struct model_service *old, size_t nold)
{
	size_t	 i = 0, j = 0;
	int	 c;

	while (i < n && j < nold) {
		if ((c = strcmp(s[i].name, old[j].name)) < 0) {
			i++;
			continue;
		}
		if (c == 0) {
			s[i].healthy = old[j].healthy;
			s[i].requests = old[j].requests;
			s[i].req_rate = old[j].req_rate;
			s[i].p99_ms = old[j].p99_ms;
			i++;
		}
		j++;
	}
}

int
model_apply_services(struct model *m, const char *text, const char **cause)
{
	struct model_service	*old = m->services;
	struct model_entry	*entries;
	size_t			 nold = m->nservices, i, n;
	json_t			*root;

	if ((root = json_loads(text, 0, NULL)) == NULL ||
	    !json_is_array(root)) {
		json_decref(root);
		*cause = "services: not a JSON array";
		return -1;
	}
	entries = model_entries(root, &n);
	m->services = xcalloc(n + 1, sizeof(*m->services));
	m->nservices = 0;
	for (i = 0; i < n; i++)
		model_add_service(m, &entries[i]);
	free(entries);
	json_decref(root);
	model_carry_counters(m->services, m->nservices, old, nold);
	model_free_services(old, nold);
	m->have_services = 1;
	return 0;
}
