/*
 * The registry core. Every change to a service name goes the same way:
 * copy its versions, change the copy, write the copy to sqlite (one
 * transaction), publish it to shm, and only then let it replace the old
 * versions. A failure at any step leaves the registry as it was, so the
 * file, shm and memory never disagree, but for one case: while the file
 * is read only, an expiry goes on without it, since a dead node must not
 * be served until the file can be written; the file gets it then, and a
 * restart meanwhile drops expired nodes by the deadlines the file keeps.
 * Not the backend's removals: its updates are refused meanwhile, so a
 * relist would sweep nodes it still has.
 *
 * TTL deadlines are monotonic in memory and wall-clock in the file (they
 * must mean the same after a restart); the heartbeat moves the stored ones
 * when the wall clock jumps. One timer is armed for the earliest deadline;
 * when it fires the whole registry is scanned once, and scans are at least
 * REGISTRY_EXPIRE_SLACK_MS apart so refreshes cannot make it spin. A scan
 * removes expired nodes for REGISTRY_EXPIRE_TURN_MS, then goes on at the
 * loop's next turn: a mass expiry (a partition, a restart after downtime)
 * must not keep registrations waiting for seconds.
 */
#include "config.h"

#include <sys/time.h>

#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "log.h"
#include "registry/core.h"
#include "registry/store.h"
#include "shm/registry.h"
#include "svc.h"
#include "util.h"

#define REGISTRY_EXPIRE_SLACK_MS	100
#define REGISTRY_HEARTBEAT_MS		1000
#define REGISTRY_RETRY_MS		1000	/* after a failed expiry */
#define REGISTRY_EXPIRE_TURN_MS		50	/* of expiry per loop turn */
#define REGISTRY_CLOCK_STEP_MS		1000	/* a jump, not drift */

struct registry_entry {
	char		*name;
	struct svc_set	 set;
	int		 unstored;	/* set is ahead of the file */
};

struct registry_core {
	struct event_base	*base;
	struct shm		*shm;
	unsigned		 slot;
	struct shm_writer	*writer;
	struct store		*store;
	void			*tree;		/* of struct registry_entry */
	uint64_t		 default_ttl_ms;

	struct event		*expire_ev;
	uint64_t		 expire_at;	/* deadline armed for, 0 */
	uint64_t		 last_scan;
	struct event		*heartbeat_ev;
	uint64_t		 wall_offset;	/* of the stored deadlines */
	int			 unstored;	/* some entry is */
	char			*unstored_error; /* said, until all stored */
	char			*shift_error;	/* said, until deadlines move */
	int			 handing_over;	/* close keeps the backend */

	const struct registry_backend *backend;
	void			*backend_state;
	struct registry_host	 host;
	struct registry_backend_conf backend_conf;
	uint64_t		 relist;	/* current relist generation */
	uint64_t		 lag_ms;	/* of the last backend change */
	struct timeval		 turn;		/* libevent's time of a turn */
	uint64_t		 turn_ms;	/* its first backend call */
};

/* Entries a walk selected, changed once the walk is over. */
struct registry_walk {
	svc_node_pred		  pred;
	void			 *arg;
	struct registry_entry	**v;
	size_t			  n;
	uint64_t		  next;		/* earliest deadline */
};

static const struct timeval registry_at_once = { 0, 0 };

static int
registry_entry_cmp(const void *a, const void *b)
{
	const struct registry_entry	*ea = a, *eb = b;

	return strcmp(ea->name, eb->name);
}

static void
registry_entry_free(void *p)
{
	struct registry_entry	*e = p;

	svc_set_clear(&e->set);
	free(e->name);
	free(e);
}

static struct registry_entry *
registry_find(struct registry_core *rc, const char *name)
{
	struct registry_entry	 key = { .name = (char *)name };
	void			*found;

	found = tfind(&key, &rc->tree, registry_entry_cmp);
	return found == NULL ? NULL : *(struct registry_entry **)found;
}

static struct registry_entry *
registry_get(struct registry_core *rc, const char *name)
{
	struct registry_entry	*e;

	if ((e = registry_find(rc, name)) != NULL)
		return e;
	e = xcalloc(1, sizeof(*e));
	e->name = xstrdup(name);
	if (tsearch(e, &rc->tree, registry_entry_cmp) == NULL)
		fatal("tsearch");
	return e;
}

/* An entry left empty goes, once the file no longer holds its name. */
static void
registry_tidy(struct registry_core *rc, struct registry_entry *e)
{
	if (e->set.n != 0 || e->unstored)
		return;
	tdelete(e, &rc->tree, registry_entry_cmp);
	registry_entry_free(e);
}

static uint32_t
registry_node_flags(const struct svc_node *n)
{
	const char	*proto;

	proto = json_string_value(json_object_get(n->metadata, "protocol"));
	return proto != NULL && strcmp(proto, "mucp") == 0 ? SHM_NODE_MUCP : 0;
}

/*
 * What shm is handed for a name's versions: their nodes, flat, and their
 * JSON; no JSON when there are no versions (the name goes).
 */
struct registry_rec {
	struct shm_node_in	*in;
	size_t			 n;
	char			*json;
};

