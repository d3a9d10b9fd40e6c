/*
 * The etcd registry backend (doc/plugins.md): keys
 * <prefix><service>/<node id> hold go-micro Service JSON with one node.
 * We list the prefix once, then watch it from the next revision; a dropped
 * watch resumes from the last revision seen, a compacted one lists again
 * and replaces what the core learned. Reconnection backs off; meanwhile
 * the core keeps serving what it has and the sync state says why.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "plugins/etcd-client.h"
#include "plugins/etcd.h"
#include "util.h"

#define ETCD_DEFAULT_PREFIX	"/micro/registry/"
/* go-plugins' etcdv3 registry (2016-2018): its nodes keep the port apart. */
#define ETCD_2016_PREFIX	"/micro-registry/"
#define ETCD_BACKOFF_MIN_MS	100
#define ETCD_BACKOFF_MAX_MS	2000
/*
 * A watch is silent while nothing changes, and just as silent when its
 * member has stalled, lost its quorum or sits behind a network dropping
 * packets: a linearizable read of nothing this often, bounded by the
 * request timeout, tells them apart.
 */
#define ETCD_PROBE_MS		5000

static void	etcd_connect(struct etcd *);

void
etcd_log(struct etcd *e, int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vhost(e->host->log, e->host->core, level, fmt, ap);
	va_end(ap);
}

uint64_t
etcd_backoff_next(uint64_t ms)
{
	return util_backoff_next(ms, ETCD_BACKOFF_MIN_MS, ETCD_BACKOFF_MAX_MS);
}

static void
etcd_publish(struct etcd *e)
{
	struct registry_sync	 s;

	s.connected = e->connected;
	s.revision = e->revision > 0 ? (uint64_t)e->revision : 0;
	s.error = e->error;
	e->host->sync(e->host->core, &s);
}

/* Give up on the current exchange and try again after the backoff. */
static void
etcd_fail(struct etcd *e, const char *fmt, ...)
{
	struct timeval	 tv;
	va_list		 ap;

	free(e->error);
	va_start(ap, fmt);
	if (vasprintf(&e->error, fmt, ap) == -1)
		fatalx("vasprintf");
	va_end(ap);
	/*
	 * The first failure of a run says why, even one before the first
	 * watch (a wrong password, a missing CA file, etcd down at our
	 * start); the retries every 2 s do not repeat it.
	 */
	etcd_log(e, e->failing ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, "%s: %s",
	    etcd_client_endpoint(e->client), e->error);
	e->failing = 1;
	etcd_client_failover(e->client);
	e->connected = 0;
	etcd_lines_clear(&e->lines);
	etcd_publish(e);
	tv = util_timeval(e->backoff_ms);
	evtimer_add(e->retry, &tv);
	e->backoff_ms = etcd_backoff_next(e->backoff_ms);
}

/*
 * A token etcd no longer knows (simple tokens live in the member's
 * memory: a restart forgets them all) is dropped, so the next connection
 * authenticates again instead of being refused for ever.
 */
static void
etcd_token_check(struct etcd *e, long status, const char *msg)
{
	if (status == 401 || strstr(msg, "token") != NULL ||
	    strstr(msg, "user name is empty") != NULL)
		etcd_client_set_token(e->client, NULL);
}

/* An answer that is not a 200: its message, and a dropped token on 401. */
static int
etcd_answer_ok(struct etcd *e, struct curlev_xfer *x, CURLcode rv,
    long status, const char *what)
{
	char	*msg;

	if (rv != CURLE_OK) {
		etcd_fail(e, "%s: %s", what, x->error);
		return 0;
	}
	if (status == 200)
		return 1;
	msg = etcd_parse_error(x->body != NULL ? x->body : "", x->len);
	etcd_token_check(e, status, msg);
	etcd_fail(e, "%s: HTTP %ld: %s", what, status, msg);
	free(msg);
	return 0;
}

