/*
 * The broker core of one process: its local topics and subscribers, and
 * the loop that reads the shared rings and hands each message to them.
 * Each message is turned into the go-micro envelope once per process,
 * whatever the number of local subscribers. With a backend (nats, a
 * plugin: broker/backend.h) the messages come from it instead: one
 * backend subscription per local topic and per local queue group, the
 * rings only count.
 */
#include "config.h"

#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "base64.h"
#include "broker/backend.h"
#include "broker/broker.h"
#include "broker/ring.h"
#include "log.h"
#include "microd/conf.h"
#include "util.h"

#define BROKER_BUCKETS	256
#define BROKER_BATCH	256	/* messages per loop turn */

struct broker_queue;
struct broker_topic;

struct broker_sub {
	TAILQ_ENTRY(broker_sub)	 entry;
	struct broker_topic	*topic;
	struct broker_queue	*queue;		/* NULL: gets every message */
	broker_deliver_cb	 deliver;
	void			*arg;
	int			 gone;		/* unsubscribed while delivering */
	struct broker_sub	*next_gone;
};
TAILQ_HEAD(broker_subs, broker_sub);

struct broker_queue {
	LIST_ENTRY(broker_queue) entry;
	struct broker_topic	*topic;
	uint64_t		 qhash;
	struct bring_group	*group;		/* builtin */
	struct broker_backend_sub *bsub;	/* backend */
	struct broker_subs	 members;	/* head is next in turn */
};

struct broker_topic {
	LIST_ENTRY(broker_topic) entry;
	char			*name;
	struct broker_subs	 subs;
	struct broker_backend_sub *bsub;	/* backend: for subs */
	LIST_HEAD(, broker_queue) queues;
};
LIST_HEAD(broker_bucket, broker_topic);

static struct {
	const struct config	*conf;
	struct bring		*ring;
	/* Loaded by the master (broker_backend_preload), inherited. */
	const struct broker_backend *loaded;
	char			*load_error;	/* why it was not */
	const struct broker_backend *be;	/* in use: NULL for builtin */
	void			*be_state;
	struct event		*wake_ev;	/* builtin: woken by a writer */
	struct event		*run_ev;	/* builtin: our own work */
	struct broker_bucket	 buckets[BROKER_BUCKETS];
	char			*envelope;	/* of the message at hand */
	size_t			 envelope_len;
	size_t			 envelope_cap;
	unsigned		 delivering;	/* walks of the lists below */
	struct broker_sub	*gone;		/* freed once done walking */
} broker;

static void	broker_bus_topic(void *, const void *, size_t);
static void	broker_bus_queue(void *, const void *, size_t);

static int
broker_is_builtin(const struct config *conf)
{
	return strcmp(conf->broker_backend, "builtin") == 0;
}

/*
 * The backend plugin is loaded in the master, before any worker is forked
 * (it may start threads libevent must know of). One that does not load
 * makes the workers using the broker fail with the reason, as the
 * registry worker does for its plugin; the master and the other roles run
 * on, and the next reload tries again (the plugin installed since).
 */
void
broker_backend_preload(const struct config *conf)
{
	if (broker_is_builtin(conf) || broker.loaded != NULL)
		return;
	free(broker.load_error);
	broker.load_error = NULL;
	broker.loaded = broker_backend_load(conf->broker_backend,
	    &broker.load_error);
}

int
broker_shm_create(const struct config *conf, const char **cause)
{
	broker_backend_preload(conf);
	return bring_create(conf->broker_max_message, cause);
}

const struct config *
broker_config(void)
{
	return broker.conf;
}

int
broker_name_valid(const char *s)
{
	size_t	 len = strlen(s);

	return len > 0 && len <= BRING_NAME_MAX && strspn(s,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._:/-") == len;
}

/* Printable ASCII: a quoted parameter (charset="utf-8") is escaped. */
int
broker_ctype_valid(const char *s)
{
	size_t	 i, len = strlen(s);

	if (len == 0 || len > BRING_CTYPE_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] < ' ' || s[i] > '~')
			return 0;
	return 1;
}