/* r points into set, which must outlive it. */
static void
registry_rec_make(struct registry_rec *r, const struct svc_set *set)
{
	const struct svc	*v;
	size_t			 i, j;

	memset(r, 0, sizeof(*r));
	if (set->n == 0)
		return;
	r->in = xcalloc(svc_set_nodes(set), sizeof(*r->in));
	for (i = 0; i < set->n; i++) {
		v = set->v[i];
		for (j = 0; j < v->nnodes; j++, r->n++) {
			r->in[r->n].id = v->nodes[j].id;
			r->in[r->n].address = v->nodes[j].address;
			r->in[r->n].version = v->version;
			r->in[r->n].flags = registry_node_flags(&v->nodes[j]);
		}
	}
	r->json = svc_set_dump(set);
}

static void
registry_rec_free(struct registry_rec *r)
{
	free(r->in);
	free(r->json);
}

/*
 * A record past shm's maximum is refused however empty the segment is: a
 * change that needs one is the request's fault (400), like one past
 * SHM_NODES_MAX, found before anything is written, and no sign of a full
 * segment.
 */
static size_t
registry_rec_size(const char *name, const struct registry_rec *r)
{
	return r->json == NULL ? 0 :
	    shm_put_size(strlen(name), r->in, r->n, strlen(r->json));
}

static int
registry_rec_fits(struct registry_core *rc, const char *name,
    const struct registry_rec *r, char **cause)
{
	struct shm_stats	 st;
	size_t			 size;

	if (r->json == NULL)
		return 0;
	size = registry_rec_size(name, r);
	shm_stats(rc->shm, &st);
	if (size <= st.max_record)
		return 0;
	xasprintf(cause, "service %s would take %zu bytes in shm, more than "
	    "the %llu bytes one service name may take there (about a 32nd of "
	    "[microd] shm_size)", name, size,
	    (unsigned long long)st.max_record);
	return -1;
}

static int
registry_publish(struct registry_core *rc, const char *name,
    const struct registry_rec *r, char **cause)
{
	const char	*why;

	if (r->json == NULL) {
		shm_writer_delete(rc->writer, name, strlen(name));
		return 0;
	}
	if (shm_writer_put(rc->writer, name, strlen(name), r->in, r->n,
	    r->json, strlen(r->json), &why) == 0)
		return 0;
	xasprintf(cause, "service %s not published: %s", name, why);
	return -1;
}

/* Whether version s holds a node registered here. */
static int
registry_has_local(const struct svc *s)
{
	size_t	 i;

	for (i = 0; i < s->nnodes; i++) {
		if (s->nodes[i].relist == 0)
			return 1;
	}
	return 0;
}

/* Whether set holds node id as registered here, in any version. */
static int
registry_holds_local(const struct svc_set *set, const char *id)
{
	const struct svc_node	*n;
	size_t			 i;

	for (i = 0; i < set->n; i++) {
		if ((n = svc_find_node(set->v[i], id)) != NULL &&
		    n->relist == 0)
			return 1;
	}
	return 0;
}

/*
 * Nodes registered here that one version lost, as a Service, or NULL.
 * Not one that moved to another version: the store keys a node by
 * service and id, so its delete would take the key the node still uses.
 */
static struct svc *
registry_gone(const struct svc *old, const struct svc_set *next)
{
	const struct svc_node	*n;
	struct svc		*gone = NULL;
	size_t			 i;

	for (i = 0; i < old->nnodes; i++) {
		n = &old->nodes[i];
		if (n->relist != 0 || registry_holds_local(next, n->id))
			continue;
		if (gone == NULL)
			gone = svc_new(old->name, old->version,
			    json_incref(old->metadata),
			    json_incref(old->endpoints));
		svc_add_node(gone, n->id, n->address, json_incref(n->metadata),
		    0, 0);
	}
	return gone;
}

static void
registry_backend_del(struct registry_core *rc, const struct svc_set *old,
    const struct svc_set *next)
{
	struct svc	*gone;
	char		*json;
	size_t		 i;

	if (rc->backend->del == NULL)
		return;
	for (i = 0; i < old->n; i++) {
		if ((gone = registry_gone(old->v[i], next)) == NULL)
			continue;
		json = svc_dump(gone);
		rc->backend->del(rc->backend_state, json);
		free(json);
		svc_free(gone);
	}
}

/*
 * Node deadlines are on the monotonic clock in memory, so a wall clock
 * stepped back (NTP at boot) keeps no dead node alive, and on the wall
 * clock in the file, so that they mean the same after a restart or a
 * reboot. The offset from one to the other, as of now.
 */
static uint64_t
registry_wall_offset(void)
{
	return util_wall_ms() - util_now_ms();
}

/* Stored (wall clock) deadlines to ours; the past ones were dropped. */
static void
registry_loaded_deadlines(struct store_loaded *loaded, uint64_t offset)
{
	uint64_t	 now = util_now_ms();
	struct svc_node	*n;
	size_t		 i, j;

	for (i = 0; i < loaded->n; i++) {
		for (j = 0; j < loaded->v[i]->nnodes; j++) {
			n = &loaded->v[i]->nodes[j];
			if (n->expires != 0)
				n->expires = n->expires > offset + now ?
				    n->expires - offset : now;
		}
	}
}

