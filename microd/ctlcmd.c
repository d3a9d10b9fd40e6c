/*
 * The control commands (doc/control-protocol.md), one handler each,
 * dispatched through a table.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "ctlproto.h"
#include "microd/control.h"
#include "microd/master.h"
#include "shm/nodehealth.h"
#include "shm/registry.h"
#include "shm/services-json.h"
#include "shm/svcstats.h"
#include "util.h"

struct ctlcmd {
	const char	*name;
	void		(*handle)(struct control_conn *, const struct ctl_msg *);
};

/* Reply with one "data" value packed by fn. */
static void
ctlcmd_reply(struct control_conn *c, uint32_t id,
    void (*fn)(msgpack_packer *))
{
	struct ctl_frame	 f;

	ctl_frame_reply(&f, id, 1);
	ctl_pack_str(&f.pk, "data");
	fn(&f.pk);
	control_send(c, &f);
}

static void
ctlcmd_pack_empty(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 0);
}

static void
ctlcmd_pack_version(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 2);
	ctl_pack_kv_str(pk, "version", PACKAGE_VERSION);
	ctl_pack_kv_int(pk, "protocol", CTL_PROTO_VERSION);
}

static void
ctlcmd_version(struct control_conn *c, const struct ctl_msg *m)
{
	ctlcmd_reply(c, m->id, ctlcmd_pack_version);
}

static void
ctlcmd_status(struct control_conn *c, const struct ctl_msg *m)
{
	ctlcmd_reply(c, m->id, status_pack);
}

static void
ctlcmd_workers(struct control_conn *c, const struct ctl_msg *m)
{
	ctlcmd_reply(c, m->id, status_pack_workers);
}