/*
 * A key stands for one node of one service. A value that is not that
 * node (garbage, another service, another id) leaves the key without a
 * node, so whatever its last good value put here goes.
 */
static void
etcd_apply_put(struct etcd *e, const struct etcd_event *ev)
{
	char		*name, *id, kbuf[ETCD_KEY_LOGGED];
	const char	*why = NULL;

	if (etcd_key_split(ev->key, e->prefix, &name, &id) == -1) {
		etcd_log(e, LOG_LEVEL_DEBUG, "%s: not a registry key",
		    util_printable(ev->key, kbuf, sizeof(kbuf)));
		return;
	}
	if (!etcd_value_is_node(ev->value, ev->valuelen, name, id))
		why = "value is not the node its key names, alone";
	else if (e->host->update(e->host->core, ev->value, ev->valuelen) == -1)
		why = "value refused (the line before says why)";
	if (why != NULL) {
		etcd_log(e, LOG_LEVEL_WARN, "%s: %s: ignored, the node is gone",
		    util_printable(ev->key, kbuf, sizeof(kbuf)), why);
		e->host->remove(e->host->core, name, id);
	}
	free(name);
	free(id);
}

static void
etcd_apply(struct etcd *e, const struct etcd_event *ev)
{
	char	*name, *id, kbuf[ETCD_KEY_LOGGED];

	if (ev->mod_revision > e->revision)
		e->revision = ev->mod_revision;
	if (ev->type == ETCD_UNUSABLE) {
		etcd_log(e, LOG_LEVEL_WARN, "%s: key ignored: empty, or a NUL "
		    "byte in its key or value",
		    util_printable(ev->key, kbuf, sizeof(kbuf)));
		return;
	}
	if (ev->type == ETCD_PUT) {
		etcd_local_put_seen(e, ev->key, ev->lease);
		etcd_apply_put(e, ev);
		return;
	}
	etcd_local_deleted(e, ev->key);
	if (etcd_key_split(ev->key, e->prefix, &name, &id) == -1) {
		etcd_log(e, LOG_LEVEL_DEBUG, "%s: not a registry key",
		    util_printable(ev->key, kbuf, sizeof(kbuf)));
		return;
	}
	e->host->remove(e->host->core, name, id);
	free(name);
	free(id);
}

static void
etcd_watched(struct etcd *e)
{
	e->backoff_ms = ETCD_BACKOFF_MIN_MS;
	e->failing = 0;
	free(e->error);
	e->error = NULL;
	if (!e->connected) {
		e->connected = 1;
		etcd_log(e, LOG_LEVEL_INFO, "watching %s from revision %lld",
		    etcd_client_endpoint(e->client),
		    (long long)e->revision + 1);
		/* not from here: libcurl is running this callback */
		event_active(e->resync, 0, 0);
	}
}

/*
 * The store we follow: another cluster at the address, or the same one
 * behind a revision we have seen (wiped, or restored from a backup),
 * invalidates the revision we watch from: list again. 0 then. A store
 * rebuilt with the same configuration has the same cluster id, and one
 * that is back at exactly our revision cannot be told apart.
 */
static int
etcd_same_store(struct etcd *e, const struct etcd_batch *b)
{
	const char	*why = NULL;

	if (b->cluster[0] != '\0' && e->cluster[0] != '\0' &&
	    strcmp(e->cluster, b->cluster) != 0)
		why = "another cluster";
	else if (b->revision != 0 && b->revision < e->revision)
		why = "behind a revision seen";
	if (b->cluster[0] != '\0')
		memcpy(e->cluster, b->cluster, sizeof(e->cluster));
	if (why == NULL)
		return 1;
	etcd_log(e, LOG_LEVEL_WARN, "etcd is %s (cluster %s, revision %lld, "
	    "seen %lld): listing again", why, b->cluster,
	    (long long)b->revision, (long long)e->revision);
	e->relist = 1;
	return 0;
}

