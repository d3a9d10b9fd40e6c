/*
 * The NATS backend. cnats reads and writes its socket from our event
 * loop (the libevent adapter), but runs message callbacks on its
 * delivery thread and reconnects from a thread of its own. The broker
 * core is single-threaded, so messages cross to the loop through a
 * bounded hand-off: a mutex taken once per message by cnats and once per
 * batch by the loop, and an eventfd written only when the hand-off turns
 * non-empty. When it is full, cnats' delivery thread waits, and cnats'
 * own per-subscription limits (bounded) take the overflow.
 *
 * The other way, cnats' output buffer has no bound (with an event loop it
 * grows while the server does not read): publishes are refused beyond
 * BNATS_BACKLOG. A connection cnats closes for good restarts the worker,
 * unless it never connected: then it is opened again, after a pause.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/random.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
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

#include "broker/broker.h"
#include "broker/nats.h"
#include "log.h"
#include "util.h"

#define BNATS_HANDOFF		4096	/* messages on their way to the loop */
#define BNATS_SERVERS		16
#define BNATS_DEFAULT		"nats://127.0.0.1:4222"
#define BNATS_RECONNECT_MS	250	/* first pause; doubled each round */
#define BNATS_RECONNECT_MAX_MS	4000
#define BNATS_PING_MS		5000	/* stale after two unanswered */
#define BNATS_BACKLOG		(8 << 20)	/* bytes waiting for the server */

struct bnats_sub {
	natsSubscription	*nsub;		/* NULL once complete */
	bnats_deliver_cb	 deliver;
	void			*arg;		/* NULL once unsubscribed */
};

struct bnats_item {
	struct bnats_sub	*sub;
	natsMsg			*msg;		/* NULL: sub completed */
};

static struct bnats_item bnats_items[2][BNATS_HANDOFF];

static struct {
	int			 prepared;	/* inherited from the master */
	natsConnection		*nc;
	atomic_int		 up;		/* connected, as cnats last said */
	atomic_int		 ever_up;	/* connected at least once */
	struct event		*ev;
	int			 efd;
	struct event_base	*base;
	char			*address;	/* as configured */
	struct event		*reopen_ev;	/* after a pause, connect anew */
	int			 reopens;	/* in a row, never connected */
	unsigned		 live;		/* subscriptions the broker holds */
	pthread_mutex_t		 lock;		/* guards in, n, closing, reopen */
	pthread_cond_t		 room;
	struct bnats_item	*in;		/* cnats fills */
	struct bnats_item	*out;		/* the loop empties */
	size_t			 n;
	int			 closing;
	int			 reopen;	/* closed before it ever connected */
} bnats = {
	.efd = -1,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.room = PTHREAD_COND_INITIALIZER,
	.in = bnats_items[0],
	.out = bnats_items[1],
};

static void	bnats_reopen_later(void);

void
bnats_prepare(void)
{
	natsLibevent_Init();
	bnats.prepared = 1;
}

static void
bnats_wake(void)
{
	uint64_t	 one = 1;

	if (write(bnats.efd, &one, sizeof(one)) == -1)
		log_warn("broker: nats: wake");
}