static struct broker_bucket *
broker_bucket(const char *name, size_t len)
{
	return &broker.buckets[bring_name_hash(name, len) % BROKER_BUCKETS];
}

static struct broker_topic *
broker_topic_find(const char *name, size_t len)
{
	struct broker_topic	*t;

	LIST_FOREACH(t, broker_bucket(name, len), entry)
		if (strlen(t->name) == len && memcmp(t->name, name, len) == 0)
			return t;
	return NULL;
}

static struct broker_topic *
broker_topic_get(const char *name)
{
	struct broker_topic	*t;

	if ((t = broker_topic_find(name, strlen(name))) != NULL)
		return t;
	t = xcalloc(1, sizeof(*t));
	t->name = xstrdup(name);
	TAILQ_INIT(&t->subs);
	LIST_INIT(&t->queues);
	LIST_INSERT_HEAD(broker_bucket(name, strlen(name)), t, entry);
	return t;
}

static void
broker_topic_gc(struct broker_topic *t)
{
	if (!TAILQ_EMPTY(&t->subs) || !LIST_EMPTY(&t->queues))
		return;
	LIST_REMOVE(t, entry);
	free(t->name);
	free(t);
}

static struct broker_queue *
broker_queue_get(struct broker_topic *t, const char *queue, const char **cause)
{
	struct broker_queue	*q;
	uint64_t		 qhash = bring_group_hash(t->name, queue);

	LIST_FOREACH(q, &t->queues, entry)
		if (q->qhash == qhash)
			return q;
	q = xcalloc(1, sizeof(*q));
	q->topic = t;
	q->qhash = qhash;
	TAILQ_INIT(&q->members);
	/*
	 * builtin: every member is counted in the shared group (broker_join),
	 * so the spread is per member. A backend: one member of the bus's
	 * group per process; the bus picks the process.
	 */
	if (broker.be != NULL)
		q->bsub = broker.be->subscribe(broker.be_state, t->name, queue,
		    broker_bus_queue, q, cause);
	else
		q->group = bring_group_join(broker.ring, t->name, queue, cause);
	if (q->bsub == NULL && q->group == NULL) {
		free(q);
		return NULL;
	}
	LIST_INSERT_HEAD(&t->queues, q, entry);
	return q;
}

/* The member s joins q: counted in the shared group from the second on. */
static void
broker_join(struct broker_queue *q, struct broker_sub *s)
{
	if (q->group != NULL && !TAILQ_EMPTY(&q->members))
		bring_group_count(broker.ring, q->group, 1);
	TAILQ_INSERT_TAIL(&q->members, s, entry);
}

/* The member s leaves q; the last one takes the queue with it. */
static void
broker_leave(struct broker_queue *q, struct broker_sub *s)
{
	TAILQ_REMOVE(&q->members, s, entry);
	if (q->group != NULL && !s->gone)
		bring_group_count(broker.ring, q->group, -1);
	if (!TAILQ_EMPTY(&q->members))
		return;
	if (q->bsub != NULL)
		broker.be->unsubscribe(broker.be_state, q->bsub);
	LIST_REMOVE(q, entry);
	free(q);
}

/* With a backend: the first plain subscriber of t subscribes it. */
static int
broker_topic_open(struct broker_topic *t, const char **cause)
{
	if (broker.be == NULL || t->bsub != NULL)
		return 0;
	t->bsub = broker.be->subscribe(broker.be_state, t->name, NULL,
	    broker_bus_topic, t, cause);
	return t->bsub != NULL ? 0 : -1;
}

static void
broker_topic_close(struct broker_topic *t)
{
	if (t->bsub == NULL || !TAILQ_EMPTY(&t->subs))
		return;
	broker.be->unsubscribe(broker.be_state, t->bsub);
	t->bsub = NULL;
}

