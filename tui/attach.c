/*
 * Staying attached to microd: the stats stream on one connection, the
 * requests (services, service, reload, restart) on another, since any
 * request on the stream's connection would end it. When microd goes away
 * the model is dropped, the reason is shown, and a reconnect is tried
 * every TOP_RETRY_MS.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "shm/registry.h"
#include "tui/conn.h"
#include "tui/top.h"
#include "util.h"

static void
attach_fail(struct top *t, const char *cause)
{
	if (t->failure[0] == '\0')
		snprintf(t->failure, sizeof(t->failure), "%s", cause);
}

static void
attach_close(struct top *t, const char *cause)
{
	conn_free(t->stream);
	conn_free(t->req);
	t->stream = t->req = NULL;
	t->services_pending = t->detail_pending = 0;
	model_clear(&t->model);
	panel_update(&t->panels[TOP_WORKERS], &t->model);
	panel_update(&t->panels[TOP_SERVICES], &t->model);
	snprintf(t->down, sizeof(t->down), "%s", cause);
	t->failure[0] = '\0';
	t->retry_ms = util_now_ms() + TOP_RETRY_MS;
	t->dirty = 1;
}

/* The text of a {"json":"..."} reply, NUL-terminated; NULL if absent. */
static char *
attach_json(const struct ctl_msg *msg)
{
	const msgpack_object	*o = ctl_map_get(msg->data, "json");

	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return NULL;
	return xstrndup(o->via.str.ptr, o->via.str.size);
}

static void
attach_on_services(const struct ctl_msg *msg, void *arg)
{
	struct top	*t = arg;
	const char	*cause = msg->error;
	char		*text;

	t->services_pending = 0;
	if (msg->ok && (text = attach_json(msg)) != NULL) {
		if (model_apply_services(&t->model, text, &cause) == 0)
			cause = NULL;
		free(text);
	} else if (msg->ok)
		cause = "services reply without json";
	if (cause != NULL)
		snprintf(t->message, sizeof(t->message), "%s", cause);
	panel_update(&t->panels[TOP_SERVICES], &t->model);
	t->dirty = 1;
}

/* {"last_seen","ejected"} of one node of a service reply's health. */
static json_t *
attach_node_health(const msgpack_object *h)
{
	const msgpack_object	*ejected = ctl_map_get(h, "ejected");
	json_t			*out = json_object();
	int64_t			 seen;

	if (ctl_obj_int(ctl_map_get(h, "last_seen"), &seen) == 0)
		json_object_set_new(out, "last_seen", json_integer(seen));
	if (ejected != NULL && ejected->type == MSGPACK_OBJECT_BOOLEAN)
		json_object_set_new(out, "ejected",
		    json_boolean(ejected->via.boolean));
	return out;
}

/*
 * This host's view of the nodes comes beside the registry's JSON, which
 * stays go-micro's: copy it into the node objects of the same id (in
 * every version), which the detail view reads.
 */
static void
attach_health(json_t *versions, const msgpack_object *health)
{
	const msgpack_object	*h;
	json_t			*byid, *svc, *node, *v;
	const char		*id;
	char			 want[SHM_FIELD_MAX + 1];
	size_t			 i, j;

	if (versions == NULL || health == NULL ||
	    health->type != MSGPACK_OBJECT_ARRAY)
		return;
	byid = json_object();
	for (i = 0; i < health->via.array.size; i++) {
		h = &health->via.array.ptr[i];
		if (ctl_obj_str(ctl_map_get(h, "id"), want, sizeof(want)) == 0)
			json_object_set_new(byid, want, attach_node_health(h));
	}
	json_array_foreach(versions, i, svc) {
		json_array_foreach(json_object_get(svc, "nodes"), j, node) {
			id = json_string_value(json_object_get(node, "id"));
			if (id != NULL && (v = json_object_get(byid, id)) != NULL)
				json_object_update(node, v);
		}
	}
	json_decref(byid);
}