static int
registry_commit_fail(struct registry_core *rc, struct registry_entry *e,
    struct svc_set *next)
{
	svc_set_clear(next);
	registry_tidy(rc, e);
	return -1;
}

/*
 * Whether every node of next is held in cur, as remote or not as there,
 * with a deadline no earlier (0: none, the latest): the file's deadline,
 * never later than ours, then still errs towards dropping the node.
 */
static int
registry_deadlines_later(const struct svc_set *cur, const struct svc_set *next)
{
	const struct svc_node	*n, *was;
	const struct svc	*s;
	size_t			 i, j;

	for (i = 0; i < next->n; i++) {
		s = svc_set_find(cur, next->v[i]->version);
		for (j = 0; j < next->v[i]->nnodes; j++) {
			n = &next->v[i]->nodes[j];
			if (s == NULL || (was = svc_find_node(s, n->id)) == NULL ||
			    (was->relist == 0) != (n->relist == 0) ||
			    (n->expires != 0 && (was->expires == 0 ||
			    n->expires < was->expires)))
				return 0;
		}
	}
	return 1;
}

/*
 * next holds what e holds but for node deadlines: a refresh (a service
 * registering again each interval). While the file is read only it goes
 * on without it: the file holds the nodes, at older deadlines (a restart
 * meanwhile errs towards dropping them); refused, live nodes would
 * expire.
 */
static int
registry_refresh_only(const struct svc_set *cur, const struct svc_set *next)
{
	char	*was, *now;
	int	 same;

	if (cur->n == 0 || !registry_deadlines_later(cur, next))
		return 0;
	was = svc_set_dump(cur);
	now = svc_set_dump(next);
	same = strcmp(was, now) == 0;
	free(was);
	free(now);
	return same;
}

/*
 * Whether why is news next to what *said holds (it is kept there then):
 * a failure tried again each second is logged once, not once a second
 * while the disk stays full. Takes why.
 */
static int
registry_news(char **said, char *why)
{
	if (*said != NULL && strcmp(*said, why) == 0) {
		free(why);
		return 0;
	}
	free(*said);
	*said = why;
	return 1;
}

/*
 * A change the file could not take (full, read only) kept in memory: a
 * read-only file is said when it is found so.
 */
static void
registry_unstored_failed(struct registry_core *rc, int rv, char *why)
{
	if (rv == STORE_READ_ONLY)
		free(why);
	else if (registry_news(&rc->unstored_error, why))
		log_warnx("registry database: %s; expiries and refreshes go "
		    "on in memory and are stored once it can be written",
		    rc->unstored_error);
}

static void
registry_unstored_caught_up(struct registry_core *rc)
{
	if (rc->unstored_error == NULL)
		return;
	log_info("registry database: the changes kept in memory are stored");
	free(rc->unstored_error);
	rc->unstored_error = NULL;
}

/* registry_commit, once r is known to fit. */
static int
registry_commit_rec(struct registry_core *rc, struct registry_entry *e,
    struct svc_set *next, const struct registry_rec *r, int unstored,
    char **cause)
{
	char	*why;
	int	 rv;

	rv = store_put(rc->store, e->name, next, rc->wall_offset, &why);
	if (rv != 0 && (unstored || registry_refresh_only(&e->set, next)))
		registry_unstored_failed(rc, rv, why);
	else if (rv != 0) {
		xasprintf(cause, "registry database: %s", why);
		free(why);
		registry_commit_fail(rc, e, next);
		return rv == STORE_READ_ONLY ? REGISTRY_UNAVAILABLE : -1;
	}
	if (registry_publish(rc, e->name, r, cause) == -1) {
		if (rv == 0 && store_put(rc->store, e->name, &e->set,
		    rc->wall_offset, &why) == -1) {
			log_warnx("%s: cannot undo database "
			    "change: %s", e->name, why);
			free(why);
		}
		return registry_commit_fail(rc, e, next);
	}
	registry_backend_del(rc, &e->set, next);
	svc_set_clear(&e->set);
	e->set = *next;
	if ((e->unstored = rv != 0))
		rc->unstored = 1;
	registry_tidy(rc, e);
	return 0;
}

/*
 * Whether r takes no more shm than e's versions take now: a name left out
 * of shm at its load for its size (shm_size lowered since) must still
 * lose nodes, expired or deregistered, or it would hold up every expiry
 * pass and keep its dead nodes for good.
 */
static int
registry_rec_shrinks(const struct registry_entry *e,
    const struct registry_rec *r)
{
	struct registry_rec	 cur;
	int			 smaller;

	registry_rec_make(&cur, &e->set);
	smaller = registry_rec_size(e->name, r) <=
	    registry_rec_size(e->name, &cur);
	registry_rec_free(&cur);
	return smaller;
}

/*
 * Make next the versions of e: persisted, published, then swapped in.
 * Takes next, whatever happens; e is gone if it is left empty (and
 * stored). REGISTRY_REFUSED, with nothing written, if shm could never
 * hold next and it is no smaller than what e holds (a smaller one is
 * stored, the name kept out of shm). With unstored, or for a refresh, a
 * file that cannot be written (read only, full) does not hold the change
 * back: e is marked, for registry_store_unstored. A restart meanwhile
 * finds the older deadlines the file holds and drops what has expired.
 */