/* One message of the watch stream; -1 ends the stream. */
static int
etcd_watch_line(const char *line, size_t len, void *arg)
{
	struct etcd		*e = arg;
	struct etcd_batch	 b;
	char			*cause;
	size_t			 i;

	if (etcd_parse_watch(line, len, &b, &cause) == -1) {
		free(e->error);
		xasprintf(&e->error, "watch stream: %s", cause);
		free(cause);
		return -1;
	}
	if (b.canceled && b.compact_revision > 0) {
		etcd_log(e, LOG_LEVEL_INFO, "revision %lld compacted (oldest "
		    "%lld): listing again", (long long)e->revision + 1,
		    (long long)b.compact_revision);
		e->relist = 1;
	}
	if (b.canceled || b.error != NULL) {
		/* the stream answers 200, a refused token comes as its error */
		if (b.error != NULL)
			etcd_token_check(e, 200, b.error);
		free(e->error);
		xasprintf(&e->error, "watch: %s", b.error != NULL ? b.error :
		    "canceled");
		etcd_batch_clear(&b);
		return -1;
	}
	if (b.created && !etcd_same_store(e, &b)) {
		free(e->error);
		e->error = xstrdup("watch: etcd is another store now");
		etcd_batch_clear(&b);
		return -1;
	}
	if (b.created)
		etcd_watched(e);
	for (i = 0; i < b.nev; i++)
		etcd_apply(e, &b.ev[i]);
	/* A progress notification: nothing older is still to come. */
	if (b.nev == 0 && !b.created && b.revision > e->revision)
		e->revision = b.revision;
	etcd_batch_clear(&b);
	etcd_publish(e);
	return 0;
}

static int
etcd_watch_data(struct curlev_xfer *x, const char *p, size_t len)
{
	struct etcd	*e = x->arg;
	const char	*cause = NULL;

	if (etcd_lines_feed(&e->lines, p, len, etcd_watch_line, e,
	    &cause) == 0)
		return 0;
	/*
	 * Too long a message (a catch-up of many large values after an
	 * outage) would come back whole from the same revision each time: a
	 * listing, in pages, reaches the present instead.
	 */
	if (cause != NULL) {
		etcd_log(e, LOG_LEVEL_WARN, "%s: listing again", cause);
		e->relist = 1;
	}
	if (e->error == NULL)
		e->error = xstrdup(cause != NULL ? cause : "watch stream");
	return -1;
}

static void
etcd_probe_stop(struct etcd *e)
{
	event_del(e->probe_tick);
	curlev_cancel(e->probe);
	e->probe = NULL;
}

/* The member behind the watch did not answer: give up both. */
static void
etcd_probe_done(struct curlev_xfer *x, CURLcode rv, long status)
{
	struct etcd	*e = x->arg;

	e->probe = NULL;
	if (etcd_answer_ok(e, x, rv, status, "not answering"))
		return;
	etcd_probe_stop(e);
	curlev_cancel(e->sync);
	e->sync = NULL;
}

static void
etcd_probe(evutil_socket_t fd, short what, void *arg)
{
	struct etcd	*e = arg;
	const char	*cause;

	if (e->probe != NULL)	/* still out: its own 5 s timeout ends it */
		return;
	if ((e->probe = etcd_client_post(e->client, "/v3/kv/range",
	    etcd_req_probe(e->prefix), etcd_probe_done, e, &cause)) == NULL)
		etcd_log(e, LOG_LEVEL_WARN, "probe: %s", cause);
}

static void
etcd_watch_done(struct curlev_xfer *x, CURLcode rv, long status)
{
	struct etcd	*e = x->arg;
	char		*why;

	e->sync = NULL;
	etcd_probe_stop(e);
	if (e->relist) {		/* compacted: list at once */
		etcd_lines_clear(&e->lines);
		etcd_connect(e);
		return;
	}
	if (e->error != NULL && rv == CURLE_WRITE_ERROR) {
		why = xstrdup(e->error);
		etcd_fail(e, "%s", why);
		free(why);
	} else if (etcd_answer_ok(e, x, rv, status, "watch"))
		etcd_fail(e, "watch stream ended");
}

