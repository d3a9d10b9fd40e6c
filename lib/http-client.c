#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "http-int.h"
#include "log.h"
#include "util.h"

/*
 * The idle connections to one address. A pool lives only while it holds
 * connections, so addresses that come and go leave nothing behind.
 */
struct http_pool {
	LIST_ENTRY(http_pool)	 entry;
	char			 addr[64];
	TAILQ_HEAD(, http_cconn) idle;	/* most recently used first */
	unsigned int		 nidle;
};

/* Take cc out of its pool; the last one out frees the pool. */
static void
http_cconn_unpool(struct http_cconn *cc)
{
	struct http_pool	*pool = cc->pool;

	if (pool == NULL)
		return;
	cc->pool = NULL;
	TAILQ_REMOVE(&pool->idle, cc, entry);
	evtimer_del(cc->timer);
	if (--pool->nidle == 0) {
		LIST_REMOVE(pool, entry);
		free(pool);
	}
}

void
http_cconn_free(struct http_cconn *cc)
{
	if (cc == NULL)
		return;
	http_cconn_unpool(cc);
	if (cc->stream != NULL)
		stream_free(cc->stream);
	if (cc->timer != NULL)
		event_free(cc->timer);
	free(cc);
}

/* A pooled connection that speaks or closes is no longer usable. */
static void
http_cconn_idle_read_cb(struct stream *s, void *arg)
{
	http_cconn_free(arg);
}

static void
http_cconn_idle_event_cb(struct stream *s, short what, void *arg)
{
	http_cconn_free(arg);
}

static void
http_cconn_idle_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	http_cconn_free(arg);
}

static struct http_pool *
http_client_pool_find(struct http_client *c, const char *addr)
{
	struct http_pool	*pool;

	LIST_FOREACH(pool, &c->pools, entry) {
		if (strcmp(pool->addr, addr) == 0)
			return pool;
	}
	return NULL;
}

void
http_client_pool_put(struct http_client *c, const char *addr,
    struct http_cconn *cc)
{
	struct http_pool	*pool;
	struct timeval		 tv;

	if ((pool = http_client_pool_find(c, addr)) == NULL) {
		pool = xcalloc(1, sizeof(*pool));
		snprintf(pool->addr, sizeof(pool->addr), "%s", addr);
		TAILQ_INIT(&pool->idle);
		LIST_INSERT_HEAD(&c->pools, pool, entry);
	} else if (pool->nidle >= c->cfg.max_idle) {
		http_cconn_free(cc);
		return;
	}
	cc->pool = pool;
	TAILQ_INSERT_HEAD(&pool->idle, cc, entry);
	pool->nidle++;
	stream_setcb(cc->stream, http_cconn_idle_read_cb, NULL,
	    http_cconn_idle_event_cb, cc);
	stream_enable(cc->stream, STREAM_READ);
	if (cc->timer == NULL && (cc->timer = evtimer_new(c->base,
	    http_cconn_idle_timeout_cb, cc)) == NULL)
		fatalx("evtimer_new");
	tv = util_timeval(c->cfg.idle_timeout_ms);
	evtimer_add(cc->timer, &tv);
}

/*
 * Nothing came on cc while idle, not even the close. The idle callbacks
 * catch most closes; a peek catches one that arrived in this very turn of
 * the loop, before a request that may not be sent twice goes out on it.
 */
static int
http_cconn_quiet(struct http_cconn *cc)
{
	char	 c;

	if (evbuffer_get_length(stream_input(cc->stream)) > 0)
		return 0;
	return recv(stream_fd(cc->stream), &c, 1, MSG_PEEK | MSG_DONTWAIT) ==
	    -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* A pooled connection to addr, or NULL: open one. */
struct http_cconn *
http_client_pool_get(struct http_client *c, const char *addr)
{
	struct http_pool	*pool;
	struct http_cconn	*cc;

	while ((pool = http_client_pool_find(c, addr)) != NULL) {
		cc = TAILQ_FIRST(&pool->idle);
		http_cconn_unpool(cc);
		if (http_cconn_quiet(cc))
			return cc;
		http_cconn_free(cc);
	}
	return NULL;
}

/* The client. */
struct http_client *
http_client_new(struct event_base *base, const struct http_client_config *cfg)
{
	struct http_client	*c;

	c = xcalloc(1, sizeof(*c));
	c->base = base;
	if (cfg != NULL)
		c->cfg = *cfg;
	if (c->cfg.max_idle == 0)
		c->cfg.max_idle = 8;
	if (c->cfg.idle_timeout_ms == 0)
		c->cfg.idle_timeout_ms = 30000;
	if (c->cfg.connect_timeout_ms == 0)
		c->cfg.connect_timeout_ms = 5000;
	if (c->cfg.timeout_ms == 0)
		c->cfg.timeout_ms = 30000;
	if (c->cfg.max_header_size == 0)
		c->cfg.max_header_size = 64 * 1024;
	if (c->cfg.max_body_size == 0)
		c->cfg.max_body_size = 64 * 1024 * 1024;
	LIST_INIT(&c->pools);
	TAILQ_INIT(&c->reqs);
	return c;
}

void
http_client_free(struct http_client *c)
{
	struct http_creq	*r;
	struct http_pool	*pool;

	if (c == NULL)
		return;
	while ((r = TAILQ_FIRST(&c->reqs)) != NULL)
		http_creq_destroy(r);
	while ((pool = LIST_FIRST(&c->pools)) != NULL)
		http_cconn_free(TAILQ_FIRST(&pool->idle));
	free(c);
}

const char *
http_client_strerror(enum http_client_error err)
{
	static const char	*text[] = {
		[HTTP_CLIENT_OK] = "ok",
		[HTTP_CLIENT_CONNECT_REFUSED] = "connection refused",
		[HTTP_CLIENT_CONNECT_TIMEOUT] = "connect timed out",
		[HTTP_CLIENT_CONNECT_FAILED] = "cannot connect",
		[HTTP_CLIENT_RESET] = "connection lost before the response",
		[HTTP_CLIENT_TIMEOUT] = "request timed out",
		[HTTP_CLIENT_PROTOCOL] = "bad response",
	};

	if ((size_t)err >= nitems(text))
		return "unknown error";
	return text[err];
}

int
http_method_idempotent(const char *method)
{
	static const char	*idempotent[] = {
		"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE",
	};
	size_t			 i;

	for (i = 0; i < nitems(idempotent); i++)
		if (strcmp(method, idempotent[i]) == 0)
			return 1;
	return 0;
}

static int
http_url_visible(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

int
http_url_split(const char *url, char *addr, size_t addrlen,
    const char **target, const char **cause)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	const char		*host, *slash;

	if (strncmp(url, "http://", 7) != 0) {
		*cause = "not an http:// URL";
		return -1;
	}
	host = url + 7;
	slash = host + strcspn(host, "/?#");
	if (slash == host || (size_t)(slash - host) >= addrlen) {
		*cause = "no host:port, or one too long";
		return -1;
	}
	/* The rest goes into the request line as it is: it must be one. */
	if ((*slash != '/' && *slash != '\0') || strchr(slash, '#') != NULL ||
	    !http_url_visible(slash)) {
		*cause = "a path must be /PATH[?QUERY], visible ASCII, no #";
		return -1;
	}
	memcpy(addr, host, slash - host);
	addr[slash - host] = '\0';
	if (util_parse_addr(addr, &ss, &sslen, cause) == -1)
		return -1;
	if ((ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port) == 0) {
		*cause = "port 0";
		return -1;
	}
	*target = *slash == '/' ? slash : "/";
	return 0;
}