static int
registry_commit(struct registry_core *rc, struct registry_entry *e,
    struct svc_set *next, int unstored, char **cause)
{
	struct registry_rec	 r;
	int			 rv;

	registry_rec_make(&r, next);
	if (registry_rec_fits(rc, e->name, &r, cause) == -1) {
		if (!registry_rec_shrinks(e, &r)) {
			registry_commit_fail(rc, e, next);
			registry_rec_free(&r);
			return REGISTRY_REFUSED;
		}
		/* Still too big, but smaller: kept out of shm, as at load. */
		free(*cause);
		*cause = NULL;
		registry_rec_free(&r);
		memset(&r, 0, sizeof(r));
	}
	rv = registry_commit_rec(rc, e, next, &r, unstored, cause);
	registry_rec_free(&r);
	return rv;
}

/* Remove the nodes of e that pred selects; unstored: registry_commit. */
static int
registry_prune(struct registry_core *rc, struct registry_entry *e,
    svc_node_pred pred, void *arg, int unstored, char **cause)
{
	struct svc_set	 next;

	svc_set_copy(&next, &e->set);
	if (svc_set_prune(&next, pred, arg) == 0) {
		svc_set_clear(&next);
		return 0;
	}
	return registry_commit(rc, e, &next, unstored, cause);
}

static void
registry_walk_visit(const void *nodep, VISIT which, void *arg)
{
	struct registry_entry	*e = *(struct registry_entry *const *)nodep;
	struct registry_walk	*w = arg;
	const struct svc_node	*n;
	size_t			 i, j;
	int			 hit = 0;

	if (which != postorder && which != leaf)
		return;
	for (i = 0; i < e->set.n; i++) {
		for (j = 0; j < e->set.v[i]->nnodes; j++) {
			n = &e->set.v[i]->nodes[j];
			if (w->pred(e->set.v[i], n, w->arg))
				hit = 1;
			else if (n->expires != 0 &&
			    (w->next == 0 || n->expires < w->next))
				w->next = n->expires;
		}
	}
	if (hit) {
		w->v = xrealloc(w->v, (w->n + 1) * sizeof(*w->v));
		w->v[w->n++] = e;
	}
}

/*
 * Prune the entries with nodes pred selects (unstored: registry_commit),
 * until the monotonic time until (0: all of them; *more says whether
 * some were left); the tree
 * cannot change under twalk, so entries are picked first and changed
 * after. Returns the earliest deadline of the nodes that stay, or a retry
 * time if a prune failed (a full disk must not leave dead nodes behind for
 * good). A name that fails does not stop the pass: one kept out of shm
 * (the segment full at the load) would fail every pass, and the names
 * after it keep their dead nodes for as long. until bounds the pass.
 */
static uint64_t
registry_prune_all(struct registry_core *rc, svc_node_pred pred, void *arg,
    int unstored, const char *why, uint64_t until, int *more)
{
	struct registry_walk	 w = { .pred = pred, .arg = arg };
	uint64_t		 retry;
	char			*cause;
	size_t			 i, failed = 0;
	int			 rv;

	twalk_r(rc->tree, registry_walk_visit, &w);
	*more = 0;
	for (i = 0; i < w.n; i++) {
		if (until != 0 && util_now_ms() >= until) {
			*more = 1;
			break;
		}
		if ((rv = registry_prune(rc, w.v[i], pred, arg, unstored,
		    &cause)) == 0)
			continue;
		/* One line a pass: each later name may fail alike. */
		if (rv != REGISTRY_UNAVAILABLE && failed++ == 0)
			log_warnx("%s: %s", why, cause);
		free(cause);
		retry = util_now_ms() + REGISTRY_RETRY_MS;
		if (w.next == 0 || retry < w.next)
			w.next = retry;
	}
	if (failed > 1)
		log_warnx("%s: %zu more names not done", why, failed - 1);
	free(w.v);
	return w.next;
}

static void
registry_arm(struct registry_core *rc, uint64_t deadline)
{
	struct timeval	 tv;
	uint64_t	 now, at;

	if (deadline == 0 || (rc->expire_at != 0 && rc->expire_at <= deadline))
		return;
	now = util_now_ms();
	at = deadline;
	if (at < rc->last_scan + REGISTRY_EXPIRE_SLACK_MS)
		at = rc->last_scan + REGISTRY_EXPIRE_SLACK_MS;
	tv = util_timeval(at > now ? at - now : 0);
	evtimer_add(rc->expire_ev, &tv);
	rc->expire_at = deadline;
}

static int
registry_is_expired(const struct svc *s, const struct svc_node *n,
    void *arg)
{
	const uint64_t	*now = arg;

	return n->expires != 0 && n->expires <= *now;
}

/* Expired nodes out for a turn; the rest at the loop's next turn. */
static void
registry_expire_pass(struct registry_core *rc)
{
	uint64_t	 now = util_now_ms(), next;
	int		 more;

	rc->last_scan = now;
	next = registry_prune_all(rc, registry_is_expired, &now, 1,
	    "expiring nodes", now + REGISTRY_EXPIRE_TURN_MS, &more);
	if (!more) {
		registry_arm(rc, next);
		return;
	}
	evtimer_add(rc->expire_ev, &registry_at_once);
	rc->expire_at = now;
}

