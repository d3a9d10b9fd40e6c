/*
 * Node selection state: a chained hash table of (service, node id) ->
 * counters, plus one entry per service (empty node id) counting its
 * picks. Two passes over the candidates, no allocation on the pick path
 * but a node's first entry. Ejections and answers are also published to
 * the host's node health tables (shm/nodehealth.h), for the master to
 * show.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rpc/select.h"
#include "shm/nodehealth.h"
#include "util.h"

#define SELECT_IDLE_MS		(5 * 60 * 1000)	/* then an entry may go */
#define SELECT_SWEEP_MIN	1024		/* entries before a sweep */
#define SELECT_BUCKETS_MIN	64

struct select_entry {
	struct select_entry	*next;
	uint64_t		 hash;
	unsigned		 outstanding;
	unsigned		 fails;		/* in a row */
	unsigned		 ejections;	/* in a row */
	uint64_t		 ejected_until;
	uint64_t		 last_ms;
	uint64_t		 addr;		/* hash of the address judged */
	uint64_t		 picked;	/* cursor when last picked */
	uint64_t		 cursor;	/* service entries: picks */
	size_t			 keylen;
	char			 key[];		/* service NUL id */
};

struct selector {
	struct select_config	  cfg;
	uint64_t		  rng;
	struct select_entry	**buckets;
	size_t			  nbuckets;
	size_t			  count;
	size_t			  sweep_at;
};

static const struct {
	const char		*name;
	enum select_policy	 policy;
} select_policies[] = {
	{ "random", SELECT_RANDOM },
	{ "roundrobin", SELECT_ROUNDROBIN },
	{ "leastconn", SELECT_LEASTCONN },
};

int
select_policy_parse(const char *name, enum select_policy *p)
{
	size_t	 i;

	for (i = 0; i < nitems(select_policies); i++) {
		if (strcmp(name, select_policies[i].name) == 0) {
			*p = select_policies[i].policy;
			return 0;
		}
	}
	return -1;
}

struct selector *
selector_new(const struct select_config *cfg, uint64_t seed)
{
	struct selector	*s = xcalloc(1, sizeof(*s));

	s->cfg = *cfg;
	s->rng = seed != 0 ? seed : 0x9e3779b97f4a7c15ULL;
	s->nbuckets = SELECT_BUCKETS_MIN;
	s->buckets = xcalloc(s->nbuckets, sizeof(*s->buckets));
	s->sweep_at = SELECT_SWEEP_MIN;
	return s;
}