struct broker_sub *
broker_subscribe(const char *topic, const char *queue, broker_deliver_cb cb,
    void *arg, const char **cause)
{
	struct broker_topic	*t = broker_topic_get(topic);
	struct broker_sub	*s;
	struct broker_queue	*q = NULL;

	if ((queue != NULL && (q = broker_queue_get(t, queue, cause)) ==
	    NULL) || (queue == NULL && broker_topic_open(t, cause) == -1)) {
		broker_topic_gc(t);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->topic = t;
	s->queue = q;
	s->deliver = cb;
	s->arg = arg;
	if (q != NULL)
		broker_join(q, s);
	else
		TAILQ_INSERT_TAIL(&t->subs, s, entry);
	return s;
}

static void
broker_sub_free(struct broker_sub *s)
{
	struct broker_queue	*q = s->queue;
	struct broker_topic	*t = s->topic;

	if (q != NULL)
		broker_leave(q, s);
	else {
		TAILQ_REMOVE(&t->subs, s, entry);
		broker_topic_close(t);
	}
	free(s);
	broker_topic_gc(t);
}

/*
 * Unsubscribed from a deliver callback (a subscriber cut for being slow):
 * the lists being walked stay as they are until the message has been
 * handed out, but s gets nothing more and its queue group stops sending
 * this process copies for it now.
 */
static void
broker_sub_retire(struct broker_sub *s)
{
	struct broker_queue	*q = s->queue;

	if (s->gone)
		return;
	if (q != NULL && q->group != NULL)
		bring_group_count(broker.ring, q->group, -1);
	s->gone = 1;
	s->next_gone = broker.gone;
	broker.gone = s;
}

void
broker_unsubscribe(struct broker_sub *s)
{
	if (broker.delivering)
		broker_sub_retire(s);
	else
		broker_sub_free(s);
}

/* Around a walk of the lists; the retired are freed after the last. */
static void
broker_delivering(int on)
{
	struct broker_sub	*s;

	if (on) {
		broker.delivering++;
		return;
	}
	if (--broker.delivering > 0)
		return;
	while ((s = broker.gone) != NULL) {
		broker.gone = s->next_gone;
		broker_sub_free(s);
	}
}

static char *
broker_put(char *p, const char *s, size_t len)
{
	memcpy(p, s, len);
	return p + len;
}

#define BROKER_PUT(p, lit)	broker_put((p), (lit), sizeof(lit) - 1)

/* The bytes of s (printable ASCII) escaped as a JSON string's. */
static char *
broker_put_escaped(char *p, const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			*p++ = '\\';
		*p++ = s[i];
	}
	return p;
}

/*
 * {"Header":{"Content-Type":C,"Micro-Topic":T},"Body":"<base64>"} into
 * broker.envelope, which only grows. Names were checked on publish:
 * nothing to escape in them; the content type is printable ASCII, whose
 * quotes and backslashes are escaped (2 bytes each at most).
 */
static void
broker_envelope(const char *topic, size_t topic_len, const char *ctype,
    size_t ctype_len, const void *body, size_t body_len)
{
	static const char	 h1[] = "{\"Header\":{\"Content-Type\":\"";
	static const char	 h2[] = "\",\"Micro-Topic\":\"";
	static const char	 h3[] = "\"},\"Body\":\"";
	size_t			 need;
	char			*p;

	need = sizeof(h1) + sizeof(h2) + sizeof(h3) + 2 * ctype_len +
	    topic_len + BASE64_LEN(body_len) + 3;
	if (need > broker.envelope_cap) {
		broker.envelope_cap = need;
		broker.envelope = xrealloc(broker.envelope, need);
	}
	p = BROKER_PUT(broker.envelope, h1);
	p = broker_put_escaped(p, ctype, ctype_len);
	p = BROKER_PUT(p, h2);
	p = broker_put(p, topic, topic_len);
	p = BROKER_PUT(p, h3);
	base64_encode(body, body_len, p);
	p = BROKER_PUT(p + BASE64_LEN(body_len), "\"}");
	broker.envelope_len = (size_t)(p - broker.envelope);
}