static void
registry_expire(evutil_socket_t fd, short events, void *arg)
{
	struct registry_core	*rc = arg;

	rc->expire_at = 0;
	registry_expire_pass(rc);
}

/*
 * The wall clock jumped (an NTP step, a VM resumed): the stored deadlines
 * move with it, so that a restart finds what the monotonic ones have left.
 * Every row is written at the one offset the file keeps, so one statement
 * moves them all; jumps are rare, and drift stays under the tolerance.
 */
static void
registry_clock_check(struct registry_core *rc)
{
	uint64_t	 offset = registry_wall_offset();
	int64_t		 delta = (int64_t)(offset - rc->wall_offset);
	char		*cause;
	int		 rv;

	if (delta > -REGISTRY_CLOCK_STEP_MS && delta < REGISTRY_CLOCK_STEP_MS)
		return;
	/* Read only: moved once the file can be written (said at its load). */
	if ((rv = store_shift(rc->store, delta, &cause)) != 0) {
		if (rv == STORE_READ_ONLY)
			free(cause);
		else if (registry_news(&rc->shift_error, cause))
			log_warnx("wall clock moved %lld ms, stored deadlines "
			    "not moved: %s; tried again each second",
			    (long long)delta, rc->shift_error);
		return;
	}
	log_info("wall clock moved %lld ms, stored deadlines moved with it",
	    (long long)delta);
	rc->wall_offset = offset;
	free(rc->shift_error);
	rc->shift_error = NULL;
}

/*
 * The file deleted or replaced while no change comes: a restart would
 * not find the registry in it.
 */
static void
registry_store_keep(struct registry_core *rc)
{
	char	*cause;

	if (store_keep(rc->store, &cause) == -1) {
		log_warnx("registry database: %s", cause);
		free(cause);
	}
}

static void
registry_unstored_visit(const void *nodep, VISIT which, void *arg)
{
	struct registry_entry	*e = *(struct registry_entry *const *)nodep;
	struct registry_walk	*w = arg;

	if ((which == postorder || which == leaf) && e->unstored) {
		w->v = xrealloc(w->v, (w->n + 1) * sizeof(*w->v));
		w->v[w->n++] = e;
	}
}

/*
 * Expiries and refreshes the file could not take (read only, full),
 * stored once it can be written: each name as it is now, so none comes
 * back at a restart. At most REGISTRY_EXPIRE_TURN_MS of it per heartbeat:
 * after a mass expiry it takes seconds.
 */
static void
registry_store_unstored(struct registry_core *rc)
{
	struct registry_walk	 w = { 0 };
	uint64_t		 until;
	char			*why;
	size_t			 i;
	int			 rv;

	/* Still read only: no walk of the whole tree every second. */
	if (!rc->unstored || store_read_only(rc->store))
		return;
	twalk_r(rc->tree, registry_unstored_visit, &w);
	until = util_now_ms() + REGISTRY_EXPIRE_TURN_MS;
	for (i = 0; i < w.n && util_now_ms() < until; i++) {
		if ((rv = store_put(rc->store, w.v[i]->name, &w.v[i]->set,
		    rc->wall_offset, &why)) != 0) {
			registry_unstored_failed(rc, rv, why);
			break;
		}
		w.v[i]->unstored = 0;
		registry_tidy(rc, w.v[i]);
	}
	if (!(rc->unstored = i < w.n))
		registry_unstored_caught_up(rc);
	free(w.v);
}

static void
registry_heartbeat(evutil_socket_t fd, short events, void *arg)
{
	struct registry_core	*rc = arg;

	shm_writer_heartbeat(rc->writer);
	registry_store_keep(rc);
	registry_store_unstored(rc);
	registry_clock_check(rc);
}

/*
 * shm holds at most SHM_NODES_MAX nodes per name, across its versions: a
 * change past that is the request's fault (400), like a version past
 * SVC_NODES_MAX, not a failure of the registry (500, worth a retry).
 */
static int
registry_nodes_fit(const struct svc_set *set, const char *name, char **cause)
{
	if (svc_set_nodes(set) <= SHM_NODES_MAX)
		return 0;
	xasprintf(cause, "service %s would have more than %d nodes across "
	    "its versions", name, SHM_NODES_MAX);
	return -1;
}

/*
 * A node of in's name under another version than in's: in moves it. A
 * node id is one node of a name whatever its version, as the stores key
 * it (one etcd key, one Consul service): kept in both versions, the old
 * copy's expiry or deregistration would delete the new one's key.
 */
static int
registry_is_moved(const struct svc *s, const struct svc_node *n, void *arg)
{
	const struct svc	*in = arg;

	return strcmp(s->version, in->version) != 0 &&
	    svc_find_node(in, n->id) != NULL;
}

/*
 * Merge in into e's versions: register, or an update from the backend.
 * The nodes in lists leave the other versions they were in, in the same
 * commit. REGISTRY_REFUSED if in does not fit (too many nodes in the
 * version or the name, too many bytes for shm), -1 if the commit failed.
 */
