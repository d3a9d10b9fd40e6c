/*
 * The control commands (doc/control-protocol.md), one handler each,
 * dispatched through a table.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "ctlproto.h"
#include "microd/control.h"
#include "microd/master.h"
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

static void
ctlcmd_restart(struct control_conn *c, const struct ctl_msg *m)
{
	struct ctl_frame	 f;
	char			 name[32];
	enum role_id		 role;
	int64_t			 id = -1;
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
	if (ctl_map_get(m->args, "id") != NULL &&
	    (ctl_obj_int(ctl_map_get(m->args, "id"), &id) == -1 || id < 0)) {
		control_error(c, m->id, "bad worker id");
		return;
	}
	if ((n = proc_restart(role, (int)id)) == 0) {
		control_error(c, m->id, "no such worker");
		return;
	}
	ctl_frame_reply(&f, m->id, 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_kv_int(&f.pk, "restarted", n);
	control_send(c, &f);
}

static void
ctlcmd_reply_json(struct control_conn *c, uint32_t id, struct evbuffer *b)
{
	struct ctl_frame	 f;
	size_t			 len = evbuffer_get_length(b);
	char			 err[160];

	if (len > CTL_FRAME_MAX - 64) {
		snprintf(err, sizeof(err), "the answer (%zu bytes) is larger "
		    "than a control frame; use the sidecar's GET /registry",
		    len);
		control_error(c, id, err);
		return;
	}
	ctl_frame_reply(&f, id, 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_str(&f.pk, "json");
	msgpack_pack_str(&f.pk, len);
	msgpack_pack_str_body(&f.pk, evbuffer_pullup(b, -1), len);
	control_send(c, &f);
}

static void
ctlcmd_services(struct control_conn *c, const struct ctl_msg *m)
{
	struct evbuffer	*b = evbuffer_new();

	shm_services_json(master->shm, master->shm_reader_slot, b);
	ctlcmd_reply_json(c, m->id, b);
	evbuffer_free(b);
}

static void
ctlcmd_service(struct control_conn *c, const struct ctl_msg *m)
{
	struct evbuffer		*b;
	char			 name[SHM_NAME_MAX + 1];

	if (m->args == NULL ||
	    ctl_obj_str(ctl_map_get(m->args, "name"), name, sizeof(name)) == -1) {
		control_error(c, m->id, "service needs a name");
		return;
	}
	b = evbuffer_new();
	if (shm_service_json(master->shm, master->shm_reader_slot, name,
	    strlen(name), b) == 0)
		ctlcmd_reply_json(c, m->id, b);
	else
		control_error(c, m->id, "service not found");
	evbuffer_free(b);
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

/*
 * Every service called through this host, its counts summed over the
 * workers; p99 is estimated from the merged latency histogram.
 */
static void
ctlcmd_pack_services(msgpack_packer *pk)
{
	struct svcstats_service	*v;
	size_t			 i, n;

	v = svcstats_collect(&n);
	msgpack_pack_array(pk, n);
	for (i = 0; i < n; i++) {
		msgpack_pack_map(pk, 4);
		ctl_pack_kv_str(pk, "name", v[i].name);
		ctl_pack_kv_uint(pk, "requests", v[i].requests);
		ctl_pack_kv_uint(pk, "errors", v[i].errors);
		ctl_pack_str(pk, "p99_ms");
		msgpack_pack_double(pk, svcstats_quantile_ms(&v[i], 0.99));
	}
	free(v);
}

void
ctlcmd_push_stats(struct control_conn *c)
{
	struct ctl_frame	 f;

	ctl_frame_event(&f, c->stream_id, "stats", 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 3);
	ctl_pack_str(&f.pk, "status");
	status_pack(&f.pk);
	ctl_pack_str(&f.pk, "workers");
	status_pack_workers(&f.pk);
	ctl_pack_str(&f.pk, "services");
	ctlcmd_pack_services(&f.pk);
	control_send(c, &f);
}