/* The next member in turn that takes it; it moves to the back. */
static void
broker_deliver_queue(struct broker_queue *q, const void *env, size_t len)
{
	struct broker_sub	*s, *first = TAILQ_FIRST(&q->members);

	while ((s = TAILQ_FIRST(&q->members)) != NULL) {
		TAILQ_REMOVE(&q->members, s, entry);
		TAILQ_INSERT_TAIL(&q->members, s, entry);
		if (!s->gone && s->deliver(env, len, s->arg) == 0) {
			bring_count(broker.ring, BRING_DELIVERED, 1);
			return;
		}
		if (TAILQ_FIRST(&q->members) == first)
			break;
	}
	bring_count(broker.ring, BRING_UNROUTED, 1);
}

static void
broker_deliver_subs(struct broker_topic *t, const void *env, size_t len)
{
	struct broker_sub	*s;
	uint64_t		 n = 0;

	TAILQ_FOREACH(s, &t->subs, entry)
		if (!s->gone && s->deliver(env, len, s->arg) == 0)
			n++;
	bring_count(broker.ring, BRING_DELIVERED, n);
}

/*
 * Copies for our queue groups whose group is gone here (its last member
 * left after the publisher chose us) are unrouted: counted, not silent.
 */
static void
broker_deliver(const struct bring_msg *m)
{
	struct broker_topic	*t;
	struct broker_queue	*q;
	unsigned		 self = bring_self(broker.ring);
	size_t			 ours = bring_msg_targets_of(m, self);

	broker_delivering(1);
	if ((t = broker_topic_find(m->topic, m->topic_len)) != NULL) {
		broker_envelope(m->topic, m->topic_len, m->ctype, m->ctype_len,
		    m->body, m->body_len);
		broker_deliver_subs(t, broker.envelope, broker.envelope_len);
		LIST_FOREACH(q, &t->queues, entry) {
			if (bring_msg_target(m, q->qhash) != (int)self)
				continue;
			broker_deliver_queue(q, broker.envelope,
			    broker.envelope_len);
			ours--;
		}
	}
	broker_delivering(0);
	if (ours != 0)
		bring_count(broker.ring, BRING_UNROUTED, ours);
}

/*
 * A backend's payload as subscribers get it. go-micro's NATS broker (and
 * our own publishes) carry the envelope itself; anything else, e.g. from
 * the nats CLI, is wrapped as an octet-stream body.
 */
static void
broker_bus_envelope(const char *topic, const void **data, size_t *len)
{
	static const char	 head[] = "{\"Header\":";
	static const char	 ctype[] = "application/octet-stream";

	if (*len >= sizeof(head) - 1 &&
	    memcmp(*data, head, sizeof(head) - 1) == 0)
		return;
	broker_envelope(topic, strlen(topic), ctype, sizeof(ctype) - 1,
	    *data, *len);
	*data = broker.envelope;
	*len = broker.envelope_len;
}

static void
broker_bus_topic(void *arg, const void *data, size_t len)
{
	struct broker_topic	*t = arg;

	broker_bus_envelope(t->name, &data, &len);
	broker_delivering(1);
	broker_deliver_subs(t, data, len);
	broker_delivering(0);
}

static void
broker_bus_queue(void *arg, const void *data, size_t len)
{
	struct broker_queue	*q = arg;

	broker_bus_envelope(q->topic->name, &data, &len);
	broker_delivering(1);
	broker_deliver_queue(q, data, len);
	broker_delivering(0);
}

void
broker_run(void)
{
	struct bring_msg	 m;
	int			 n = 0;

	for (;;) {
		while (n < BROKER_BATCH && bring_next(broker.ring, &m)) {
			broker_deliver(&m);
			n++;
		}
		if (n == BROKER_BATCH) {
			/* Let the connections breathe; come back next turn. */
			event_active(broker.run_ev, EV_TIMEOUT, 0);
			return;
		}
		if (!bring_sleep(broker.ring))
			return;
	}
}

static void
broker_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	bring_drain(broker.ring);
	broker_run();
}

static void
broker_run_cb(evutil_socket_t fd, short what, void *arg)
{
	broker_run();
}