static void
attach_on_detail(const struct ctl_msg *msg, void *arg)
{
	struct top	*t = arg;
	char		*text;

	t->detail_pending = 0;
	json_decref(t->detail);
	t->detail = NULL;
	if (!msg->ok)
		snprintf(t->message, sizeof(t->message), "%s: %s",
		    t->detail_name, msg->error);
	else if ((text = attach_json(msg)) != NULL) {
		t->detail = json_loads(text, 0, NULL);
		attach_health(t->detail, ctl_map_get(msg->data, "health"));
		free(text);
	}
	t->dirty = 1;
}

static void
attach_request(struct top *t, const char *cmd, conn_cb cb, int *pending)
{
	struct ctl_frame	 f;

	if (*pending)
		return;
	conn_begin(t->req, &f, cmd, 0);
	if (conn_send(t->req, &f, cb, t) == 0)
		*pending = 1;
}

void
attach_request_detail(struct top *t)
{
	struct ctl_frame	 f;

	if (t->req == NULL || t->detail_pending)
		return;
	conn_begin(t->req, &f, "service", 1);
	ctl_pack_str(&f.pk, "args");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_kv_str(&f.pk, "name", t->detail_name);
	if (conn_send(t->req, &f, attach_on_detail, t) == 0)
		t->detail_pending = 1;
}

static void
attach_on_stats(const struct ctl_msg *msg, void *arg)
{
	struct top	*t = arg;
	const char	*cause;

	if (msg->is_reply) {
		attach_fail(t, msg->ok ? "microd ended the stats stream" :
		    msg->error);
		return;
	}
	t->event_ms = util_now_ms();
	if (model_apply_stats(&t->model, msg->data, t->event_ms,
	    &cause) == -1) {
		attach_fail(t, cause);
		return;
	}
	panel_update(&t->panels[TOP_WORKERS], &t->model);
	panel_update(&t->panels[TOP_SERVICES], &t->model);
	/* The services list is not in the stream: fetch it on its beat. */
	attach_request(t, "services", attach_on_services, &t->services_pending);
	if (t->view == TOP_VIEW_DETAIL)
		attach_request_detail(t);
	t->dirty = 1;
}

static void
attach_connect(struct top *t)
{
	struct ctl_frame	 f;
	const char		*cause;

	if ((t->stream = conn_open(t->socket, &cause)) == NULL ||
	    (t->req = conn_open(t->socket, &cause)) == NULL) {
		attach_close(t, cause);
		return;
	}
	conn_begin(t->stream, &f, "stats", 0);
	conn_send(t->stream, &f, attach_on_stats, t);
	t->event_ms = util_now_ms();
	t->down[0] = '\0';
	t->dirty = 1;
}

void
attach_init(struct top *t, const char *socket)
{
	t->socket = socket;
	model_init(&t->model);
	panel_init(&t->panels[TOP_WORKERS], &workers_panel);
	panel_init(&t->panels[TOP_SERVICES], &services_panel);
	attach_connect(t);
}

void
attach_free(struct top *t)
{
	conn_free(t->stream);
	conn_free(t->req);
	t->stream = t->req = NULL;
	model_clear(&t->model);
	panel_free(&t->panels[TOP_WORKERS]);
	panel_free(&t->panels[TOP_SERVICES]);
	json_decref(t->detail);
	t->detail = NULL;
	free(t->detail_name);
	t->detail_name = NULL;
}

int
attach_up(const struct top *t)
{
	return t->stream != NULL;
}

static int
attach_timeout(struct top *t)
{
	uint64_t	 now = util_now_ms(), at;

	if (!attach_up(t) && now >= t->retry_ms)
		attach_connect(t);
	if (attach_up(t) && now >= t->event_ms + TOP_SILENT_MS)
		attach_close(t, "microd stopped sending stats");
	at = attach_up(t) ? t->event_ms + TOP_SILENT_MS : t->retry_ms;
	return at > now ? (int)(at - now) : 0;
}

static void
attach_io(struct top *t, struct pollfd *pfd)
{
	const char	*cause;

	if (conn_io(t->stream, pfd[0].revents, &cause) == -1 ||
	    conn_io(t->req, pfd[1].revents, &cause) == -1)
		attach_fail(t, cause);
	if (t->failure[0] != '\0')
		attach_close(t, t->failure);
}