static void
etcd_watch(struct etcd *e)
{
	struct timeval	 tv = { ETCD_PROBE_MS / 1000,
			    (ETCD_PROBE_MS % 1000) * 1000 };
	const char	*cause;

	e->sync = etcd_client_stream(e->client, "/v3/watch",
	    etcd_req_watch(e->prefix, e->revision + 1), etcd_watch_data,
	    etcd_watch_done, e, &cause);
	if (e->sync == NULL) {
		etcd_fail(e, "watch: %s", cause);
		return;
	}
	evtimer_add(e->probe_tick, &tv);
}

static void	etcd_range_done(struct curlev_xfer *, CURLcode, long);

/*
 * A listing is pages of e->page keys, all at the revision of the first:
 * one snapshot however large the registry, within the HTTP body limit. A
 * failed page fails the listing, which starts over; a page too large for
 * the limit (large values) starts it over at once with half the keys.
 */
static void
etcd_list(struct etcd *e, const struct etcd_event *last)
{
	const char	*cause;

	if (last == NULL) {
		e->list_revision = 0;
		e->listed = 0;
	}
	e->sync = etcd_client_post(e->client, "/v3/kv/range",
	    etcd_req_range(e->prefix, last != NULL ? last->key : NULL,
	    last != NULL ? last->keylen : 0, e->list_revision, e->page),
	    etcd_range_done, e, &cause);
	if (e->sync == NULL)
		etcd_fail(e, "%s", cause);
}

static void
etcd_range_done(struct curlev_xfer *x, CURLcode rv, long status)
{
	struct etcd		*e = x->arg;
	struct etcd_batch	 b;
	char			*cause;
	size_t			 i;

	e->sync = NULL;
	/* No data callback here: a write error is the body limit. */
	if (rv == CURLE_WRITE_ERROR && e->page > 1) {
		e->page /= 2;
		etcd_log(e, LOG_LEVEL_INFO, "a page of keys is larger than the "
		    "HTTP limit: listing again, %lld keys per page",
		    (long long)e->page);
		etcd_list(e, NULL);
		return;
	}
	if (!etcd_answer_ok(e, x, rv, status, "range"))
		return;
	if (etcd_parse_range(x->body, x->len, &b, &cause) == -1) {
		etcd_fail(e, "range: %s", cause);
		free(cause);
		return;
	}
	if (e->list_revision == 0) {
		if (b.cluster[0] != '\0')	/* listing anyway: note it */
			memcpy(e->cluster, b.cluster, sizeof(e->cluster));
		e->list_revision = b.revision;
		e->host->relist_begin(e->host->core);
	}
	for (i = 0; i < b.nev; i++)
		etcd_apply(e, &b.ev[i]);
	e->listed += b.nev;
	if (b.more && b.nev > 0) {
		etcd_list(e, &b.ev[b.nev - 1]);
		etcd_batch_clear(&b);
		return;
	}
	e->host->relist_end(e->host->core);
	e->relist = 0;
	e->revision = e->list_revision;
	etcd_log(e, LOG_LEVEL_INFO, "%zu keys listed at revision %lld",
	    e->listed, (long long)e->revision);
	etcd_batch_clear(&b);
	etcd_watch(e);
}