static int
broker_publish_bus(const char *topic, const char *ctype, const void *body,
    size_t len, const char **cause)
{
	int	 r;

	broker_envelope(topic, strlen(topic), ctype, strlen(ctype), body, len);
	/* Our own subscribers get it back from the bus, like everyone else. */
	r = broker.be->publish(broker.be_state, topic, broker.envelope,
	    broker.envelope_len, cause);
	if (r == 0)
		bring_count(broker.ring, BRING_PUBLISHED, 1);
	return r == BROKER_BACKEND_DOWN ? BROKER_DOWN : r < 0 ? -1 : 0;
}

int
broker_publish(const char *topic, const char *ctype, const void *body,
    size_t len, const char **cause)
{
	struct bring_msg	 m;

	if (len > broker.conf->broker_max_message) {
		*cause = "message larger than [broker] max_message";
		return -1;
	}
	if (broker.be != NULL)
		return broker_publish_bus(topic, ctype, body, len, cause);
	/*
	 * Publishes done in one loop turn (many connections' at once) must
	 * not overwrite what our reader has not reached: our subscribers
	 * would lose it though they keep up. It goes out now.
	 */
	while (bring_laps_self(broker.ring, len) &&
	    bring_next_self(broker.ring, &m))
		broker_deliver(&m);
	if (bring_publish(broker.ring, topic, ctype, body, len, cause) == -1)
		return -1;
	/* Our own ring is read like the others, from the loop. */
	event_active(broker.run_ev, EV_TIMEOUT, 0);
	return 0;
}

void
broker_count_dropped(void)
{
	bring_count(broker.ring, BRING_DROPPED, 1);
}

char *
broker_stats_json(void)
{
	uint64_t	 c[BRING_NCOUNTERS];
	char		 buf[512];
	size_t		 i, n;

	bring_stats(c);
	n = (size_t)snprintf(buf, sizeof(buf), "{\"version\":1");
	for (i = 0; i < BRING_NCOUNTERS && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"%s\":%llu",
		    bring_counter_names[i], (unsigned long long)c[i]);
	if (n < sizeof(buf))
		snprintf(buf + n, sizeof(buf) - n, "}");
	return xstrdup(buf);
}

/* The backend the master loaded before the fork, or why it did not. */
static int
broker_bus_open(struct event_base *base, const struct config *conf,
    const char **cause)
{
	if (broker.loaded == NULL) {
		*cause = broker.load_error;
		return -1;
	}
	if ((broker.be_state = broker_backend_open(broker.loaded, base,
	    conf->broker_address, cause)) == NULL)
		return -1;
	broker.be = broker.loaded;
	return 0;
}

int
broker_init(struct event_base *base, const struct config *conf,
    const char **cause)
{
	size_t	 i;

	/* With a backend too: the ring's counters make /stats. */
	if ((broker.ring = bring_attach(cause)) == NULL)
		return -1;	/* errno EBUSY: no ring left for now */
	broker.conf = conf;
	for (i = 0; i < BROKER_BUCKETS; i++)
		LIST_INIT(&broker.buckets[i]);
	if (!broker_is_builtin(conf)) {
		if (broker_bus_open(base, conf, cause) == 0)
			return 0;
		bring_detach(broker.ring);
		broker.ring = NULL;
		errno = EINVAL;	/* plugin, address: retrying will not help */
		return -1;
	}
	broker.wake_ev = event_new(base, bring_wake_fd(broker.ring),
	    EV_READ | EV_PERSIST, broker_wake_cb, NULL);
	event_add(broker.wake_ev, NULL);
	broker.run_ev = evtimer_new(base, broker_run_cb, NULL);
	/* Announce that we sleep, so writers start waking us. */
	event_active(broker.run_ev, EV_TIMEOUT, 0);
	return 0;
}

void
broker_shutdown(void)
{
	if (broker.ring == NULL)
		return;
	if (broker.be != NULL) {
		if (broker.be->close != NULL)
			broker.be->close(broker.be_state);
		broker.be = NULL;
		broker.be_state = NULL;
	} else {
		event_free(broker.wake_ev);
		event_free(broker.run_ev);
	}
	bring_detach(broker.ring);
	broker.ring = NULL;
	free(broker.envelope);
	broker.envelope = NULL;
	broker.envelope_cap = 0;
}