static void
ctlcmd_reload(struct control_conn *c, const struct ctl_msg *m)
{
	struct ctl_frame	 f;
	char			 err[1024];

	if (master_reload(err, sizeof(err)) == -1) {
		control_error(c, m->id, err);
		return;
	}
	ctl_frame_reply(&f, m->id, 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_kv_uint(&f.pk, "generation", master->generation);
	control_send(c, &f);
}

static void
ctlcmd_stop(struct control_conn *c, const struct ctl_msg *m)
{
	ctlcmd_reply(c, m->id, ctlcmd_pack_empty);
	master_stop();
}

/* The optional integer argument key within [min, max]: -1 if bad. */
static int
ctlcmd_arg_int(const struct ctl_msg *m, const char *key, int64_t min,
    int64_t max, int64_t *v)
{
	const msgpack_object	*o = ctl_map_get(m->args, key);

	if (o == NULL)
		return 0;
	return ctl_obj_int(o, v) == 0 && *v >= min && *v <= max ? 0 : -1;
}

/*
 * A restart with "pid" (micro-top's, which shows processes) is for that
 * process only. proc_restart() replaces the current generation's worker
 * of a role and index, so the pid must name that one: a draining one, or
 * one a reload replaces, would have the restart hit its successor, a
 * healthy worker nobody asked about. On success *id is its index.
 */
static const char *
ctlcmd_restart_pid(enum role_id role, int64_t pid, int64_t *id)
{
	struct proc	*p;

	TAILQ_FOREACH(p, &master->procs, entry) {
		if (p->pid == pid && p->role == role &&
		    (*id < 0 || (int64_t)p->id == *id))
			break;
	}
	if (p == NULL)
		return "worker is not running";
	if (p->state == PROC_DRAINING)
		return "worker is draining";
	if (p->generation != master->generation)
		return "worker is being replaced by a reload";
	*id = p->id;
	return NULL;
}

static void
ctlcmd_restart(struct control_conn *c, const struct ctl_msg *m)
{
	struct ctl_frame	 f;
	char			 name[32];
	const char		*cause;
	enum role_id		 role;
	int64_t			 id = -1, pid = 0;
	int			 n;

	if (master->stopping) {
		control_error(c, m->id, "microd is stopping");
		return;
	}
	if (m->args == NULL ||
	    ctl_obj_str(ctl_map_get(m->args, "role"), name, sizeof(name)) ==
	    -1 || config_role_lookup(name, &role) == -1) {
		control_error(c, m->id, "restart needs a role: registry, api, "
		    "web, sidecar or broker");
		return;
	}
	if (ctlcmd_arg_int(m, "id", 0, INT_MAX, &id) == -1) {
		control_error(c, m->id, "bad worker id");
		return;
	}
	if (ctlcmd_arg_int(m, "pid", 1, INT_MAX, &pid) == -1) {
		control_error(c, m->id, "bad worker pid");
		return;
	}
	if (pid != 0 && (cause = ctlcmd_restart_pid(role, pid, &id)) != NULL) {
		control_error(c, m->id, cause);
		return;
	}
	if ((n = proc_restart(role, (int)id, &cause)) == 0) {
		control_error(c, m->id, cause);
		return;
	}
	ctl_frame_reply(&f, m->id, 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_kv_int(&f.pk, "restarted", n);
	control_send(c, &f);
}

/* Send f, or say instead that it is larger than a frame may be. */
static void
ctlcmd_send_bounded(struct control_conn *c, uint32_t id, struct ctl_frame *f)
{
	size_t	 len = f->sb.size - 4;	/* the length prefix */
	char	 err[160];

	if (len <= CTL_FRAME_MAX) {
		control_send(c, f);
		return;
	}
	ctl_frame_free(f);
	snprintf(err, sizeof(err), "the answer (%zu bytes) is larger than a "
	    "control frame; use the sidecar's GET /registry", len);
	control_error(c, id, err);
}

static void
ctlcmd_pack_json(msgpack_packer *pk, const char *json, size_t len)
{
	ctl_pack_str(pk, "json");
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, json, len);
}

static void
ctlcmd_services(struct control_conn *c, const struct ctl_msg *m)
{
	struct evbuffer		*b = evbuffer_new();
	struct ctl_frame	 f;
	size_t			 len;

	shm_services_json(master->shm, master->shm_reader_slot, b);
	len = evbuffer_get_length(b);
	ctl_frame_reply(&f, m->id, 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 1);
	ctlcmd_pack_json(&f.pk, (const char *)evbuffer_pullup(b, -1), len);
	evbuffer_free(b);
	ctlcmd_send_bounded(c, m->id, &f);
}

/*
 * This host's view of each node of svc, in record order: when it last
 * answered a worker, and whether a worker's selector ejects it now.
 */
static void
ctlcmd_pack_health(msgpack_packer *pk, const struct shm_service *svc)
{
	struct shm_node		 node;
	struct nodehealth	 h;
	uint64_t		 now = util_now_ms();
	size_t			 i;

	msgpack_pack_array(pk, svc->nnodes);
	for (i = 0; i < svc->nnodes; i++) {
		shm_service_node(svc, i, &node);
		nodehealth_get(svc->name, node.id, now, &h);
		msgpack_pack_map(pk, 3);
		ctl_pack_kv_str(pk, "id", node.id);
		ctl_pack_str(pk, "last_seen");
		if (h.last_ok != 0)
			msgpack_pack_uint64(pk, h.last_ok);
		else
			msgpack_pack_nil(pk);
		ctl_pack_kv_bool(pk, "ejected", h.ejected);
	}
}

/*
 * The registry's go-micro JSON as it is (what GET /registry answers),
 * and this host's view of the nodes beside it, packed in one read
 * section so both describe the same record.
 */
static void
ctlcmd_service(struct control_conn *c, const struct ctl_msg *m)
{
	struct shm_service	 svc;
	struct ctl_frame	 f;
	char			 name[SHM_NAME_MAX + 1];
	int			 found;

	if (m->args == NULL ||
	    ctl_obj_str(ctl_map_get(m->args, "name"), name, sizeof(name)) == -1) {
		control_error(c, m->id, "service needs a name");
		return;
	}
	shm_read_begin(master->shm, master->shm_reader_slot);
	found = shm_lookup(master->shm, name, strlen(name), &svc) == 0;
	if (found) {
		ctl_frame_reply(&f, m->id, 1);
		ctl_pack_str(&f.pk, "data");
		msgpack_pack_map(&f.pk, 2);
		ctlcmd_pack_json(&f.pk, svc.json, svc.json_len);
		ctl_pack_str(&f.pk, "health");
		ctlcmd_pack_health(&f.pk, &svc);
	}
	shm_read_end(master->shm);
	if (found)
		ctlcmd_send_bounded(c, m->id, &f);
	else
		control_error(c, m->id, "service not found");
}

static void
ctlcmd_stats(struct control_conn *c, const struct ctl_msg *m)
{
	control_stream_start(c, m->id);
}

static const struct ctlcmd ctlcmds[] = {
	{ "version", ctlcmd_version },
	{ "status", ctlcmd_status },
	{ "workers", ctlcmd_workers },
	{ "reload", ctlcmd_reload },
	{ "stop", ctlcmd_stop },
	{ "restart", ctlcmd_restart },
	{ "services", ctlcmd_services },
	{ "service", ctlcmd_service },
	{ "register", control_relay },
	{ "deregister", control_relay },
	{ "stats", ctlcmd_stats },
	{ "logs", ctllogs_start },
	{ "subscribe", ctlsub_start },
};

void
ctlcmd_dispatch(struct control_conn *c, const struct ctl_msg *m)
{
	size_t	 i;

	if (m->cmd == NULL) {
		control_error(c, m->id, "not a request");
		return;
	}
	for (i = 0; i < nitems(ctlcmds); i++) {
		if (strcmp(m->cmd, ctlcmds[i].name) == 0) {
			ctlcmds[i].handle(c, m);
			return;
		}
	}
	control_error(c, m->id, "unknown command");
}

/* A registered service: how many of its nodes no worker ejects now. */
struct ctlcmd_healthy {
	char		*name;
	size_t		 nnodes;
	size_t		 ids;		/* its first node ID in the ID list */
	uint64_t	 healthy;
};

/*
 * The services and their node IDs, copied out in the read: the health
 * tables are looked up after it (one lookup per node and worker), since
 * a read held long keeps the registry writer from reusing memory.
 */
struct ctlcmd_registered {
	struct ctlcmd_healthy	*v;
	size_t			 n, cap;
	char			*ids;		/* NUL-terminated, in order */
	size_t			 ids_len, ids_cap;
};

static size_t
ctlcmd_add_id(struct ctlcmd_registered *r, const char *id)
{
	size_t	 at = r->ids_len, len = strlen(id) + 1;

	while (r->ids_len + len > r->ids_cap) {
		r->ids_cap = r->ids_cap ? r->ids_cap * 2 : 4096;
		r->ids = xrealloc(r->ids, r->ids_cap);
	}
	memcpy(r->ids + at, id, len);
	r->ids_len += len;
	return at;
}

static int
ctlcmd_add_registered(const struct shm_service *svc, void *arg)
{
	struct ctlcmd_registered	*r = arg;
	struct ctlcmd_healthy		*h;
	struct shm_node			 node;
	size_t				 i;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
	}
	h = &r->v[r->n++];
	h->name = xstrdup(svc->name);
	h->nnodes = svc->nnodes;
	h->ids = r->ids_len;
	for (i = 0; i < svc->nnodes; i++) {
		shm_service_node(svc, i, &node);
		ctlcmd_add_id(r, node.id);
	}
	return 0;
}

