/*
 * The NATS broker backend, a plugin (broker/backend.h, doc/plugins.md):
 * one NATS connection per process, driven by the worker's event loop.
 * Topics are subjects, queue groups NATS queue groups. Messages reach
 * the callbacks on the loop thread, in order per subscription, never
 * after bnats_unsubscribe().
 *
 * cnats reads and writes its socket from our event loop (the libevent
 * adapter), but runs message callbacks on its delivery thread and
 * reconnects from a thread of its own. The broker core is
 * single-threaded, so messages cross to the loop through a
 * bounded hand-off: a mutex taken once per message by cnats and once per
 * batch by the loop, and an eventfd written only when the hand-off turns
 * non-empty. When it is full, cnats' delivery thread waits, and cnats'
 * own per-subscription limits (bounded) take the overflow.
 *
 * The other way, cnats' output buffer has no bound (with an event loop it
 * grows while the server does not read): publishes are refused beyond
 * BNATS_BACKLOG. cnats' reconnect thread holds the connection's lock
 * through each attempt (seconds, on a server that accepts but does not
 * answer), so the loop asks nothing of cnats while its callbacks last said
 * it was down: publishes are refused, subscribing and unsubscribing wait
 * in a list until it is connected. A connection cnats closes for good
 * restarts the worker (host->restart), unless it never connected: then it
 * is opened again, after a pause, by a thread (the first attempt of a
 * connect blocks like one of the reconnect thread).
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

/* The adapter is a header of definitions, included by this file only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wmissing-declarations"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <nats/adapters/libevent.h>
#pragma GCC diagnostic pop

#include "broker/backend.h"
#include "log.h"
#include "util.h"

#define BNATS_HANDOFF		4096	/* messages on their way to the loop */
#define BNATS_SERVERS		BROKER_ADDRESSES_MAX
#define BNATS_DEFAULT		"nats://127.0.0.1:4222"
#define BNATS_RECONNECT_MS	250	/* first pause; doubled each round */
#define BNATS_RECONNECT_MAX_MS	4000
#define BNATS_PING_MS		5000	/* stale after two unanswered */
#define BNATS_BACKLOG		(8 << 20)	/* bytes waiting for the server */

struct broker_backend_sub {
	natsSubscription	*nsub;		/* NULL: complete, or waiting */
	broker_backend_deliver_cb deliver;
	void			*arg;		/* NULL once unsubscribed */
	char			*topic;
	char			*queue;		/* NULL: every message */
	int			 waiting;	/* in bnats.waiting */
	TAILQ_ENTRY(broker_backend_sub) entry;
};

struct bnats_item {
	struct broker_backend_sub *sub;
	natsMsg			*msg;		/* NULL: sub completed */
};

static struct bnats_item bnats_items[2][BNATS_HANDOFF];

static struct {
	const struct broker_host *host;
	natsConnection		*nc;
	atomic_int		 up;		/* connected, as cnats last said */
	atomic_int		 ever_up;	/* connected at least once */
	struct event		*ev;
	int			 efd;
	struct event_base	*base;
	char			*address;	/* as configured */
	struct event		*reopen_ev;	/* after a pause, connect anew */
	int			 reopens;	/* in a row, never connected */
	pthread_t		 connector;	/* opening it again */
	int			 connecting;	/* connector not joined yet */
	/* To subscribe (arg set) or unsubscribe (arg NULL) once connected. */
	TAILQ_HEAD(, broker_backend_sub) waiting;
	/* Guards in, n, closing, reopen, resume, opened*. */
	pthread_mutex_t		 lock;
	pthread_cond_t		 room;
	struct bnats_item	*in;		/* cnats fills */
	struct bnats_item	*out;		/* the loop empties */
	size_t			 n;
	int			 closing;
	int			 reopen;	/* closed before it ever connected */
	int			 resume;	/* connected: empty waiting */
	int			 opened;	/* the connector is done */
	natsConnection		*opened_nc;	/* what it opened */
	natsStatus		 opened_st;
} bnats = {
	.efd = -1,
	.waiting = TAILQ_HEAD_INITIALIZER(bnats.waiting),
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.room = PTHREAD_COND_INITIALIZER,
	.in = bnats_items[0],
	.out = bnats_items[1],
};

