/*
 * This host's registrations in etcd. Each node is a key on a lease of its
 * registration TTL (one lease per distinct TTL, kept alive at a third of
 * it), so a host that dies takes its keys with it once the lease runs
 * out. A write that fails (a put, a delete, a grant or a keepalive) is
 * tried again on a timer backing off, and everything on reconnection:
 * the store converges to what the core holds.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "log.h"
#include "plugins/etcd-client.h"
#include "plugins/etcd.h"
#include "util.h"

#define ETCD_LEASE_DEFAULT_MS	30000
#define ETCD_TICK_MIN_MS	500

struct etcd_lease {
	struct etcd		*e;
	int64_t			 ttl_s;
	int64_t			 id;		/* 0: none granted yet */
	struct curlev_xfer	*xfer;		/* grant or keepalive */
	struct event		*tick;
	size_t			 refs;
	int			 failed;	/* the last grant or keepalive */
	struct etcd_lease	*next;
};

/*
 * A key deregistered here is kept, without a value or lease, until its
 * delete is stored: one made while etcd is away is sent again on
 * reconnection, one that fails soon after (its lease may be kept alive by
 * other keys, so nothing else would ever remove it), and one made while
 * its put is out waits for it, so the put cannot land after the delete.
 */
struct etcd_local {
	struct etcd		*e;
	char			*key;
	char			*value;		/* NULL: to be deleted */
	struct etcd_lease	*lease;		/* the key belongs on it */
	/*
	 * The leases the key may still be on, one reference each. Revoking
	 * a lease deletes the keys on it, so each is let go only once a put
	 * that moved the key to another lease is stored, and never the one
	 * the last stored put used: watchers never see the node vanish,
	 * however fast its TTL changes.
	 */
	struct etcd_lease	**leaving;
	size_t			 nleaving;
	int			 dirty;		/* store may not have value,
						   or the delete */
	struct curlev_xfer	*xfer;		/* put or delete */
	struct etcd_lease	*putting;	/* the lease xfer puts it on */
	struct etcd_local	*next;
};

static void	etcd_lease_tick(evutil_socket_t, short, void *);
static void	etcd_lease_unref(struct etcd_lease *);
static void	etcd_local_unlink(struct etcd_local *);

/* What went wrong with a request, allocated. */
static char *
etcd_local_error(struct curlev_xfer *x, CURLcode rv, long status)
{
	char	*msg, *error;

	if (rv != CURLE_OK)
		return xstrdup(x->error);
	msg = etcd_parse_error(x->body != NULL ? x->body : "", x->len);
	xasprintf(&error, "HTTP %ld: %s", status, msg);
	free(msg);
	return error;
}

/* etcd does not know the lease a request named (expired, revoked). */
static int
etcd_local_lease_unknown(struct curlev_xfer *x, CURLcode rv)
{
	return rv == CURLE_OK && x->body != NULL &&
	    strstr(x->body, "not found") != NULL;
}

/*
 * A write refused or unanswered is tried again soon, and again backing
 * off, however long the lease ticks are: the next tick would be a third
 * of the TTL away, when a lease may run out after two failed keepalives
 * and a deleted node, its lease kept alive by this host's other nodes,
 * stays in the store for every other host to route to. One warning per
 * run of failures (etcd_local_stored ends it).
 */
static void
etcd_local_failed(struct etcd *e, const char *what, const char *error)
{
	struct timeval	 tv;

	if (e->rewrite_ms == 0) {
		etcd_log(e, LOG_LEVEL_WARN, "%s: %s: retrying", what, error);
		e->rewrite_ms = etcd_backoff_next(0);
	}
	if (!evtimer_pending(e->rewrite, NULL)) {
		tv = util_timeval(e->rewrite_ms);
		evtimer_add(e->rewrite, &tv);
	}
}

/*
 * A write is stored, or retried: the run of failures ends once none is
 * left to write, nor out (a retry may fail again).
 */
static void
etcd_local_stored(struct etcd *e)
{
	struct etcd_local	*l;
	struct etcd_lease	*ls;

	if (e->rewrite_ms == 0)
		return;
	for (l = e->locals; l != NULL; l = l->next)
		if (l->dirty || l->xfer != NULL)
			return;
	for (ls = e->leases; ls != NULL; ls = ls->next)
		if (ls->failed)
			return;
	/* Its retry, still due, would start a run of its own. */
	evtimer_del(e->rewrite);
	e->rewrite_ms = 0;
	etcd_log(e, LOG_LEVEL_INFO, "writes stored again");
}

