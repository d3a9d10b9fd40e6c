/*
 * The logs stream (doc/control-protocol.md, "logs"): the recent lines of
 * every process from the log rings (shm/logring.h), merged by time, then
 * the new ones as they come. A timer polls the rings while a logs stream
 * is open, and only then.
 */
#include "config.h"

#include <sys/queue.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ctlproto.h"
#include "log.h"
#include "microd/control.h"
#include "microd/master.h"
#include "shm/logring.h"
#include "utf8.h"
#include "util.h"

#define CTLLOGS_POLL_MS		200
#define CTLLOGS_LINES		20	/* backlog when not asked */
/* Lines sent at once (backlog, or one poll): about 300 KiB at most. */
#define CTLLOGS_BATCH_MAX	1000
/* The role of the master's own lines (its shm slot's role). */
#define CTLLOGS_MASTER		"master"
#define CTLLOGS_ANY		-1

struct ctllogs_filter {
	enum log_level		 level;		/* the least severe shown */
	int			 role;		/* CTLLOGS_ANY, or a role_id */
	int64_t			 id;		/* CTLLOGS_ANY, or one worker */
};

struct ctllogs {
	TAILQ_ENTRY(ctllogs)	 entry;
	struct control_conn	*conn;
	struct ctllogs_filter	 filter;
	uint64_t		*next;		/* per ring: next line to read */
};

/*
 * Lines read from the rings. key is the line's time, but never less
 * than the key of the line before it in its ring: sorted by key, a
 * ring's lines stay in order even if the wall clock stepped back.
 */
struct ctllogs_item {
	uint64_t		 key;
	struct logring_line	 line;
};

struct ctllogs_batch {
	const struct ctllogs_filter *filter;
	struct ctllogs_item	*v;
	size_t			 n, cap;
	uint64_t		 clock;		/* the key of the ring's last */
	int			 other;		/* ring's last: not the filter's */
};

static TAILQ_HEAD(, ctllogs) ctllogs_open = TAILQ_HEAD_INITIALIZER(
    ctllogs_open);
static struct event		*ctllogs_timer;

static const char *
ctllogs_role_name(unsigned role)
{
	return role < ROLE_COUNT ? config_role_name(role) : CTLLOGS_MASTER;
}

static int
ctllogs_match_proc(const struct ctllogs_filter *f, unsigned role, unsigned id)
{
	return (f->role == CTLLOGS_ANY || (unsigned)f->role == role) &&
	    (f->id == CTLLOGS_ANY || (uint64_t)f->id == id);
}

static int
ctllogs_match(const struct ctllogs_filter *f, const struct logring_line *l)
{
	return l->level <= f->level && ctllogs_match_proc(f, l->role, l->id);
}

static void
ctllogs_add(const struct logring_line *l, void *arg)
{
	struct ctllogs_batch	*b = arg;
	struct ctllogs_item	*it;

	if (l->time_ms > b->clock)
		b->clock = l->time_ms;
	b->other = !ctllogs_match_proc(b->filter, l->role, l->id);
	if (!ctllogs_match(b->filter, l))
		return;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->v = xrealloc(b->v, b->cap * sizeof(*b->v));
	}
	it = &b->v[b->n++];
	it->key = b->clock;
	it->line = *l;
}

static int
ctllogs_cmp(const void *a, const void *b)
{
	const struct ctllogs_item	*x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->line.slot != y->line.slot)
		return x->line.slot < y->line.slot ? -1 : 1;
	return x->line.n < y->line.n ? -1 : x->line.n > y->line.n;
}

/* Read every ring from next[] on into b, sorted; the lines lost. */
static uint64_t
ctllogs_collect(uint64_t *next, struct ctllogs_batch *b)
{
	unsigned	 slot;
	uint64_t	 lost = 0, n;

	for (slot = 0; slot < logring_nslots(); slot++) {
		b->clock = 0;
		b->other = 0;
		n = logring_read(slot, &next[slot], ctllogs_add, b);
		/*
		 * The ring of a process the filter leaves out (as its line
		 * read last says): what it lost was not asked for.
		 */
		if (!b->other)
			lost += n;
	}
	if (b->n > 1)
		qsort(b->v, b->n, sizeof(*b->v), ctllogs_cmp);
	return lost;
}

static void
ctllogs_pack_line(msgpack_packer *pk, const struct logring_line *l)
{
	char	*msg;
	size_t	 len;

	msg = utf8_repair(l->text, l->len, &len);
	msgpack_pack_map(pk, 6);
	ctl_pack_kv_uint(pk, "time", l->time_ms);
	ctl_pack_kv_int(pk, "pid", l->pid);
	ctl_pack_kv_str(pk, "role", ctllogs_role_name(l->role));
	ctl_pack_kv_uint(pk, "id", l->id);
	ctl_pack_kv_str(pk, "level", log_level_name(l->level));
	ctl_pack_str(pk, "msg");
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, msg, len);
	free(msg);
}

static void
ctllogs_send_line(struct control_conn *c, const struct logring_line *l)
{
	struct ctl_frame	 f;

	ctl_frame_event(&f, c->stream_id, "log", 1);
	ctl_pack_str(&f.pk, "data");
	ctllogs_pack_line(&f.pk, l);
	control_send(c, &f);
}