static void	bnats_reopen_later(void);
static void	bnats_adopt(natsConnection *, natsStatus);
static void	bnats_resume(void);

/* Any thread: the host's log is one write per line. */
static void __attribute__((format(printf, 2, 3)))
bnats_log(int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vhost(bnats.host->log, bnats.host->core, level, fmt, ap);
	va_end(ap);
}

/*
 * The master, before forking: cnats calls into the workers' event loops
 * from its threads, so libevent's locks must be on before they are made.
 */
static int
bnats_prepare(const char **cause)
{
	natsLibevent_Init();
	return 0;
}

/*
 * An address for the log: each server's URL without the credentials
 * (user:password@, token@) cnats accepts in it.
 */
static const char *
bnats_redact(const char *address, char *buf, size_t size)
{
	const char	*p = address, *end, *host, *from;
	size_t		 n = 0;
	int		 r;

	buf[0] = '\0';
	for (;;) {
		end = p + strcspn(p, ",");
		host = memmem(p, (size_t)(end - p), "://", 3);
		host = host != NULL ? host + 3 : p;
		from = memrchr(host, '@', strcspn(host, "/,"));
		from = from != NULL ? from + 1 : host;
		r = snprintf(buf + n, size - n, "%.*s%.*s%s", (int)(host - p),
		    p, (int)(end - from), from, *end != '\0' ? "," : "");
		if (r < 0 || (n += (size_t)r) >= size || *end == '\0')
			return buf;
		p = end + 1;
	}
}

static void
bnats_wake(void)
{
	uint64_t	 one = 1;

	if (write(bnats.efd, &one, sizeof(one)) == -1)
		bnats_log(LOG_LEVEL_WARN, "nats: wake: %s", strerror(errno));
}

/* cnats' threads: queue for the loop, waking it if it may be asleep. */
static void
bnats_push(struct broker_backend_sub *sub, natsMsg *msg)
{
	int		 wake;

	pthread_mutex_lock(&bnats.lock);
	while (bnats.n == BNATS_HANDOFF && !bnats.closing)
		pthread_cond_wait(&bnats.room, &bnats.lock);
	if (bnats.closing) {
		pthread_mutex_unlock(&bnats.lock);
		natsMsg_Destroy(msg);
		return;
	}
	wake = bnats.n == 0;
	bnats.in[bnats.n].sub = sub;
	bnats.in[bnats.n].msg = msg;
	bnats.n++;
	pthread_mutex_unlock(&bnats.lock);
	if (wake)
		bnats_wake();
}

static void
bnats_msg_cb(natsConnection *nc, natsSubscription *nsub, natsMsg *msg,
    void *arg)
{
	bnats_push(arg, msg);
}

/* After the subscription's last message: the loop may free it. */
static void
bnats_complete_cb(void *arg)
{
	bnats_push(arg, NULL);
}

static void
bnats_sub_free(struct broker_backend_sub *s)
{
	free(s->topic);
	free(s->queue);
	free(s);
}

static void
bnats_item(struct bnats_item *it)
{
	struct broker_backend_sub	*s = it->sub;

	if (it->msg == NULL) {
		natsSubscription_Destroy(s->nsub);
		s->nsub = NULL;
		if (s->waiting) {
			TAILQ_REMOVE(&bnats.waiting, s, entry);
			s->waiting = 0;
		}
		/* Closed with the connection: bnats_unsubscribe() frees it. */
		if (s->arg == NULL)
			bnats_sub_free(s);
		return;
	}
	if (s->arg != NULL)
		s->deliver(s->arg, natsMsg_GetData(it->msg),
		    (size_t)natsMsg_GetDataLength(it->msg));
	natsMsg_Destroy(it->msg);
}