static void
etcd_local_write_failed(struct etcd_local *l, const char *error)
{
	char	 what[ETCD_KEY_LOGGED + 8], kbuf[ETCD_KEY_LOGGED];

	snprintf(what, sizeof(what), "%s %s", l->value != NULL ? "put" :
	    "delete", util_printable(l->key, kbuf, sizeof(kbuf)));
	l->dirty = 1;
	etcd_local_failed(l->e, what, error);
}

/*
 * A revoke nobody waits for: the keys on the lease have moved or are
 * being deleted, and if it fails the lease runs out by itself.
 */
static void
etcd_lease_revoked(struct curlev_xfer *x, CURLcode rv, long status)
{
	char	*error;

	if (rv == CURLE_OK && status == 200)
		return;
	error = etcd_local_error(x, rv, status);
	etcd_log(x->arg, LOG_LEVEL_WARN, "lease revoke: %s", error);
	free(error);
}

static void
etcd_lease_revoke(struct etcd *e, int64_t id)
{
	const char	*cause;

	if (etcd_client_post(e->client, "/v3/lease/revoke", etcd_req_lease(id),
	    etcd_lease_revoked, e, &cause) == NULL)
		etcd_log(e, LOG_LEVEL_WARN, "lease %llx revoke: %s",
		    (long long)id, cause);
}

static void	etcd_local_flush(struct etcd_local *);

/* The key may still be on ls: hold it until a put moves the key off. */
static void
etcd_local_leave(struct etcd_local *l, struct etcd_lease *ls)
{
	size_t	 i;

	for (i = 0; i < l->nleaving; i++) {
		if (l->leaving[i] == ls) {
			etcd_lease_unref(ls);
			return;
		}
	}
	l->leaving = xrealloc(l->leaving,
	    (l->nleaving + 1) * sizeof(*l->leaving));
	l->leaving[l->nleaving++] = ls;
}

/* A put on ls is stored: the key is on ls alone, the others may go. */
static void
etcd_local_moved(struct etcd_local *l, struct etcd_lease *ls)
{
	size_t	 i, kept = 0;

	for (i = 0; i < l->nleaving; i++) {
		if (l->leaving[i] == ls && ls != l->lease)
			l->leaving[kept++] = ls;
		else
			etcd_lease_unref(l->leaving[i]);
	}
	l->nleaving = kept;
}

static void
etcd_local_write_done(struct curlev_xfer *x, CURLcode rv, long status)
{
	struct etcd_local	*l = x->arg;
	struct etcd		*e = l->e;
	char			*error;

	l->xfer = NULL;
	if (rv != CURLE_OK || status != 200) {
		error = etcd_local_error(x, rv, status);
		etcd_local_write_failed(l, error);
		free(error);
		/* its lease is gone: another, before the put is tried again */
		if (l->putting != NULL && etcd_local_lease_unknown(x, rv))
			etcd_lease_tick(-1, 0, l->putting);
		return;
	}
	if (l->value == NULL && !l->dirty)	/* the delete is stored */
		etcd_local_unlink(l);
	else {
		etcd_local_moved(l, l->putting);
		if (l->dirty)
			etcd_local_flush(l);
	}
	etcd_local_stored(e);
}

static void
etcd_local_flush(struct etcd_local *l)
{
	struct etcd	*e = l->e;
	const char	*cause;

	if (!e->connected || l->xfer != NULL ||
	    (l->lease != NULL && l->lease->id == 0))
		return;
	l->dirty = 0;
	l->putting = l->lease;
	if (l->value == NULL)
		l->xfer = etcd_client_post(e->client, "/v3/kv/deleterange",
		    etcd_req_delete(l->key), etcd_local_write_done, l, &cause);
	else
		l->xfer = etcd_client_post(e->client, "/v3/kv/put",
		    etcd_req_put(l->key, l->value, l->lease->id),
		    etcd_local_write_done, l, &cause);
	if (l->xfer == NULL)
		etcd_local_write_failed(l, cause);
}

static void
etcd_lease_flush(struct etcd_lease *ls, int all)
{
	struct etcd_local	*l;

	for (l = ls->e->locals; l != NULL; l = l->next) {
		/* a delete still due goes with any lease's answer */
		if (l->lease != ls && l->value != NULL)
			continue;
		if (all && l->value != NULL)
			l->dirty = 1;
		if (l->dirty)
			etcd_local_flush(l);
	}
}