/* cnats' threads: queue for the loop, waking it if it may be asleep. */
static void
bnats_push(struct bnats_sub *sub, natsMsg *msg)
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
bnats_item(struct bnats_item *it)
{
	struct bnats_sub	*s = it->sub;

	if (it->msg == NULL) {
		natsSubscription_Destroy(s->nsub);
		s->nsub = NULL;
		/* Closed with the connection: bnats_unsubscribe() frees it. */
		if (s->arg == NULL)
			free(s);
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
	uint64_t		 v;
	size_t			 i, n;
	int			 reopen;

	if (read(fd, &v, sizeof(v)) == -1)
		return;		/* spurious: nothing was signalled */
	pthread_mutex_lock(&bnats.lock);
	items = bnats.in;
	n = bnats.n;
	bnats.in = bnats.out;
	bnats.out = items;
	bnats.n = 0;
	reopen = bnats.reopen;
	bnats.reopen = 0;
	pthread_cond_signal(&bnats.room);
	pthread_mutex_unlock(&bnats.lock);
	for (i = 0; i < n; i++)
		bnats_item(&items[i]);
	if (reopen)
		bnats_reopen_later();
}

/* cnats' threads (log lines are single writes). */
static void
bnats_disconnected_cb(natsConnection *nc, void *arg)
{
	atomic_store(&bnats.up, 0);
	log_warnx("broker: nats: disconnected, reconnecting");
}

static void
bnats_connected_cb(natsConnection *nc, void *arg)
{
	char	 url[256];

	atomic_store(&bnats.up, 1);
	atomic_store(&bnats.ever_up, 1);
	if (natsConnection_GetConnectedUrl(nc, url, sizeof(url)) != NATS_OK)
		snprintf(url, sizeof(url), "?");
	log_info("broker: nats: connected to %s", url);
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
static const char *
bnats_last_error(natsConnection *nc)
{
	const char	*why = NULL;
	natsStatus	 st;

	st = natsConnection_GetLastError(nc, &why);
	return why != NULL && *why != '\0' ? why : natsStatus_GetText(st);
}

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
	log_warnx("broker: nats: connection closed (%s), restarting",
	    bnats_last_error(nc));
	kill(getpid(), SIGTERM);
}

/*
 * cnats' reconnect thread, after each round through the servers that
 * failed: pause BNATS_RECONNECT_MS, doubled each round up to
 * BNATS_RECONNECT_MAX_MS, less up to half at random, so the hosts of a
 * cluster do not all knock at once on a server coming back.
 */
static int64_t
bnats_reconnect_delay(natsConnection *nc, int attempts, void *arg)
{
	int64_t		 delay = BNATS_RECONNECT_MS;
	uint32_t	 r = 0;

	while (--attempts > 0 && delay < BNATS_RECONNECT_MAX_MS)
		delay *= 2;
	if (delay > BNATS_RECONNECT_MAX_MS)
		delay = BNATS_RECONNECT_MAX_MS;
	(void)getrandom(&r, sizeof(r), GRND_NONBLOCK);
	return delay - (int64_t)(r % (uint32_t)(delay / 2 + 1));
}

static void
bnats_error_cb(natsConnection *nc, natsSubscription *sub, natsStatus err,
    void *arg)
{
	log_warnx("broker: nats: %s", natsStatus_GetText(err));
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
bnats_connect(void)
{
	natsOptions	*o;
	const char	*servers[BNATS_SERVERS], *address = bnats.address;
	char		*list, *p, *s;
	int		 n = 0;
	natsStatus	 st;

	if (*address == '\0')
		address = BNATS_DEFAULT;
	list = xstrdup(address);
	for (p = list; (s = strsep(&p, ",")) != NULL && n < BNATS_SERVERS;)
		if (*s != '\0')
			servers[n++] = s;
	if ((st = natsOptions_Create(&o)) == NATS_OK) {
		if ((st = bnats_options(o, bnats.base, servers, n)) == NATS_OK)
			st = natsConnection_Connect(&bnats.nc, o);
		natsOptions_Destroy(o);
	}
	free(list);
	if (st == NATS_NOT_YET_CONNECTED) {
		if (bnats.reopens == 0)
			log_warnx("broker: nats: %s unreachable, retrying",
			    address);
		st = NATS_OK;
	} else if (st == NATS_OK)
		bnats_connected_cb(bnats.nc, NULL);
	return st;
}

static void
bnats_reopen_cb(evutil_socket_t fd, short what, void *arg)
{
	natsStatus	 st;

	if ((st = bnats_connect()) != NATS_OK) {
		log_warnx("broker: nats: %s, restarting", natsStatus_GetText(st));
		kill(getpid(), SIGTERM);
	}
}

/*
 * The loop, for a connection closed before it ever connected: open a new
 * one after the pause a reconnect round would take, logging the first
 * time only. Subscriptions made on the old one are not carried over: with
 * any held, restart the worker.
 */
static void
bnats_reopen_later(void)
{
	struct timeval	 tv;
	int64_t		 ms;

	if (bnats.live > 0) {
		log_warnx("broker: nats: connection closed (%s) with %u "
		    "subscriptions, restarting", bnats_last_error(bnats.nc),
		    bnats.live);
		kill(getpid(), SIGTERM);
		return;
	}
	if (bnats.reopens == 0)
		log_warnx("broker: nats: no server completed the handshake "
		    "(%s), retrying with a new connection",
		    bnats_last_error(bnats.nc));
	natsConnection_Destroy(bnats.nc);
	bnats.nc = NULL;
	ms = bnats_reconnect_delay(NULL, ++bnats.reopens, NULL);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = ms % 1000 * 1000;
	evtimer_add(bnats.reopen_ev, &tv);
}

int
bnats_open(struct event_base *base, const char *address, const char **cause)
{
	natsStatus	 st;

	if (!bnats.prepared) {
		*cause = "backend = nats takes effect at microd's next start";
		return -1;
	}
	if ((bnats.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		*cause = "eventfd failed";
		return -1;
	}
	bnats.ev = event_new(base, bnats.efd, EV_READ | EV_PERSIST,
	    bnats_drain_cb, NULL);
	event_add(bnats.ev, NULL);
	bnats.reopen_ev = evtimer_new(base, bnats_reopen_cb, NULL);
	bnats.base = base;
	bnats.address = xstrdup(address);
	if ((st = bnats_connect()) != NATS_OK) {
		*cause = natsStatus_GetText(st);
		bnats_close();
		return -1;
	}
	return 0;
}

void
bnats_close(void)
{
	pthread_mutex_lock(&bnats.lock);
	bnats.closing = 1;
	pthread_cond_broadcast(&bnats.room);
	pthread_mutex_unlock(&bnats.lock);
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

int
bnats_publish(const char *topic, const void *data, size_t len,
    const char **cause)
{
	natsStatus	 st;

	/* cnats would send it, and the server drop it without a word. */
	if (!bnats_subject_valid(topic)) {
		*cause = "topic is not a NATS subject (empty '.' token)";
		return -1;
	}

	/*
	 * cnats would buffer while reconnecting: say it is down instead.
	 * Its reconnect thread holds the connection's lock through each
	 * attempt (seconds, on a server that accepts but does not answer):
	 * ask cnats only when its callbacks last said it was connected.
	 */
	if (bnats.nc == NULL || !atomic_load(&bnats.up) ||
	    natsConnection_Status(bnats.nc) != NATS_CONN_STATUS_CONNECTED) {
		*cause = "NATS server unreachable";
		return BROKER_DOWN;
	}
	if (natsConnection_Buffered(bnats.nc) >= BNATS_BACKLOG) {
		*cause = "NATS server not keeping up";
		return BROKER_DOWN;
	}
	if ((st = natsConnection_Publish(bnats.nc, topic, data,
	    (int)len)) == NATS_OK)
		return 0;
	*cause = natsStatus_GetText(st);
	return st == NATS_CONNECTION_CLOSED || st == NATS_CONNECTION_DISCONNECTED
	    ? BROKER_DOWN : -1;
}

void
bnats_unsubscribe(struct bnats_sub *s)
{
	natsStatus	 st;

	s->arg = NULL;
	bnats.live--;
	if (s->nsub == NULL) {
		free(s);
		return;
	}
	/* Its last messages are dropped; bnats_complete_cb() frees it. */
	if ((st = natsSubscription_Unsubscribe(s->nsub)) != NATS_OK &&
	    st != NATS_CONNECTION_CLOSED)
		log_warnx("broker: nats: unsubscribe: %s",
		    natsStatus_GetText(st));
}

struct bnats_sub *
bnats_subscribe(const char *topic, const char *queue, bnats_deliver_cb cb,
    void *arg, const char **cause)
{
	struct bnats_sub	*s;
	natsStatus		 st;

	if (bnats.nc == NULL) {
		*cause = "NATS server unreachable";
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->deliver = cb;
	s->arg = arg;
	if (queue != NULL)
		st = natsConnection_QueueSubscribe(&s->nsub, bnats.nc, topic,
		    queue, bnats_msg_cb, s);
	else
		st = natsConnection_Subscribe(&s->nsub, bnats.nc, topic,
		    bnats_msg_cb, s);
	if (st != NATS_OK) {
		*cause = natsStatus_GetText(st);
		free(s);
		return NULL;
	}
	bnats.live++;
	if ((st = natsSubscription_SetOnCompleteCB(s->nsub, bnats_complete_cb,
	    s)) != NATS_OK) {
		/* Closed already: its callbacks may still run, so s stays. */
		*cause = natsStatus_GetText(st);
		bnats_unsubscribe(s);
		return NULL;
	}
	return s;
}
