/*
 * Copying the registry summary and the worker slots out of shm. The read
 * section only copies names and counts; sorting and formatting happen
 * after shm_read_end so a reader never holds back the writer's reclaim.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "microd/conf.h"
#include "shm/registry.h"
#include "util.h"
#include "web/model.h"
#include "workers/worker.h"

struct web_model_collect {
	struct web_services	*out;
	const char		*prefix;
	size_t			 prefix_len;
	size_t			 alloc;
};

static void
web_model_add_version(struct web_service *s, const char *version)
{
	size_t	 i;

	for (i = 0; i < s->nversions; i++)
		if (strcmp(s->versions[i], version) == 0)
			return;
	s->versions = xrealloc(s->versions,
	    (s->nversions + 1) * sizeof(*s->versions));
	s->versions[s->nversions++] = xstrdup(version);
}

static int
web_model_collect(const struct shm_service *svc, void *arg)
{
	struct web_model_collect	*c = arg;
	struct web_service		*s;
	struct shm_node			 node;
	size_t				 i;

	if (c->prefix_len > 0 && (svc->name_len < c->prefix_len ||
	    memcmp(svc->name, c->prefix, c->prefix_len) != 0))
		return 0;
	if (c->out->n == c->alloc) {
		c->alloc = c->alloc ? c->alloc * 2 : 64;
		c->out->v = xrealloc(c->out->v, c->alloc * sizeof(*c->out->v));
	}
	s = &c->out->v[c->out->n++];
	memset(s, 0, sizeof(*s));
	s->name = xstrndup(svc->name, svc->name_len);
	s->nnodes = svc->nnodes;
	/* A version exists while it has nodes: the nodes name them all. */
	for (i = 0; i < svc->nnodes; i++) {
		shm_service_node(svc, i, &node);
		web_model_add_version(s, node.version);
	}
	return 0;
}

static int
web_model_cmp(const void *a, const void *b)
{
	const struct web_service	*sa = a, *sb = b;

	return strcmp(sa->name, sb->name);
}

void
web_model_services(struct worker *w, const char *prefix,
    struct web_services *out)
{
	struct web_model_collect	 c;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.out = out;
	c.prefix = prefix;
	c.prefix_len = prefix != NULL ? strlen(prefix) : 0;
	out->generation = shm_generation(w->shm);
	shm_read_begin(w->shm, w->slot_index);
	shm_foreach(w->shm, web_model_collect, &c);
	shm_read_end(w->shm);
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), web_model_cmp);
}

void
web_model_services_free(struct web_services *ss)
{
	size_t	 i, j;

	for (i = 0; i < ss->n; i++) {
		for (j = 0; j < ss->v[i].nversions; j++)
			free(ss->v[i].versions[j]);
		free(ss->v[i].versions);
		free(ss->v[i].name);
	}
	free(ss->v);
	memset(ss, 0, sizeof(*ss));
}

static void
web_model_counters(struct micro_counters *to, struct micro_counters *from)
{
	memset(to, 0, sizeof(*to));
	to->requests = COUNTER_GET(from, requests);
	to->errors = COUNTER_GET(from, errors);
	to->bytes_in = COUNTER_GET(from, bytes_in);
	to->bytes_out = COUNTER_GET(from, bytes_out);
	to->connections = COUNTER_GET(from, connections);
}

void
web_model_slots(struct worker *w, struct web_slots *out)
{
	unsigned	 i, n = shm_nslots(w->shm);
	struct web_slot	*s;

	out->v = xcalloc(n, sizeof(*out->v));
	out->n = 0;
	for (i = 0; i < n; i++) {
		s = &out->v[out->n];
		shm_slot_info(w->shm, i, &s->info);
		if (s->info.state == SHM_SLOT_FREE || s->info.pid == 0)
			continue;
		s->index = i;
		web_model_counters(&s->counters, shm_slot_counters(w->shm, i));
		out->n++;
	}
}

void
web_model_slots_free(struct web_slots *ss)
{
	free(ss->v);
	memset(ss, 0, sizeof(*ss));
}

const char *
web_model_role(const struct web_slot *s)
{
	/* The master has a slot of its own, marked with ROLE_COUNT. */
	if (s->info.role == ROLE_COUNT)
		return "master";
	if (s->info.role > ROLE_COUNT)
		return "unknown";
	return config_role_name(s->info.role);
}

const char *
web_model_state(const struct web_slot *s)
{
	static const char *const names[] = {
		[SHM_SLOT_FREE] = "free",
		[SHM_SLOT_STARTING] = "starting",
		[SHM_SLOT_READY] = "running",
		[SHM_SLOT_DRAINING] = "draining",
		[SHM_SLOT_EXITED] = "exited",
	};

	if ((unsigned)s->info.state >= nitems(names))
		return "unknown";
	return names[s->info.state];
}