static int
registry_merge(struct registry_core *rc, const struct svc *in, char **cause)
{
	struct registry_entry	*e = registry_get(rc, in->name);
	struct svc_set		 next;

	svc_set_copy(&next, &e->set);
	svc_set_prune(&next, registry_is_moved, (void *)in);
	if (svc_set_merge(&next, in, cause) == -1 ||
	    registry_nodes_fit(&next, in->name, cause) == -1) {
		registry_commit_fail(rc, e, &next);
		return REGISTRY_REFUSED;
	}
	return registry_commit(rc, e, &next, 0, cause);
}

int
registry_core_register(struct registry_core *rc, const char *json,
    size_t len, uint64_t ttl_ms, char **cause)
{
	struct svc	*s;
	uint64_t	 expires = 0;
	char		*text;
	size_t		 i;
	int		 rv;

	if (ttl_ms == REGISTRY_TTL_DEFAULT)
		ttl_ms = rc->default_ttl_ms;
	if (ttl_ms > REGISTRY_TTL_MAX_MS) {
		xasprintf(cause, "ttl is longer than a year; use 0 for none");
		return REGISTRY_REFUSED;
	}
	if ((s = svc_parse(json, len, SVC_NEED_NODES, cause)) == NULL)
		return REGISTRY_REFUSED;
	if (ttl_ms != 0)
		expires = util_now_ms() + ttl_ms;
	for (i = 0; i < s->nnodes; i++)
		s->nodes[i].expires = expires;
	if ((rv = registry_merge(rc, s, cause)) != 0) {
		if (rv == -1)
			log_warnx("registering %s: %s", s->name, *cause);
		svc_free(s);
		return rv;
	}
	registry_arm(rc, expires);
	if (rc->backend->put != NULL) {
		text = svc_dump(s);
		rc->backend->put(rc->backend_state, text, ttl_ms);
		free(text);
	}
	svc_free(s);
	return 0;
}

int
registry_core_deregister(struct registry_core *rc, const char *json,
    size_t len, char **cause)
{
	struct registry_entry	*e;
	struct svc		*s;
	struct svc_set		 next;
	int			 rv = 0;

	if ((s = svc_parse(json, len, SVC_IDS_ONLY, cause)) == NULL)
		return REGISTRY_REFUSED;
	/* go-micro: deregistering what is not there is not an error. */
	if ((e = registry_find(rc, s->name)) != NULL) {
		svc_set_copy(&next, &e->set);
		if (svc_set_remove(&next, s) == 0)
			svc_set_clear(&next);
		else if ((rv = registry_commit(rc, e, &next, 0,
		    cause)) == -1)
			log_warnx("deregistering %s: %s", s->name, *cause);
	}
	svc_free(s);
	return rv;
}

/*
 * Backends deliver from the callback that read the message, and etcd and
 * Consul events carry no timestamp of their own: a change's lag runs from
 * the first backend call of the loop turn, which a batch of changes waits
 * behind. libevent's cached time tells the turns apart, but is no clock to
 * measure with: it is wall clock at an offset libevent refreshes every 5 s
 * only, so right after a jump it is off by the jump.
 */
static void
registry_host_turn(struct registry_core *rc)
{
	struct timeval	 turn;

	if (event_base_gettimeofday_cached(rc->base, &turn) == 0 &&
	    timercmp(&turn, &rc->turn, !=)) {
		rc->turn = turn;
		rc->turn_ms = util_now_ms();
	}
}

/* A backend change has reached shm: how long since its turn began. */
static void
registry_host_lag(struct registry_core *rc)
{
	rc->lag_ms = util_now_ms() - rc->turn_ms;
}

/*
 * Backend callbacks (struct registry_host). What the store says about a
 * node registered here changes nothing: this host owns it and its TTL.
 */

/*
 * A backend's change not applied: logged, but not while the file is read
 * only (said once, at its load: each update would say it again).
 */
static void
registry_host_failed(int rv, char *cause)
{
	if (rv != REGISTRY_UNAVAILABLE)
		log_warnx("%s", cause);
	free(cause);
}

/*
 * What an update may change: s without the nodes registered here (in
 * any version), and with the metadata and endpoints this host gave the
 * version if it holds one of them. NULL when no node is left: a version's
 * metadata comes with its nodes.
 */
static struct svc *
registry_host_remote(const struct svc_set *set, const struct svc *s,
    uint64_t relist)
{
	const struct svc	*cur = svc_set_find(set, s->version), *head = s;
	const struct svc_node	*n;
	struct svc		*in;
	size_t			 i;

	if (cur != NULL && registry_has_local(cur))
		head = cur;
	in = svc_new(s->name, s->version, json_incref(head->metadata),
	    json_incref(head->endpoints));
	for (i = 0; i < s->nnodes; i++) {
		n = &s->nodes[i];
		if (!registry_holds_local(set, n->id))
			svc_add_node(in, n->id, n->address,
			    json_incref(n->metadata), 0, relist);
	}
	if (in->nnodes == 0) {
		svc_free(in);
		return NULL;
	}
	return in;
}

/*
 * A value the core refuses (it does not fit) is -1 too: the backend then
 * removes the nodes it names, which would be served at their old values
 * until the next relist otherwise.
 */