static void
bnats_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bnats_item	*items;
	natsConnection		*nc;
	uint64_t		 v;
	size_t			 i, n;
	int			 reopen, resume, opened;
	natsStatus		 st;

	if (read(fd, &v, sizeof(v)) == -1)
		return;		/* spurious: nothing was signalled */
	pthread_mutex_lock(&bnats.lock);
	items = bnats.in;
	n = bnats.n;
	bnats.in = bnats.out;
	bnats.out = items;
	bnats.n = 0;
	opened = bnats.opened;
	nc = bnats.opened_nc;
	st = bnats.opened_st;
	bnats.opened = 0;
	bnats.opened_nc = NULL;
	/* Closed before the connector handed it over: once it has. */
	reopen = bnats.reopen && (!bnats.connecting || opened);
	if (reopen)
		bnats.reopen = 0;
	resume = bnats.resume;
	bnats.resume = 0;
	pthread_cond_signal(&bnats.room);
	pthread_mutex_unlock(&bnats.lock);
	for (i = 0; i < n; i++)
		bnats_item(&items[i]);
	if (opened)
		bnats_adopt(nc, st);
	if (reopen)
		bnats_reopen_later();
	if (resume || opened)
		bnats_resume();
}

/* cnats' threads (log lines are single writes). */
static void
bnats_disconnected_cb(natsConnection *nc, void *arg)
{
	atomic_store(&bnats.up, 0);
	bnats_log(LOG_LEVEL_WARN, "nats: disconnected, reconnecting");
}

static void
bnats_connected_cb(natsConnection *nc, void *arg)
{
	char	 url[256], shown[256];
	int	 closing;

	atomic_store(&bnats.up, 1);
	atomic_store(&bnats.ever_up, 1);
	pthread_mutex_lock(&bnats.lock);
	closing = bnats.closing;
	bnats.resume = 1;
	pthread_mutex_unlock(&bnats.lock);
	if (!closing)
		bnats_wake();
	if (natsConnection_GetConnectedUrl(nc, url, sizeof(url)) != NATS_OK)
		snprintf(url, sizeof(url), "?");
	bnats_log(LOG_LEVEL_INFO, "nats: connected to %s",
	    bnats_redact(url, shown, sizeof(shown)));
}

/*
 * Why nc failed, for the log: cnats keeps no reason for a server that
 * refused or never answered, but does for one that refused the handshake
 * (e.g. "Authorization Violation").
 */
static const char *
bnats_last_error(natsConnection *nc)
{
	const char	*why = NULL;
	natsStatus	 st;

	st = natsConnection_GetLastError(nc, &why);
	if (why != NULL && *why != '\0')
		return why;
	return st != NATS_OK ? natsStatus_GetText(st) : "no answer";
}

/*
 * cnats' threads: closed for good, and not by bnats_close(): after a
 * server's -ERR (e.g. "maximum subscriptions exceeded"), the same
 * authorization error twice in a row, or a first connect that reached a
 * server which did not complete the handshake (timed out, or closed the
 * connection, as a TCP proxy without a backend does): cnats then gives
 * up at once. Only a new connection would serve again. One that never
 * connected is opened again by the loop; otherwise the worker drains and
 * exits, and the master starts another (with its backoff).
 */
static void
bnats_closed_cb(natsConnection *nc, void *arg)
{
	int		 closing;

	atomic_store(&bnats.up, 0);
	pthread_mutex_lock(&bnats.lock);
	closing = bnats.closing;
	pthread_mutex_unlock(&bnats.lock);
	if (closing)
		return;
	if (!atomic_load(&bnats.ever_up)) {
		pthread_mutex_lock(&bnats.lock);
		bnats.reopen = 1;
		pthread_mutex_unlock(&bnats.lock);
		bnats_wake();
		return;
	}
	bnats_log(LOG_LEVEL_WARN, "nats: connection closed (%s), restarting",
	    bnats_last_error(nc));
	bnats.host->restart(bnats.host->core);
}

/*
 * cnats' reconnect thread, after each round through the servers that
 * failed: pause BNATS_RECONNECT_MS, doubled each round up to
 * BNATS_RECONNECT_MAX_MS, less up to half at random, so the hosts of a
 * cluster do not all knock at once on a server coming back. cnats counts
 * the rounds: the wait is worked out again from the first each time.
 */
static int64_t
bnats_reconnect_delay(natsConnection *nc, int attempts, void *arg)
{
	uint64_t	 ms = 0;

	do
		ms = util_backoff_next(ms, BNATS_RECONNECT_MS,
		    BNATS_RECONNECT_MAX_MS);
	while (--attempts > 0 && ms < BNATS_RECONNECT_MAX_MS);
	return (int64_t)util_backoff_jitter(ms);
}