static void
etcd_auth_done(struct curlev_xfer *x, CURLcode rv, long status)
{
	struct etcd	*e = x->arg;
	char		*token, *cause;

	e->sync = NULL;
	if (rv == CURLE_OK && status == 412 && x->body != NULL &&
	    strstr(x->body, "authentication is not enabled") != NULL) {
		etcd_client_auth_not_enabled(e->client);
		etcd_connect(e);
		return;
	}
	if (!etcd_answer_ok(e, x, rv, status, "authenticate"))
		return;
	if ((token = etcd_parse_auth(x->body, x->len, &cause)) == NULL) {
		etcd_fail(e, "authenticate: %s", cause);
		free(cause);
		return;
	}
	etcd_client_set_token(e->client, token);
	etcd_connect(e);
}

/* The next step towards a watch: authenticate, list, watch. */
static void
etcd_connect(struct etcd *e)
{
	const char	*cause;

	free(e->error);
	e->error = NULL;
	if (!etcd_client_need_auth(e->client)) {
		if (e->relist)
			etcd_list(e, NULL);
		else
			etcd_watch(e);
		return;
	}
	e->sync = etcd_client_post(e->client, "/v3/auth/authenticate",
	    etcd_client_auth_request(e->client), etcd_auth_done, e, &cause);
	if (e->sync == NULL)
		etcd_fail(e, "%s", cause);
}

static void
etcd_retry(evutil_socket_t fd, short what, void *arg)
{
	etcd_connect(arg);
}

static void
etcd_resync(evutil_socket_t fd, short what, void *arg)
{
	etcd_local_resync(arg);
}

static void
etcd_refresh(evutil_socket_t fd, short what, void *arg)
{
	etcd_local_refresh(arg);
}

static void
etcd_rewrite(evutil_socket_t fd, short what, void *arg)
{
	etcd_local_retry(arg);
}

static void
etcd_close(void *arg)
{
	struct etcd	*e = arg;

	etcd_local_free(e, 1);
	etcd_client_free(e->client);
	event_free(e->retry);
	event_free(e->resync);
	event_free(e->refresh);
	event_free(e->probe_tick);
	event_free(e->rewrite);
	etcd_lines_clear(&e->lines);
	free(e->prefix);
	free(e->error);
	free(e);
}

static char *
etcd_prefix(const char *conf)
{
	char	*p;
	size_t	 len = strlen(conf);

	if (len == 0)
		return xstrdup(ETCD_DEFAULT_PREFIX);
	xasprintf(&p, "%s%s", conf, conf[len - 1] == '/' ? "" : "/");
	return p;
}

static void *
etcd_open(const struct registry_host *host, const char **cause)
{
	struct etcd	*e;

	if (host->abi != REGISTRY_BACKEND_ABI) {
		*cause = "host speaks another backend ABI";
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->host = host;
	e->prefix = etcd_prefix(host->conf->prefix);
	e->form_2016 = strcmp(e->prefix, ETCD_2016_PREFIX) == 0;
	e->relist = 1;
	e->page = ETCD_RANGE_PAGE;
	e->backoff_ms = ETCD_BACKOFF_MIN_MS;
	if ((e->client = etcd_client_new(host->base, host->conf,
	    cause)) == NULL) {
		free(e->prefix);
		free(e);
		return NULL;
	}
	if ((e->retry = evtimer_new(host->base, etcd_retry, e)) == NULL ||
	    (e->resync = event_new(host->base, -1, 0, etcd_resync, e)) ==
	    NULL || (e->refresh = event_new(host->base, -1, 0, etcd_refresh,
	    e)) == NULL || (e->probe_tick = event_new(host->base, -1,
	    EV_PERSIST, etcd_probe, e)) == NULL || (e->rewrite =
	    evtimer_new(host->base, etcd_rewrite, e)) == NULL)
		fatalx("evtimer_new");
	etcd_publish(e);
	etcd_connect(e);
	return e;
}

__attribute__((visibility("default")))
const struct registry_backend microd_registry_backend = {
	.abi = REGISTRY_BACKEND_ABI,
	.name = "etcd",
	.open = etcd_open,
	.close = etcd_close,
	.put = etcd_local_put,
	.del = etcd_local_del,
};