static int
registry_host_update(void *arg, const char *json, size_t len)
{
	struct registry_core	*rc = arg;
	struct registry_entry	*e;
	const struct svc_set	 none = { NULL, 0 };
	struct svc		*s, *in;
	char			*cause;
	int			 rv;

	registry_host_turn(rc);
	if ((s = svc_parse(json, len, 0, &cause)) == NULL) {
		log_warnx("%s backend: %s", rc->backend->name, cause);
		free(cause);
		return -1;
	}
	e = registry_find(rc, s->name);
	in = registry_host_remote(e != NULL ? &e->set : &none, s, rc->relist);
	svc_free(s);
	if (in == NULL)
		return 0;
	if ((rv = registry_merge(rc, in, &cause)) != 0)
		registry_host_failed(rv, cause);
	else
		registry_host_lag(rc);
	svc_free(in);
	return rv == REGISTRY_REFUSED ? -1 : 0;
}

static int
registry_is_remote_id(const struct svc *s, const struct svc_node *n,
    void *arg)
{
	return n->relist != 0 && strcmp(n->id, arg) == 0;
}

static void
registry_host_remove(void *arg, const char *name, const char *id)
{
	struct registry_core	*rc = arg;
	struct registry_entry	*e;
	char			*cause;
	int			 rv;

	registry_host_turn(rc);
	if ((e = registry_find(rc, name)) == NULL)
		return;
	if ((rv = registry_prune(rc, e, registry_is_remote_id, (void *)id, 0,
	    &cause)) != 0)
		registry_host_failed(rv, cause);
	else
		registry_host_lag(rc);
}

static void
registry_host_relist_begin(void *arg)
{
	struct registry_core	*rc = arg;

	rc->relist++;
}

static int
registry_is_stale(const struct svc *s, const struct svc_node *n, void *arg)
{
	const uint64_t	*relist = arg;

	return n->relist != 0 && n->relist < *relist;
}

static void
registry_host_relist_end(void *arg)
{
	struct registry_core	*rc = arg;
	int			 more;

	registry_host_turn(rc);
	registry_prune_all(rc, registry_is_stale, &rc->relist, 0,
	    "backend relist", 0, &more);
	registry_host_lag(rc);
}

static void
registry_host_sync(void *arg, const struct registry_sync *state)
{
	struct registry_core	*rc = arg;
	struct shm_sync		 sync;
	const char		*cause;

	memset(&sync, 0, sizeof(sync));
	snprintf(sync.backend, sizeof(sync.backend), "%s", rc->backend->name);
	sync.connected = state->connected;
	sync.revision = state->revision;
	sync.lag_ms = rc->lag_ms;
	sync.updated_ms = util_wall_ms();
	if (state->error != NULL)
		snprintf(sync.error, sizeof(sync.error), "%s", state->error);
	if (shm_writer_set_sync(rc->writer, &sync, &cause) == -1)
		log_warnx("sync state not published: %s", cause);
}

static void
registry_host_log(void *arg, int level, const char *msg)
{
	struct registry_core	*rc = arg;

	log_at(level, "%s backend: %s", rc->backend->name, msg);
}

static void
registry_publish_visit(const void *nodep, VISIT which, void *arg)
{
	struct registry_entry	*e = *(struct registry_entry *const *)nodep;
	struct registry_core	*rc = arg;
	struct registry_rec	 r;
	char			*cause;

	if (which != postorder && which != leaf)
		return;
	registry_rec_make(&r, &e->set);
	if (registry_rec_fits(rc, e->name, &r, &cause) == -1 ||
	    registry_publish(rc, e->name, &r, &cause) == -1) {
		log_warnx("%s", cause);
		free(cause);
	}
	registry_rec_free(&r);
}

struct registry_stale {
	struct registry_core	 *rc;
	char			**names;
	size_t			  n;
};

static int
registry_stale_visit(const struct shm_service *svc, void *arg)
{
	struct registry_stale	*st = arg;
	char			*name;

	name = xstrndup(svc->name, svc->name_len);
	if (registry_find(st->rc, name) != NULL) {
		free(name);
		return 0;
	}
	st->names = xrealloc(st->names, (st->n + 1) * sizeof(*st->names));
	st->names[st->n++] = name;
	return 0;
}

/* A killed predecessor may have published what the database never got. */
static void
registry_unpublish_stale(struct registry_core *rc)
{
	struct registry_stale	 st = { .rc = rc };
	size_t			 i;

	shm_read_begin(rc->shm, rc->slot);
	shm_foreach(rc->shm, registry_stale_visit, &st);
	shm_read_end(rc->shm);
	for (i = 0; i < st.n; i++) {
		shm_writer_delete(rc->writer, st.names[i], strlen(st.names[i]));
		free(st.names[i]);
	}
	free(st.names);
}

static void
registry_load(struct registry_core *rc, struct store_loaded *loaded)
{
	struct registry_entry	*e;
	char			*cause;
	size_t			 i;

	registry_loaded_deadlines(loaded, rc->wall_offset);
	for (i = 0; i < loaded->n; i++) {
		e = registry_get(rc, loaded->v[i]->name);
		if (svc_set_merge(&e->set, loaded->v[i], &cause) == -1) {
			log_warnx("stored %s", cause);
			free(cause);
		}
	}
	twalk_r(rc->tree, registry_publish_visit, rc);
	registry_unpublish_stale(rc);
	log_info("%zu service versions loaded, %zu expired nodes "
	    "dropped", loaded->n, loaded->expired);
}