static void
bnats_error_cb(natsConnection *nc, natsSubscription *sub, natsStatus err,
    void *arg)
{
	bnats_log(LOG_LEVEL_WARN, "nats: %s", natsStatus_GetText(err));
}

static natsStatus
bnats_options(natsOptions *o, struct event_base *base, const char **servers,
    int n)
{
	natsStatus	 st;

	if ((st = natsOptions_SetServers(o, servers, n)) != NATS_OK ||
	    (st = natsOptions_SetName(o, "microd")) != NATS_OK ||
	    (st = natsOptions_SetEventLoop(o, base, natsLibevent_Attach,
	    natsLibevent_Read, natsLibevent_Write,
	    natsLibevent_Detach)) != NATS_OK ||
	    (st = natsOptions_UseGlobalMessageDelivery(o, true)) != NATS_OK ||
	    /* Forever: subscriptions live as long as the worker. */
	    (st = natsOptions_SetMaxReconnect(o, -1)) != NATS_OK ||
	    (st = natsOptions_SetCustomReconnectDelay(o,
	    bnats_reconnect_delay, NULL)) != NATS_OK ||
	    /* A server gone silent must not take publishes for minutes. */
	    (st = natsOptions_SetPingInterval(o, BNATS_PING_MS)) != NATS_OK ||
	    (st = natsOptions_SetRetryOnFailedConnect(o, true,
	    bnats_connected_cb, NULL)) != NATS_OK ||
	    (st = natsOptions_SetDisconnectedCB(o, bnats_disconnected_cb,
	    NULL)) != NATS_OK ||
	    (st = natsOptions_SetReconnectedCB(o, bnats_connected_cb,
	    NULL)) != NATS_OK ||
	    (st = natsOptions_SetClosedCB(o, bnats_closed_cb, NULL)) != NATS_OK)
		return st;
	return natsOptions_SetErrorHandler(o, bnats_error_cb, NULL);
}

static natsStatus
bnats_connect(natsConnection **ncp)
{
	natsOptions	*o;
	const char	*servers[BNATS_SERVERS], *address = bnats.address;
	char		*list, *p, *s, shown[1024];
	int		 n = 0;
	natsStatus	 st;

	if (*address == '\0')
		address = BNATS_DEFAULT;
	list = xstrdup(address);
	for (p = list; (s = util_list_next(&p)) != NULL && n < BNATS_SERVERS;)
		servers[n++] = s;
	if ((st = natsOptions_Create(&o)) == NATS_OK) {
		if ((st = bnats_options(o, bnats.base, servers, n)) == NATS_OK)
			st = natsConnection_Connect(ncp, o);
		natsOptions_Destroy(o);
	}
	free(list);
	if (st == NATS_NOT_YET_CONNECTED) {
		if (bnats.reopens == 0)
			bnats_log(LOG_LEVEL_WARN, "nats: %s unreachable (%s), "
			    "retrying", bnats_redact(address, shown,
			    sizeof(shown)), bnats_last_error(*ncp));
		st = NATS_OK;
	} else if (st == NATS_OK)
		bnats_connected_cb(*ncp, NULL);
	return st;
}

/* A thread: the loop takes what it opened in bnats_adopt(). */
static void *
bnats_connector(void *arg)
{
	natsConnection	*nc = NULL;
	natsStatus	 st;

	st = bnats_connect(&nc);
	pthread_mutex_lock(&bnats.lock);
	bnats.opened = 1;
	bnats.opened_nc = nc;
	bnats.opened_st = st;
	pthread_mutex_unlock(&bnats.lock);
	bnats_wake();
	return NULL;
}

static void
bnats_reopen_cb(evutil_socket_t fd, short what, void *arg)
{
	int	 error;

	if ((error = pthread_create(&bnats.connector, NULL, bnats_connector,
	    NULL)) != 0) {
		bnats_log(LOG_LEVEL_WARN, "nats: thread: %s, restarting",
		    strerror(error));
		bnats.host->restart(bnats.host->core);
		return;
	}
	bnats.connecting = 1;
}