void
selector_free(struct selector *s)
{
	struct select_entry	*e, *next;
	size_t			 i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nbuckets; i++) {
		for (e = s->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(s->buckets);
	free(s);
}

/* xorshift64*: fast, and good enough to spread load. */
static uint64_t
select_random(struct selector *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545f4914f6cdd1dULL;
}

/* The node's key: its id, or its address for a node without one. */
static const char *
select_node_key(const struct select_node *n)
{
	if (n == NULL)
		return "";
	if (n->id != NULL && *n->id != '\0')
		return n->id;
	return n->address != NULL ? n->address : "-";
}

/* FNV-1a over service NUL id. */
static uint64_t
select_hash(const char *svc, size_t svclen, const char *id, size_t idlen)
{
	uint64_t	 h;

	h = util_fnv1a(UTIL_FNV_BASIS, svc, svclen);
	return util_fnv1a(util_fnv1a(h, "", 1), id, idlen);
}

static void
select_grow(struct selector *s)
{
	struct select_entry	**b, *e, *next;
	size_t			  n = s->nbuckets * 2, i;

	b = xcalloc(n, sizeof(*b));
	for (i = 0; i < s->nbuckets; i++) {
		for (e = s->buckets[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

static int
select_idle(const struct select_entry *e, uint64_t now)
{
	return e->outstanding == 0 && e->ejected_until <= now &&
	    e->last_ms + SELECT_IDLE_MS <= now;
}

static void
select_sweep(struct selector *s, uint64_t now)
{
	struct select_entry	**pp, *e;
	size_t			  i;

	for (i = 0; i < s->nbuckets; i++) {
		for (pp = &s->buckets[i]; (e = *pp) != NULL;) {
			if (select_idle(e, now)) {
				*pp = e->next;
				free(e);
				s->count--;
			} else
				pp = &e->next;
		}
	}
	s->sweep_at = s->count * 2 > SELECT_SWEEP_MIN ? s->count * 2 :
	    SELECT_SWEEP_MIN;
}

/* The entry of (service, node), or of the service when node is NULL. */
static struct select_entry *
select_find(struct selector *s, const char *svc, const struct select_node *n,
    int create, uint64_t now)
{
	const char		*id = select_node_key(n);
	size_t			 svclen = strlen(svc), idlen = strlen(id);
	uint64_t		 h = select_hash(svc, svclen, id, idlen);
	struct select_entry	*e;

	for (e = s->buckets[h & (s->nbuckets - 1)]; e != NULL; e = e->next) {
		if (e->hash == h && e->keylen == svclen + 1 + idlen &&
		    memcmp(e->key, svc, svclen + 1) == 0 &&
		    memcmp(e->key + svclen + 1, id, idlen) == 0)
			return e;
	}
	if (!create)
		return NULL;
	if (s->count >= s->sweep_at)
		select_sweep(s, now);
	if (s->count >= s->nbuckets)
		select_grow(s);
	e = xcalloc(1, sizeof(*e) + svclen + 1 + idlen + 1);
	e->hash = h;
	e->keylen = svclen + 1 + idlen;
	memcpy(e->key, svc, svclen + 1);
	memcpy(e->key + svclen + 1, id, idlen + 1);
	e->last_ms = now;
	e->next = s->buckets[h & (s->nbuckets - 1)];
	s->buckets[h & (s->nbuckets - 1)] = e;
	s->count++;
	return e;
}

/*
 * The entry of a node, its health judged at its present address: the
 * same id at another address (moved, restarted elsewhere) starts afresh.
 */
static struct select_entry *
select_node_find(struct selector *s, const char *svc,
    const struct select_node *n, int create, uint64_t now)
{
	struct select_entry	*e = select_find(s, svc, n, create, now);
	const char		*a = n->address != NULL ? n->address : "";
	uint64_t		 h = util_fnv1a(UTIL_FNV_BASIS, a, strlen(a));

	if (e == NULL || e->addr == h)
		return e;
	if (e->ejected_until > now)
		nodehealth_ejected(svc, select_node_key(n), 0);
	e->addr = h;
	e->fails = 0;
	e->ejections = 0;
	e->ejected_until = 0;
	return e;
}

struct select_pass {
	struct selector		*s;
	const char		*service;
	const struct select_node *nodes;
	size_t			 n;
	const char		*version;
	const uint8_t		*tried;
	uint64_t		 now;
};

static int
select_eligible(const struct select_pass *p, size_t i)
{
	const char	*v = p->nodes[i].version;

	if (p->tried != NULL && p->tried[i])
		return 0;
	return p->version == NULL ||
	    strcmp(v != NULL ? v : "", p->version) == 0;
}

int
selector_ejected(struct selector *s, const char *service,
    const struct select_node *n, uint64_t now)
{
	struct select_entry	*e = select_node_find(s, service, n, 0, now);

	return e != NULL && e->ejected_until > now;
}

unsigned
selector_outstanding(struct selector *s, const char *service,
    const struct select_node *n)
{
	struct select_entry	*e = select_find(s, service, n, 0, 0);

	return e != NULL ? e->outstanding : 0;
}

/* Walk candidates of one class (ejected or not); cb returns 1 to stop. */
static ssize_t
select_walk(const struct select_pass *p, int ejected,
    int (*cb)(const struct select_pass *, size_t, size_t, void *), void *arg)
{
	size_t	 i, ord = 0;

	for (i = 0; i < p->n; i++) {
		if (!select_eligible(p, i) ||
		    selector_ejected(p->s, p->service, &p->nodes[i], p->now) !=
		    ejected)
			continue;
		if (cb(p, i, ord++, arg))
			return (ssize_t)i;
	}
	return -1;
}

static int
select_nth_cb(const struct select_pass *p, size_t i, size_t ord, void *arg)
{
	return ord == *(size_t *)arg;
}

/*
 * Round-robin is "least recently picked": a cursor shared by the calls of
 * every version filter and retry, taken modulo each one's candidate
 * count, would hand one filter's calls to the same node every time.
 */
struct select_least {
	int		 by_load;	/* leastconn: load first */
	size_t		 best;
	unsigned	 best_load;
	uint64_t	 best_pick;
	int		 found;
};

/* Least outstanding (leastconn), then least recently picked. */
static int
select_least_cb(const struct select_pass *p, size_t i, size_t ord, void *arg)
{
	struct select_least	*l = arg;
	struct select_entry	*e;
	unsigned		 load = 0;
	uint64_t		 pick = 0;

	if ((e = select_find(p->s, p->service, &p->nodes[i], 0, 0)) != NULL) {
		load = l->by_load ? e->outstanding : 0;
		pick = e->picked;
	}
	if (!l->found || load < l->best_load ||
	    (load == l->best_load && pick < l->best_pick)) {
		l->found = 1;
		l->best = i;
		l->best_load = load;
		l->best_pick = pick;
	}
	return 0;
}

static int
select_count_cb(const struct select_pass *p, size_t i, size_t ord, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

ssize_t
selector_pick(struct selector *s, const char *service,
    const struct select_node *nodes, size_t n, const char *version,
    const uint8_t *tried, uint64_t now)
{
	struct select_pass	 p = { s, service, nodes, n, version, tried, now };
	struct select_least	 l;
	struct select_entry	*svc;
	size_t			 count = 0, k;
	int			 ejected = 0;

	select_walk(&p, 0, select_count_cb, &count);
	if (count == 0) {
		ejected = 1;
		select_walk(&p, 1, select_count_cb, &count);
		if (count == 0)
			return -1;
	}
	if (s->cfg.policy == SELECT_RANDOM) {
		k = select_random(s) % count;
		return select_walk(&p, ejected, select_nth_cb, &k);
	}
	memset(&l, 0, sizeof(l));
	l.by_load = s->cfg.policy == SELECT_LEASTCONN;
	select_walk(&p, ejected, select_least_cb, &l);
	svc = select_find(s, service, NULL, 1, now);
	svc->last_ms = now;
	select_find(s, service, &nodes[l.best], 1, now)->picked =
	    ++svc->cursor;
	return (ssize_t)l.best;
}

void
selector_start(struct selector *s, const char *service,
    const struct select_node *n, uint64_t now)
{
	struct select_entry	*e = select_node_find(s, service, n, 1, now);

	e->outstanding++;
	e->last_ms = now;
}

/*
 * One line per ejection: it is what an operator asks about, and its
 * backoff bounds how often it comes.
 */
static void
select_fail(struct selector *s, struct select_entry *e,
    const struct select_node *n, uint64_t now)
{
	uint64_t	 ms;

	if (s->cfg.fail_max == 0 || ++e->fails < s->cfg.fail_max)
		return;
	e->fails = 0;
	ms = s->cfg.eject_ms;
	if (e->ejections < 32)
		ms <<= e->ejections;
	if (ms > s->cfg.eject_max_ms || ms < s->cfg.eject_ms)
		ms = s->cfg.eject_max_ms;
	e->ejections++;
	e->ejected_until = now + ms;
	/* key is "service" NUL "id". */
	nodehealth_ejected(e->key, e->key + strlen(e->key) + 1,
	    e->ejected_until);
	log_info("%s: node %s at %s ejected for %.3g s after %u failures in "
	    "a row", e->key, n->id, n->address, (double)ms / 1000,
	    s->cfg.fail_max);
}

void
selector_end(struct selector *s, const char *service,
    const struct select_node *n, enum select_outcome outcome, uint64_t now)
{
	struct select_entry	*e = select_node_find(s, service, n, 1, now);

	if (e->outstanding > 0)
		e->outstanding--;
	e->last_ms = now;
	if (outcome == SELECT_OK) {
		e->fails = 0;
		e->ejections = 0;
		/* Tried while ejected (every node was) and answered. */
		if (e->ejected_until > now) {
			e->ejected_until = 0;
			nodehealth_ejected(service, select_node_key(n), 0);
		}
		nodehealth_answered(service, select_node_key(n),
		    util_wall_ms());
	} else if (outcome == SELECT_FAILED)
		select_fail(s, e, n, now);
}