static void
ctlcmd_count_healthy(struct ctlcmd_registered *r)
{
	struct nodehealth	 nh;
	uint64_t		 now = util_now_ms();
	const char		*id;
	size_t			 i, j;

	for (i = 0; i < r->n; i++) {
		r->v[i].healthy = 0;
		id = r->ids + r->v[i].ids;
		for (j = 0; j < r->v[i].nnodes; j++, id += strlen(id) + 1) {
			nodehealth_get(r->v[i].name, id, now, &nh);
			r->v[i].healthy += !nh.ejected;
		}
	}
}

static int
ctlcmd_healthy_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ctlcmd_healthy *)a)->name,
	    ((const struct ctlcmd_healthy *)b)->name);
}

/* Every registered service, sorted by name; *n is their number. */
static struct ctlcmd_healthy *
ctlcmd_registered(size_t *n)
{
	struct ctlcmd_registered	 r = { 0 };

	shm_read_begin(master->shm, master->shm_reader_slot);
	shm_foreach(master->shm, ctlcmd_add_registered, &r);
	shm_read_end(master->shm);
	ctlcmd_count_healthy(&r);
	free(r.ids);
	if (r.n > 0)
		qsort(r.v, r.n, sizeof(*r.v), ctlcmd_healthy_cmp);
	*n = r.n;
	return r.v;
}

