/*
 * GET /registry[?service=NAME] reads the shm registry directly; POST and
 * DELETE /registry validate the Service JSON here (400 before anything is
 * sent) and hand it to the registry worker through the master. The reply
 * is deferred until the registry worker has applied the change.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "http.h"
#include "lib/svc.h"
#include "log.h"
#include "registry/core.h"
#include "shm/services-json.h"
#include "util.h"
#include "workers/sidecar-registry.h"
#include "workers/worker.h"

struct sidecar_change {
	struct worker		*w;
	struct http_request	*req;
	uint32_t		 id;
};

void
sidecar_registry_get(struct worker *w, struct http_request *req)
{
	struct evbuffer	*b;
	char		*name;

	if (http_request_query_check(req, SIDECAR_ID) == -1)
		return;
	b = evbuffer_new();
	if ((name = http_request_query_param(req, "service")) == NULL)
		shm_services_json(w->shm, w->slot_index, b);
	else if (shm_service_json(w->shm, w->slot_index, name, strlen(name),
	    b) == -1) {
		http_reply_error(req, 404, SIDECAR_ID, "service not found");
		free(name);
		evbuffer_free(b);
		return;
	}
	free(name);
	http_reply_buffer(req, 200, "application/json", b);
	evbuffer_free(b);
}

static void
sidecar_change_cancel(struct http_request *req, void *arg)
{
	struct sidecar_change	*sc = arg;

	worker_request_cancel(sc->w, sc->id);
	http_request_release(req);
	free(sc);
}

static void
sidecar_change_done(struct worker *w, const struct ctl_msg *reply,
    void *arg)
{
	struct sidecar_change	*sc = arg;

	if (reply == NULL)
		http_reply_error(sc->req, 503, SIDECAR_ID,
		    "registry unavailable");
	else if (ctl_reply_code(reply, CTL_CODE_UNAVAILABLE))
		http_reply_error(sc->req, 503, SIDECAR_ID, reply->error);
	else if (ctl_reply_code(reply, CTL_CODE_INVALID))
		http_reply_error(sc->req, 400, SIDECAR_ID, reply->error);
	else if (!reply->ok)
		http_reply_error(sc->req, 500, SIDECAR_ID, reply->error);
	else
		http_reply(sc->req, 200, "application/json", "{}", 2);
	free(sc);
}

/* Parse and check the body; on error answer 400 and return NULL. */
static char *
sidecar_body(struct http_request *req, int flags, size_t *len)
{
	struct evbuffer	*body = http_request_body(req);
	struct svc	*svc;
	char		*text, *cause = NULL;

	*len = evbuffer_get_length(body);
	if (*len > SVC_JSON_MAX) {
		http_reply_error(req, 400, SIDECAR_ID,
		    "service JSON too large");
		return NULL;
	}
	text = xmalloc(*len + 1);
	evbuffer_copyout(body, text, *len);
	text[*len] = '\0';
	if ((svc = svc_parse(text, *len, flags, &cause)) == NULL) {
		http_reply_error(req, 400, SIDECAR_ID, cause);
		free(cause);
		free(text);
		return NULL;
	}
	svc_free(svc);
	return text;
}

static int
sidecar_ttl(struct http_request *req, uint64_t *ttl_ms, int *has_ttl)
{
	char	*ttl = http_request_query_param(req, "ttl");
	int	 rc = 0;

	*has_ttl = ttl != NULL;
	if (ttl != NULL && (util_parse_duration_ms(ttl, ttl_ms) == -1 ||
	    *ttl_ms > REGISTRY_TTL_MAX_MS))
		rc = -1;
	free(ttl);
	return rc;
}

static void
sidecar_change(struct worker *w, struct http_request *req, const char *cmd,
    int flags)
{
	struct sidecar_change	*sc;
	struct ctl_frame	 f;
	uint64_t		 ttl_ms = 0;
	int			 has_ttl;
	size_t			 len;
	char			*text;

	if (http_request_query_check(req, SIDECAR_ID) == -1)
		return;
	if (sidecar_ttl(req, &ttl_ms, &has_ttl) == -1) {
		http_reply_error(req, 400, SIDECAR_ID,
		    "bad ttl (e.g. 30s, 5m; at most a year, 0 for none)");
		return;
	}
	if ((text = sidecar_body(req, flags, &len)) == NULL)
		return;
	sc = xcalloc(1, sizeof(*sc));
	sc->w = w;
	sc->req = req;
	sc->id = worker_request_begin(w, &f, cmd, 1);
	ctl_pack_str(&f.pk, "args");
	msgpack_pack_map(&f.pk, has_ttl ? 2 : 1);
	ctl_pack_str(&f.pk, "json");
	msgpack_pack_str(&f.pk, len);
	msgpack_pack_str_body(&f.pk, text, len);
	if (has_ttl)
		ctl_pack_kv_uint(&f.pk, "ttl_ms", ttl_ms);
	free(text);
	http_request_set_cancel_cb(req, sidecar_change_cancel, sc);
	worker_request_send(w, &f, sc->id, sidecar_change_done, sc);
}

void
sidecar_registry_post(struct worker *w, struct http_request *req)
{
	sidecar_change(w, req, "register", SVC_NEED_NODES);
}

void
sidecar_registry_delete(struct worker *w, struct http_request *req)
{
	sidecar_change(w, req, "deregister", SVC_IDS_ONLY);
}