static void
etcd_lease_free(struct etcd_lease *ls)
{
	curlev_cancel(ls->xfer);
	event_free(ls->tick);
	free(ls);
}

static void
etcd_lease_drop(struct etcd_lease *ls)
{
	struct etcd		*e = ls->e;
	struct etcd_lease	**pp;

	for (pp = &e->leases; *pp != ls; pp = &(*pp)->next)
		;
	*pp = ls->next;
	if (ls->id != 0 && e->connected)
		etcd_lease_revoke(e, ls->id);
	etcd_lease_free(ls);
}

static void
etcd_lease_failed(struct etcd_lease *ls, const char *error)
{
	char	 what[64];

	if (ls->id == 0)
		snprintf(what, sizeof(what), "lease grant (%llds TTL)",
		    (long long)ls->ttl_s);
	else
		snprintf(what, sizeof(what), "lease %llx keepalive",
		    (long long)ls->id);
	ls->failed = 1;
	etcd_local_failed(ls->e, what, error);
}

static void
etcd_lease_answer(struct etcd_lease *ls, struct curlev_xfer *x, CURLcode rv,
    long status)
{
	int64_t	 id, ttl;
	char	*error;
	int	 granted = ls->id == 0;

	if (rv != CURLE_OK || status != 200) {
		error = etcd_local_error(x, rv, status);
		etcd_lease_failed(ls, error);
		free(error);
		/* an unknown lease is answered with an error: start over */
		if (etcd_local_lease_unknown(x, rv))
			ls->id = 0;
		return;
	}
	if (etcd_parse_lease(x->body, x->len, &id, &ttl, &error) == -1) {
		etcd_lease_failed(ls, error);
		free(error);
		return;
	}
	ls->failed = 0;
	if (ttl <= 0 || id == 0) {
		etcd_log(ls->e, LOG_LEVEL_INFO, "lease %llx expired, granting "
		    "another", (long long)ls->id);
		ls->id = 0;
		etcd_lease_tick(-1, 0, ls);
		return;
	}
	ls->id = id;
	etcd_lease_flush(ls, granted);
	etcd_local_stored(ls->e);
}

static void
etcd_lease_done(struct curlev_xfer *x, CURLcode rv, long status)
{
	struct etcd_lease	*ls = x->arg;

	ls->xfer = NULL;
	etcd_lease_answer(ls, x, rv, status);
	if (ls->refs == 0)	/* let go while granted: revoke it now */
		etcd_lease_drop(ls);
}

static void
etcd_lease_tick(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_lease	*ls = arg;
	struct etcd		*e = ls->e;
	const char		*cause;

	if (!e->connected || ls->xfer != NULL)
		return;
	if (ls->id == 0)
		ls->xfer = etcd_client_post(e->client, "/v3/lease/grant",
		    etcd_req_grant(ls->ttl_s), etcd_lease_done, ls, &cause);
	else
		ls->xfer = etcd_client_post(e->client, "/v3/lease/keepalive",
		    etcd_req_lease(ls->id), etcd_lease_done, ls, &cause);
	if (ls->xfer == NULL)
		etcd_lease_failed(ls, cause);
}

static struct etcd_lease *
etcd_lease_get(struct etcd *e, uint64_t ttl_ms)
{
	struct etcd_lease	*ls;
	struct timeval		 tv;
	uint64_t		 tick_ms;
	int64_t			 ttl_s = (ttl_ms + 999) / 1000;

	for (ls = e->leases; ls != NULL; ls = ls->next) {
		if (ls->ttl_s == ttl_s) {
			ls->refs++;
			return ls;
		}
	}
	ls = xcalloc(1, sizeof(*ls));
	ls->e = e;
	ls->ttl_s = ttl_s;
	ls->refs = 1;
	if ((ls->tick = event_new(e->host->base, -1, EV_PERSIST,
	    etcd_lease_tick, ls)) == NULL)
		fatalx("event_new");
	tick_ms = ttl_ms / 3 < ETCD_TICK_MIN_MS ? ETCD_TICK_MIN_MS : ttl_ms / 3;
	tv = util_timeval(tick_ms);
	event_add(ls->tick, &tv);
	ls->next = e->leases;
	e->leases = ls;
	etcd_lease_tick(-1, 0, ls);
	return ls;
}

/*
 * A lease nobody holds is revoked. One still being granted would be
 * granted all the same, and keep its TTL in etcd: it waits for its ID
 * (etcd_lease_done), and whoever wants its TTL meanwhile takes it back.
 */