/* The counts when this host called it; healthy when it is registered. */
static void
ctlcmd_pack_service(msgpack_packer *pk, const char *name,
    const struct svcstats_service *s, const struct ctlcmd_healthy *h)
{
	msgpack_pack_map(pk, 1 + (s != NULL ? 3 : 0) + (h != NULL));
	ctl_pack_kv_str(pk, "name", name);
	if (s != NULL) {
		ctl_pack_kv_uint(pk, "requests", s->requests);
		ctl_pack_kv_uint(pk, "errors", s->errors);
		ctl_pack_str(pk, "p99_ms");
		msgpack_pack_double(pk, svcstats_quantile_ms(s, 0.99));
	}
	if (h != NULL)
		ctl_pack_kv_uint(pk, "healthy", h->healthy);
}

/* Walk both lists, sorted by name, as one; with pk NULL, only count. */
static size_t
ctlcmd_merge(msgpack_packer *pk, const struct svcstats_service *s,
    size_t ns, const struct ctlcmd_healthy *h, size_t nh)
{
	size_t	 i = 0, j = 0, rows = 0;
	int	 d;

	for (; i < ns || j < nh; rows++) {
		if (i == ns || j == nh)
			d = i == ns ? 1 : -1;
		else
			d = strcmp(s[i].name, h[j].name);
		if (pk != NULL)
			ctlcmd_pack_service(pk, d <= 0 ? s[i].name : h[j].name,
			    d <= 0 ? &s[i] : NULL, d >= 0 ? &h[j] : NULL);
		i += d <= 0;
		j += d >= 0;
	}
	return rows;
}

/*
 * Every service called through this host, its counts summed over the
 * workers (p99 estimated from the merged latency histogram), and every
 * registered one with its healthy nodes.
 */
static void
ctlcmd_pack_services(msgpack_packer *pk)
{
	struct svcstats_service	*s;
	struct ctlcmd_healthy	*h;
	size_t			 i, ns, nh;

	s = svcstats_collect(&ns);
	h = ctlcmd_registered(&nh);
	msgpack_pack_array(pk, ctlcmd_merge(NULL, s, ns, h, nh));
	ctlcmd_merge(pk, s, ns, h, nh);
	for (i = 0; i < nh; i++)
		free(h[i].name);
	free(h);
	free(s);
}

/* What the node health tables could not keep (doc/shm-layout.md). */
static void
ctlcmd_pack_overflow(msgpack_packer *pk)
{
	struct nodehealth_overflow	 o;

	nodehealth_overflow(&o);
	msgpack_pack_map(pk, 2);
	ctl_pack_kv_uint(pk, "evicted", o.evicted);
	ctl_pack_kv_uint(pk, "untracked", o.untracked);
}

void
ctlcmd_push_stats(struct control_conn *c)
{
	struct ctl_frame	 f;

	ctl_frame_event(&f, c->stream_id, "stats", 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 4);
	ctl_pack_str(&f.pk, "status");
	status_pack(&f.pk);
	ctl_pack_str(&f.pk, "workers");
	status_pack_workers(&f.pk);
	ctl_pack_str(&f.pk, "services");
	ctlcmd_pack_services(&f.pk);
	ctl_pack_str(&f.pk, "node_health");
	ctlcmd_pack_overflow(&f.pk);
	control_send(c, &f);
}