static void
ctllogs_send_lost(struct control_conn *c, uint64_t lost)
{
	struct ctl_frame	 f;

	ctl_frame_event(&f, c->stream_id, "lost", 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_kv_uint(&f.pk, "lines", lost);
	control_send(c, &f);
}

/*
 * New lines for one stream: what was lost first, then at most a batch;
 * the rings' cursors go back to the first line left for the next poll.
 */
static void
ctllogs_poll_one(struct ctllogs *s)
{
	struct ctllogs_batch	 b = { &s->filter, NULL, 0, 0, 0, 0 };
	uint64_t		 lost;
	size_t			 i;

	lost = ctllogs_collect(s->next, &b);
	if (lost > 0)
		ctllogs_send_lost(s->conn, lost);
	for (i = 0; i < b.n && i < CTLLOGS_BATCH_MAX; i++)
		ctllogs_send_line(s->conn, &b.v[i].line);
	for (i = b.n; i-- > CTLLOGS_BATCH_MAX; )
		s->next[b.v[i].line.slot] = b.v[i].line.n;
	free(b.v);
}

/* A reader that does not keep up is skipped: the rings lap it. */
static void
ctllogs_poll_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ctllogs	*s;

	TAILQ_FOREACH(s, &ctllogs_open, entry) {
		if (!s->conn->closing && !control_output_full(s->conn))
			ctllogs_poll_one(s);
	}
}

/* The newest lines, at most want of them, then the reply closing them. */
static void
ctllogs_backlog(struct ctllogs *s, uint32_t id, size_t want)
{
	struct ctllogs_batch	 b = { &s->filter, NULL, 0, 0, 0, 0 };
	struct ctl_frame	 f;
	unsigned		 slot;
	size_t			 i, first;

	for (slot = 0; slot < logring_nslots(); slot++) {
		s->next[slot] = logring_count(slot);
		if (want > 0)
			s->next[slot] -= s->next[slot] < LOGRING_ENTRIES ?
			    s->next[slot] : LOGRING_ENTRIES;
	}
	ctllogs_collect(s->next, &b);
	first = b.n > want ? b.n - want : 0;
	for (i = first; i < b.n; i++)
		ctllogs_send_line(s->conn, &b.v[i].line);
	free(b.v);
	ctl_frame_reply(&f, id, 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_kv_uint(&f.pk, "lines", b.n - first);
	control_send(s->conn, &f);
}

/* The filter and backlog the request asks for; the error if bad. */
static const char *
ctllogs_args(const msgpack_object *args, struct ctllogs_filter *f,
    int64_t *lines)
{
	const msgpack_object	*o;
	char			 s[32];
	enum role_id		 role;

	f->level = LOG_LEVEL_DEBUG;
	f->role = CTLLOGS_ANY;
	f->id = CTLLOGS_ANY;
	*lines = CTLLOGS_LINES;
	if ((o = ctl_map_get(args, "lines")) != NULL && (ctl_obj_int(o,
	    lines) == -1 || *lines < 0 || *lines > CTLLOGS_BATCH_MAX))
		return "lines must be a number from 0 to 1000";
	if ((o = ctl_map_get(args, "level")) != NULL && (ctl_obj_str(o, s,
	    sizeof(s)) == -1 || log_parse_level(s, &f->level) == -1))
		return "level must be error, warn, info or debug";
	if ((o = ctl_map_get(args, "role")) != NULL) {
		if (ctl_obj_str(o, s, sizeof(s)) == -1 ||
		    (strcmp(s, CTLLOGS_MASTER) != 0 &&
		    config_role_lookup(s, &role) == -1))
			return "role must be master, registry, api, web, "
			    "sidecar or broker";
		f->role = strcmp(s, CTLLOGS_MASTER) == 0 ? ROLE_COUNT :
		    (int)role;
	}
	if ((o = ctl_map_get(args, "id")) != NULL && (f->role == CTLLOGS_ANY ||
	    ctl_obj_int(o, &f->id) == -1 || f->id < 0 || f->id > UINT16_MAX))
		return "id must be a worker number, with a role";
	if ((o = ctl_map_get(args, "follow")) != NULL &&
	    o->type != MSGPACK_OBJECT_BOOLEAN)
		return "follow must be true or false";
	return NULL;
}

static void
ctllogs_timer_start(void)
{
	struct timeval	 tv = { 0, CTLLOGS_POLL_MS * 1000 };

	if (ctllogs_timer != NULL)
		return;
	ctllogs_timer = event_new(master->base, -1, EV_PERSIST,
	    ctllogs_poll_cb, NULL);
	if (ctllogs_timer == NULL || event_add(ctllogs_timer, &tv) == -1)
		fatalx("logs stream timer");
}

void
ctllogs_start(struct control_conn *c, const struct ctl_msg *m)
{
	const msgpack_object	*follow;
	struct ctllogs		*s;
	const char		*error;
	int64_t			 lines;

	s = xcalloc(1, sizeof(*s));
	if ((error = ctllogs_args(m->args, &s->filter, &lines)) != NULL) {
		relay_send_error(c->bev, m->id, CTL_CODE_INVALID, error);
		free(s);
		return;
	}
	s->conn = c;
	s->next = xcalloc(logring_nslots(), sizeof(*s->next));
	ctllogs_backlog(s, m->id, (size_t)lines);
	follow = ctl_map_get(m->args, "follow");
	if (follow == NULL || !follow->via.boolean) {
		free(s->next);
		free(s);
		return;
	}
	c->stream = CONTROL_STREAM_LOGS;
	c->stream_id = m->id;
	c->logs = s;
	TAILQ_INSERT_TAIL(&ctllogs_open, s, entry);
	ctllogs_timer_start();
}

void
ctllogs_stop(struct control_conn *c)
{
	struct ctllogs	*s = c->logs;

	TAILQ_REMOVE(&ctllogs_open, s, entry);
	free(s->next);
	free(s);
	c->logs = NULL;
	if (TAILQ_EMPTY(&ctllogs_open)) {
		event_free(ctllogs_timer);
		ctllogs_timer = NULL;
	}
}