static void
etcd_lease_unref(struct etcd_lease *ls)
{
	if (--ls->refs > 0)
		return;
	if (ls->id == 0 && ls->xfer != NULL)
		return;
	etcd_lease_drop(ls);
}

static struct etcd_local **
etcd_local_find(struct etcd *e, const char *key)
{
	struct etcd_local	**pp;

	for (pp = &e->locals; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->key, key) == 0)
			break;
	}
	return pp;
}

static void
etcd_local_set(struct etcd *e, char *key, char *value, uint64_t ttl_ms)
{
	struct etcd_local	**pp = etcd_local_find(e, key), *l = *pp;
	struct etcd_lease	 *ls = etcd_lease_get(e, ttl_ms);

	if (l == NULL) {
		l = *pp = xcalloc(1, sizeof(*l));
		l->e = e;
		l->key = key;
	} else {
		free(key);
		if (l->lease == ls && strcmp(l->value, value) == 0) {
			etcd_lease_unref(ls);
			free(value);
			return;
		}
		if (l->lease == ls)
			etcd_lease_unref(ls);
		else if (l->lease != NULL)
			etcd_local_leave(l, l->lease);
		free(l->value);
	}
	l->value = value;
	l->lease = ls;
	l->dirty = 1;
	etcd_local_flush(l);
}

static void
etcd_local_put_back(struct etcd_local *l, const char *why)
{
	char	 kbuf[ETCD_KEY_LOGGED];

	etcd_log(l->e, LOG_LEVEL_INFO, "%s: %s in etcd, still registered "
	    "here: putting it back", util_printable(l->key, kbuf,
	    sizeof(kbuf)), why);
	l->dirty = 1;
	event_active(l->e->refresh, 0, 0);
}

/*
 * Someone else deleted one of our keys (etcdctl, another host with the
 * same node id deregistering): the node is still registered here, so it
 * goes back. Our own deletes leave no entry, so they are not undone.
 */
void
etcd_local_deleted(struct etcd *e, const char *key)
{
	struct etcd_local	*l = *etcd_local_find(e, key);

	if (l == NULL)
		return;
	if (l->value == NULL) {		/* ours, or someone's: it is gone */
		if (l->xfer == NULL)
			etcd_local_unlink(l);
		return;
	}
	etcd_local_put_back(l, "deleted");
}

/*
 * Someone put one of our keys on no lease (etcdctl put): that value would
 * outlive this host, a node nobody removes. Ours goes back on its lease.
 * A put on another lease is another owner's, left alone: two owners
 * putting back each other's values would never stop. Ours always have one.
 */
void
etcd_local_put_seen(struct etcd *e, const char *key, int64_t lease)
{
	struct etcd_local	*l = *etcd_local_find(e, key);

	if (l != NULL && l->value != NULL && lease == 0)
		etcd_local_put_back(l, "put without a lease");
}

void
etcd_local_refresh(struct etcd *e)
{
	struct etcd_local	*l;

	for (l = e->locals; l != NULL; l = l->next)
		if (l->dirty)
			etcd_local_flush(l);
}

/*
 * While etcd is away nothing is sent: the timer stops, and the
 * reconnection writes everything (etcd_local_resync).
 */
void
etcd_local_retry(struct etcd *e)
{
	struct etcd_lease	*ls;

	e->rewrite_ms = etcd_backoff_next(e->rewrite_ms);
	for (ls = e->leases; ls != NULL; ls = ls->next)
		if (ls->failed)
			etcd_lease_tick(-1, 0, ls);
	etcd_local_refresh(e);
	etcd_local_stored(e);
}

static void
etcd_local_free_one(struct etcd_local *l)
{
	free(l->leaving);
	free(l->key);
	free(l->value);
	free(l);
}

static void
etcd_local_unlink(struct etcd_local *l)
{
	struct etcd_local	**pp = etcd_local_find(l->e, l->key);

	*pp = l->next;
	etcd_local_free_one(l);
}

/* Deregistered: the leases may go, the key is deleted (see above). */
static void
etcd_local_remove(struct etcd_local *l)
{
	etcd_lease_unref(l->lease);
	while (l->nleaving > 0)
		etcd_lease_unref(l->leaving[--l->nleaving]);
	free(l->value);
	l->value = NULL;
	l->lease = NULL;
	l->putting = NULL;
	l->dirty = 1;
	etcd_local_flush(l);
}