int
attach_poll(struct top *t, int fd)
{
	struct pollfd	 pfd[3];
	int		 n = 0, in, timeout;

	timeout = attach_timeout(t);
	if (attach_up(t)) {
		pfd[0] = (struct pollfd){ conn_fd(t->stream),
		    conn_events(t->stream), 0 };
		pfd[1] = (struct pollfd){ conn_fd(t->req),
		    conn_events(t->req), 0 };
		n = 2;
	}
	in = n;
	if (fd != -1)
		pfd[n++] = (struct pollfd){ fd, POLLIN, 0 };
	if (poll(pfd, n, timeout) == -1) {
		if (errno != EINTR)
			fatal("poll");
		return 0;
	}
	if (attach_up(t))
		attach_io(t, pfd);
	if (fd == -1)
		return 0;
	/* The terminal is gone: nothing left to draw on. */
	if (pfd[in].revents & (POLLHUP | POLLERR | POLLNVAL))
		return -1;
	return (pfd[in].revents & POLLIN) != 0;
}

static void
attach_on_reload(const struct ctl_msg *msg, void *arg)
{
	struct top	*t = arg;
	int64_t		 gen;

	if (!msg->ok)
		snprintf(t->message, sizeof(t->message), "reload failed: %s",
		    msg->error);
	else if (ctl_obj_int(ctl_map_get(msg->data, "generation"), &gen) == 0)
		snprintf(t->message, sizeof(t->message),
		    "reloaded: generation %lld", (long long)gen);
	else
		snprintf(t->message, sizeof(t->message), "reloaded");
	t->dirty = 1;
}

void
attach_reload(struct top *t)
{
	struct ctl_frame	 f;

	if (t->req == NULL)
		return;
	conn_begin(t->req, &f, "reload", 0);
	if (conn_send(t->req, &f, attach_on_reload, t) == -1)
		snprintf(t->message, sizeof(t->message), "microd is busy");
	else
		snprintf(t->message, sizeof(t->message), "reloading...");
}

static void
attach_on_restart(const struct ctl_msg *msg, void *arg)
{
	struct top	*t = arg;
	int64_t		 n;

	if (!msg->ok)
		snprintf(t->message, sizeof(t->message), "restart failed: %s",
		    msg->error);
	else if (ctl_obj_int(ctl_map_get(msg->data, "restarted"), &n) == 0)
		snprintf(t->message, sizeof(t->message),
		    "restarted %lld worker%s", (long long)n, n == 1 ? "" : "s");
	else
		snprintf(t->message, sizeof(t->message), "restarted");
	t->dirty = 1;
}

/* Is the process asked about still that worker, as the stats last said? */
static int
attach_still_there(const struct top *t, const struct model_worker *want)
{
	const struct model_worker	*w;
	size_t				 i;

	for (i = 0; i < t->model.nworkers; i++) {
		w = &t->model.workers[i];
		if (strcmp(w->role, want->role) == 0 && w->id == want->id &&
		    w->pid == want->pid)
			return 1;
	}
	return 0;
}

void
attach_restart(struct top *t)
{
	const struct model_worker	*w = &t->restart;
	struct ctl_frame		 f;

	if (t->req == NULL)
		return;
	if (!attach_still_there(t, w)) {
		snprintf(t->message, sizeof(t->message), "worker %s/%lld "
		    "(pid %lld) is gone: nothing restarted", w->role,
		    (long long)w->id, (long long)w->pid);
		return;
	}
	/*
	 * The pid makes microd restart that process or refuse: by role and
	 * index alone, a draining worker's restart would hit its successor.
	 * One with no process (backoff, stopped) is restarted by its index.
	 */
	conn_begin(t->req, &f, "restart", 1);
	ctl_pack_str(&f.pk, "args");
	msgpack_pack_map(&f.pk, w->pid > 0 ? 3 : 2);
	ctl_pack_kv_str(&f.pk, "role", w->role);
	ctl_pack_kv_int(&f.pk, "id", w->id);
	if (w->pid > 0)
		ctl_pack_kv_int(&f.pk, "pid", w->pid);
	if (conn_send(t->req, &f, attach_on_restart, t) == -1)
		snprintf(t->message, sizeof(t->message), "microd is busy");
	else
		snprintf(t->message, sizeof(t->message), "restarting %s/%lld...",
		    w->role, (long long)w->id);
}