static void
bnats_adopt(natsConnection *nc, natsStatus st)
{
	pthread_join(bnats.connector, NULL);
	bnats.connecting = 0;
	if (st != NATS_OK) {
		bnats_log(LOG_LEVEL_WARN, "nats: %s, restarting",
		    natsStatus_GetText(st));
		bnats.host->restart(bnats.host->core);
		return;
	}
	bnats.nc = nc;
}

/*
 * The loop, for a connection closed before it ever connected: open a new
 * one after the pause a reconnect round would take, logging the first
 * time only. cnats holds no subscription of ours (they wait for a first
 * connection): the new one makes them.
 */
static void
bnats_reopen_later(void)
{
	struct timeval	 tv;
	int64_t		 ms;

	if (bnats.reopens == 0)
		bnats_log(LOG_LEVEL_WARN, "nats: no server completed the handshake "
		    "(%s), retrying with a new connection",
		    bnats_last_error(bnats.nc));
	natsConnection_Destroy(bnats.nc);
	bnats.nc = NULL;
	ms = bnats_reconnect_delay(NULL, ++bnats.reopens, NULL);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = ms % 1000 * 1000;
	evtimer_add(bnats.reopen_ev, &tv);
}

static void	bnats_close(void *);

/* One connection per process: the state is this file's. */
static void *
bnats_open(const struct broker_host *host, const char **cause)
{
	natsStatus	 st;

	if (host->abi != BROKER_BACKEND_ABI) {
		*cause = "host speaks another backend ABI";
		return NULL;
	}
	if (bnats.host != NULL) {
		*cause = "nats: opened twice";
		return NULL;
	}
	if ((bnats.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		*cause = "eventfd failed";
		return NULL;
	}
	bnats.host = host;
	bnats.ev = event_new(host->base, bnats.efd, EV_READ | EV_PERSIST,
	    bnats_drain_cb, NULL);
	event_add(bnats.ev, NULL);
	bnats.reopen_ev = evtimer_new(host->base, bnats_reopen_cb, NULL);
	bnats.base = host->base;
	bnats.address = xstrdup(host->address);
	if ((st = bnats_connect(&bnats.nc)) != NATS_OK) {
		*cause = natsStatus_GetText(st);
		bnats_close(&bnats);
		return NULL;
	}
	return &bnats;
}

/* The host stays: cnats' threads may still log until the process ends. */
static void
bnats_close(void *state)
{
	pthread_mutex_lock(&bnats.lock);
	bnats.closing = 1;
	pthread_cond_broadcast(&bnats.room);
	pthread_mutex_unlock(&bnats.lock);
	if (bnats.connecting) {
		pthread_join(bnats.connector, NULL);
		bnats.connecting = 0;
		if (bnats.opened_nc != NULL)
			natsConnection_Destroy(bnats.opened_nc);
	}
	if (bnats.nc != NULL) {
		natsConnection_Destroy(bnats.nc);
		bnats.nc = NULL;
	}
	if (bnats.ev != NULL) {
		event_free(bnats.ev);
		bnats.ev = NULL;
	}
	if (bnats.reopen_ev != NULL) {
		event_free(bnats.reopen_ev);
		bnats.reopen_ev = NULL;
	}
	free(bnats.address);
	bnats.address = NULL;
	if (bnats.efd != -1) {
		close(bnats.efd);
		bnats.efd = -1;
	}
}

/* Broker names are NATS tokens joined by '.', but none may be empty. */
static int
bnats_subject_valid(const char *s)
{
	size_t	 len = strlen(s);

	return s[0] != '.' && s[len - 1] != '.' && strstr(s, "..") == NULL;
}

/* The loop: connected, as cnats' callbacks last said. */
static int
bnats_connected(void)
{
	return bnats.nc != NULL && atomic_load(&bnats.up);
}

static int
bnats_publish(void *state, const char *topic, const void *data, size_t len,
    const char **cause)
{
	natsStatus	 st;

	/* cnats would send it, and the server drop it without a word. */
	if (!bnats_subject_valid(topic)) {
		*cause = "topic is not a NATS subject (empty '.' token)";
		return -1;
	}

	/* cnats would buffer while reconnecting: say it is down instead. */
	if (!bnats_connected() ||
	    natsConnection_Status(bnats.nc) != NATS_CONN_STATUS_CONNECTED) {
		*cause = "NATS server unreachable";
		return BROKER_BACKEND_DOWN;
	}
	if (natsConnection_Buffered(bnats.nc) >= BNATS_BACKLOG) {
		*cause = "NATS server not keeping up";
		return BROKER_BACKEND_DOWN;
	}
	if ((st = natsConnection_Publish(bnats.nc, topic, data,
	    (int)len)) == NATS_OK)
		return 0;
	*cause = natsStatus_GetText(st);
	return st == NATS_CONNECTION_CLOSED || st == NATS_CONNECTION_DISCONNECTED
	    ? BROKER_BACKEND_DOWN : -1;
}

/*
 * The loop, connected: s's NATS subscription. Failing with s->nsub set,
 * it was closed already and its callbacks may still run: s stays.
 */
static natsStatus
bnats_sub_make(struct broker_backend_sub *s)
{
	natsStatus	 st;

	if (s->queue != NULL)
		st = natsConnection_QueueSubscribe(&s->nsub, bnats.nc, s->topic,
		    s->queue, bnats_msg_cb, s);
	else
		st = natsConnection_Subscribe(&s->nsub, bnats.nc, s->topic,
		    bnats_msg_cb, s);
	if (st != NATS_OK)
		return st;
	return natsSubscription_SetOnCompleteCB(s->nsub, bnats_complete_cb, s);
}

/* The loop, connected: its last messages are dropped, then it is freed. */
static void
bnats_sub_drop(struct broker_backend_sub *s)
{
	natsStatus	 st;

	if ((st = natsSubscription_Unsubscribe(s->nsub)) != NATS_OK &&
	    st != NATS_CONNECTION_CLOSED)
		bnats_log(LOG_LEVEL_WARN, "nats: unsubscribe: %s",
		    natsStatus_GetText(st));
}

/* The loop, connected again: what waited, while it stays connected. */
static void
bnats_resume(void)
{
	struct broker_backend_sub	*s;
	natsStatus			 st;

	while (bnats_connected() && (s = TAILQ_FIRST(&bnats.waiting)) != NULL) {
		TAILQ_REMOVE(&bnats.waiting, s, entry);
		s->waiting = 0;
		if (s->arg == NULL)
			bnats_sub_drop(s);
		else if ((st = bnats_sub_make(s)) != NATS_OK)
			bnats_log(LOG_LEVEL_WARN, "nats: subscribe %s: %s",
			    s->topic, natsStatus_GetText(st));
	}
}

static void
bnats_unsubscribe(void *state, struct broker_backend_sub *s)
{
	s->arg = NULL;
	if (s->nsub == NULL) {
		if (s->waiting)
			TAILQ_REMOVE(&bnats.waiting, s, entry);
		bnats_sub_free(s);
	} else if (!bnats_connected()) {
		s->waiting = 1;
		TAILQ_INSERT_TAIL(&bnats.waiting, s, entry);
	} else
		bnats_sub_drop(s);
}

static struct broker_backend_sub *
bnats_subscribe(void *state, const char *topic, const char *queue,
    broker_backend_deliver_cb cb, void *arg, const char **cause)
{
	struct broker_backend_sub	*s;
	natsStatus			 st;

	/* Checked before it may wait: cnats would refuse it then. */
	if (!bnats_subject_valid(topic)) {
		*cause = "topic is not a NATS subject (empty '.' token)";
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->deliver = cb;
	s->arg = arg;
	s->topic = xstrdup(topic);
	s->queue = queue != NULL ? xstrdup(queue) : NULL;
	if (!bnats_connected()) {
		s->waiting = 1;
		TAILQ_INSERT_TAIL(&bnats.waiting, s, entry);
		return s;
	}
	if ((st = bnats_sub_make(s)) != NATS_OK) {
		*cause = natsStatus_GetText(st);
		if (s->nsub == NULL)
			bnats_sub_free(s);
		else
			s->arg = NULL;
		return NULL;
	}
	return s;
}

__attribute__((visibility("default")))
const struct broker_backend microd_broker_backend = {
	.abi = BROKER_BACKEND_ABI,
	.name = "nats",
	.prepare = bnats_prepare,
	.open = bnats_open,
	.close = bnats_close,
	.publish = bnats_publish,
	.subscribe = bnats_subscribe,
	.unsubscribe = bnats_unsubscribe,
};