/*
 * The nodes of a Service JSON with their keys: cb gets each key and, for
 * a put, the value holding that node alone (both allocated).
 */
static int
etcd_local_each(struct etcd *e, const char *json, int values,
    void (*cb)(struct etcd *, char *, char *, uint64_t), uint64_t ttl_ms)
{
	json_t		*svc, *nodes, *node, *copy, *one;
	const char	*name, *id;
	char		*key, *value;
	size_t		 i;

	if ((svc = json_loads(json, 0, NULL)) == NULL)
		return -1;
	name = json_string_value(json_object_get(svc, "name"));
	nodes = json_object_get(svc, "nodes");
	if (name == NULL || !json_is_array(nodes)) {
		json_decref(svc);
		return -1;
	}
	json_array_foreach(nodes, i, node) {
		if ((id = json_string_value(json_object_get(node, "id"))) == NULL)
			continue;
		xasprintf(&key, "%s%s/%s", e->prefix, name, id);
		value = NULL;
		if (values) {
			one = json_copy(svc);
			copy = json_copy(node);
			if (e->form_2016)
				etcd_node_2016(copy);
			json_object_set_new(one, "nodes", json_pack("[o]", copy));
			if ((value = json_dumps(one, JSON_COMPACT)) == NULL)
				fatalx("json_dumps");
			json_decref(one);
		}
		cb(e, key, value, ttl_ms);
	}
	json_decref(svc);
	return 0;
}

static void
etcd_local_drop(struct etcd *e, char *key, char *value, uint64_t ttl_ms)
{
	struct etcd_local	*l = *etcd_local_find(e, key);

	if (l != NULL && l->value != NULL)
		etcd_local_remove(l);
	free(key);
}

void
etcd_local_put(void *arg, const char *json, uint64_t ttl_ms)
{
	struct etcd	*e = arg;

	if (ttl_ms == 0)
		ttl_ms = e->host->conf->ttl_ms;
	if (ttl_ms == 0)
		ttl_ms = ETCD_LEASE_DEFAULT_MS;
	if (etcd_local_each(e, json, 1, etcd_local_set, ttl_ms) == -1)
		etcd_log(e, LOG_LEVEL_WARN, "put: not a Service JSON");
}

void
etcd_local_del(void *arg, const char *json)
{
	struct etcd	*e = arg;

	if (etcd_local_each(e, json, 0, etcd_local_drop, 0) == -1)
		etcd_log(e, LOG_LEVEL_WARN, "del: not a Service JSON");
}

void
etcd_local_resync(struct etcd *e)
{
	struct etcd_local	*l;
	struct etcd_lease	*ls;

	for (l = e->locals; l != NULL; l = l->next) {
		if (l->value != NULL)
			l->dirty = 1;
		else		/* a delete has no lease answer to wait for */
			etcd_local_flush(l);
	}
	for (ls = e->leases; ls != NULL; ls = ls->next)
		etcd_lease_tick(-1, 0, ls);
}

/*
 * Revoking takes this host's keys out of the store at a clean stop. One
 * bound for all the leases, not one each: a stalled etcd must not hold
 * the worker past shutdown_timeout.
 */
static void
etcd_local_revoke(struct etcd *e)
{
	struct etcd_lease	*ls;
	int64_t			*ids = NULL, longest = 0;
	size_t			 n = 0, ok;

	for (ls = e->leases; ls != NULL; ls = ls->next) {
		if (ls->id == 0)
			continue;
		ids = xrealloc(ids, (n + 1) * sizeof(*ids));
		ids[n++] = ls->id;
		if (ls->ttl_s > longest)
			longest = ls->ttl_s;
	}
	if (n > 0 && (ok = etcd_client_revoke_now(e->client, ids, n)) < n)
		etcd_log(e, LOG_LEVEL_WARN, "%zu leases not revoked: their "
		    "keys expire within %llds", n - ok, (long long)longest);
	free(ids);
}

void
etcd_local_free(struct etcd *e, int revoke)
{
	struct etcd_local	*l;
	struct etcd_lease	*ls;

	while ((l = e->locals) != NULL) {
		e->locals = l->next;
		curlev_cancel(l->xfer);
		etcd_local_free_one(l);
	}
	if (revoke && e->connected)
		etcd_local_revoke(e);
	while ((ls = e->leases) != NULL) {
		e->leases = ls->next;
		etcd_lease_free(ls);
	}
}