/* One node of this host to the backend, with what is left of its TTL. */
static void
registry_announce_node(struct registry_core *rc, const struct svc *v,
    const struct svc_node *n, uint64_t now)
{
	struct svc	*one;
	uint64_t	 ttl_ms = 0;
	char		*text;

	if (n->expires != 0) {
		if (n->expires <= now)
			return;
		ttl_ms = n->expires - now;
	}
	one = svc_new(v->name, v->version, json_incref(v->metadata),
	    json_incref(v->endpoints));
	svc_add_node(one, n->id, n->address, json_incref(n->metadata),
	    n->expires, 0);
	text = svc_dump(one);
	rc->backend->put(rc->backend_state, text, ttl_ms);
	free(text);
	svc_free(one);
}

/*
 * A backend that has just opened learns this host's registrations again
 * (loaded from sqlite after a restart or a reload); remote nodes
 * (relist != 0) are the backend's own and are not written back.
 */
static void
registry_announce_visit(const void *nodep, VISIT which, void *arg)
{
	struct registry_entry	*e = *(struct registry_entry *const *)nodep;
	struct registry_core	*rc = arg;
	uint64_t		 now = util_now_ms();
	size_t			 i, j;

	if (which != postorder && which != leaf)
		return;
	for (i = 0; i < e->set.n; i++) {
		for (j = 0; j < e->set.v[i]->nnodes; j++) {
			if (e->set.v[i]->nodes[j].relist == 0)
				registry_announce_node(rc, e->set.v[i],
				    &e->set.v[i]->nodes[j], now);
		}
	}
}

static void
registry_host_init(struct registry_core *rc)
{
	rc->host.abi = REGISTRY_BACKEND_ABI;
	rc->host.base = rc->base;
	rc->host.conf = &rc->backend_conf;
	rc->host.core = rc;
	rc->host.update = registry_host_update;
	rc->host.remove = registry_host_remove;
	rc->host.relist_begin = registry_host_relist_begin;
	rc->host.relist_end = registry_host_relist_end;
	rc->host.sync = registry_host_sync;
	rc->host.log = registry_host_log;
}

static int
registry_start(struct registry_core *rc, const struct registry_core_conf *conf,
    char **cause)
{
	struct store_loaded	 loaded;
	const struct timeval	 beat = { REGISTRY_HEARTBEAT_MS / 1000, 0 };
	const char		*why;

	if ((rc->writer = shm_writer_open(rc->shm, &why)) == NULL) {
		xasprintf(cause, "shm registry: %s", why);
		return -1;
	}
	shm_writer_heartbeat(rc->writer);
	rc->wall_offset = registry_wall_offset();
	if ((rc->store = store_open(conf->db_path, util_wall_ms(), &loaded,
	    cause)) == NULL)
		return -1;
	registry_load(rc, &loaded);
	store_loaded_free(&loaded);
	registry_host_init(rc);
	if ((rc->backend_state = rc->backend->open(&rc->host, &why)) == NULL) {
		xasprintf(cause, "registry backend %s: %s", rc->backend->name,
		    why);
		return -1;
	}
	/*
	 * Not before the backend is open: what expires goes through its
	 * del, and a big load lets the deadlines of many nodes pass.
	 */
	registry_expire_pass(rc);
	if (rc->backend->put != NULL)
		twalk_r(rc->tree, registry_announce_visit, rc);
	evtimer_add(rc->heartbeat_ev, &beat);
	return 0;
}

struct registry_core *
registry_core_open(const struct registry_core_conf *conf,
    struct event_base *base, struct shm *shm, unsigned slot, char **cause)
{
	struct registry_core	*rc;

	rc = xcalloc(1, sizeof(*rc));
	rc->base = base;
	rc->shm = shm;
	rc->slot = slot;
	rc->backend = conf->backend;
	rc->backend_conf = conf->backend_conf;
	rc->default_ttl_ms = conf->backend_conf.ttl_ms;
	rc->relist = 1;		/* stored remote nodes: older than any relist */
	if ((rc->expire_ev = evtimer_new(base, registry_expire, rc)) == NULL ||
	    (rc->heartbeat_ev = event_new(base, -1, EV_PERSIST,
	    registry_heartbeat, rc)) == NULL)
		fatalx("event_new");
	if (registry_start(rc, conf, cause) == -1) {
		registry_core_close(rc);
		return NULL;
	}
	return rc;
}

void
registry_core_hand_over(struct registry_core *rc)
{
	rc->handing_over = 1;
	if (rc->backend->close != NULL)
		log_info("handing this host's registrations in %s over to "
		    "the new registry worker", rc->backend->name);
}

void
registry_core_close(struct registry_core *rc)
{
	if (rc == NULL)
		return;
	/* A process that exits: the backend's memory goes with it. */
	if (rc->backend_state != NULL && rc->backend->close != NULL &&
	    !rc->handing_over)
		rc->backend->close(rc->backend_state);
	free(rc->unstored_error);
	free(rc->shift_error);
	event_free(rc->expire_ev);
	event_free(rc->heartbeat_ev);
	tdestroy(rc->tree, registry_entry_free);
	store_close(rc->store);
	if (rc->writer != NULL)
		shm_writer_close(rc->writer);
	free(rc);
}
