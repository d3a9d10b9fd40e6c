/*
 * The app health check (sidecar-health.h). Registration goes through the
 * master to the registry worker, like POST /registry; the node id is
 * derived from the app's name and address, so a respawned worker
 * re-registers the same node instead of adding one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "http.h"
#include "log.h"
#include "svc.h"
#include "util.h"
#include "workers/sidecar-health.h"
#include "workers/worker.h"

#define HEALTH_TTL_INTERVALS	3
#define HEALTH_WHY_MAX		64	/* "HTTP 503" and the like */
#define HEALTH_RETRY_MS		1000	/* a retired app's failed deregistration */

/*
 * What the registry was last asked to hold for the app. Unknown at start
 * (a worker before this one, or a microd before this one, may have left
 * the app registered) and after a request that was not applied: the next
 * check then sends its request whatever the answer.
 */
enum sidecar_health_state {
	HEALTH_UNKNOWN,
	HEALTH_REGISTERED,
	HEALTH_DEREGISTERED,
};

struct sidecar_health {
	struct worker		*w;
	struct http_client	*http;
	struct event		*timer;
	struct http_creq	*creq;		/* check in flight */
	char			 addr[CONFIG_STR_MAX];	/* of the URL */
	char			*target;	/* path?query of the URL */
	char			*json;		/* the app's Service JSON */
	uint32_t		 pending;	/* (de)registration in flight */
	enum sidecar_health_state state;
	int			 retired;	/* a reload dropped the app */
};

static struct sidecar_health	*sidecar_health;

static void
sidecar_health_changed(struct worker *w, const struct ctl_msg *reply,
    void *arg)
{
	struct sidecar_health	*h = arg;

	h->pending = 0;
	if (reply == NULL || !reply->ok) {
		log_warnx("sidecar app %s: %s", w->conf->sidecar_app_name,
		    reply ? reply->error : "master unreachable");
		h->state = HEALTH_UNKNOWN;
	}
	if (h->retired)
		worker_drain_check();
}

/*
 * Ask the registry worker, through the master, to (de)register. Only the
 * last request matters: one still unanswered is forgotten.
 */
static void
sidecar_health_send(struct sidecar_health *h, const char *cmd)
{
	struct worker		*w = h->w;
	struct ctl_frame	 f;

	if (h->pending != 0)
		worker_request_cancel(w, h->pending);
	h->pending = worker_request_begin(w, &f, cmd, 1);
	ctl_pack_str(&f.pk, "args");
	msgpack_pack_map(&f.pk, 2);
	ctl_pack_kv_str(&f.pk, "json", h->json);
	ctl_pack_kv_uint(&f.pk, "ttl_ms",
	    w->conf->sidecar_healthcheck_interval_ms * HEALTH_TTL_INTERVALS);
	worker_request_send(w, &f, h->pending, sidecar_health_changed, h);
}

/*
 * A check's outcome: why it failed, NULL if the app is healthy. Healthy
 * renews the registration each time; unhealthy deregisters once, and
 * says why.
 */
static void
sidecar_health_result(struct sidecar_health *h, const char *why)
{
	const char	*name = h->w->conf->sidecar_app_name;

	if (why == NULL) {
		if (h->state != HEALTH_REGISTERED)
			log_info("sidecar app %s healthy: registering", name);
		h->state = HEALTH_REGISTERED;
		sidecar_health_send(h, "register");
	} else if (h->state != HEALTH_DEREGISTERED) {
		log_warnx("sidecar app %s unhealthy (%s): deregistering",
		    name, why);
		h->state = HEALTH_DEREGISTERED;
		sidecar_health_send(h, "deregister");
	}
}

static void
sidecar_health_status(struct sidecar_health *h, int status)
{
	char	 why[HEALTH_WHY_MAX];

	if (status == 200) {
		sidecar_health_result(h, NULL);
		return;
	}
	snprintf(why, sizeof(why), "HTTP %d", status);
	sidecar_health_result(h, why);
}

/* The status is the answer: a body, however large or slow, is not read. */
static void
sidecar_health_head(struct http_creq *creq, void *arg)
{
	struct sidecar_health	*h = arg;
	int			 status = http_creq_status(creq);

	h->creq = NULL;
	http_creq_cancel(creq);
	sidecar_health_status(h, status);
}

/*
 * The request failed before its head came (had it ended instead, as
 * http.h allows, its status would count).
 */
static void
sidecar_health_done(struct http_creq *creq, enum http_client_error err,
    void *arg)
{
	struct sidecar_health	*h = arg;

	h->creq = NULL;
	if (err != HTTP_CLIENT_OK)
		sidecar_health_result(h, http_client_strerror(err));
	else
		sidecar_health_status(h, http_creq_status(creq));
}

/* Give up the check in flight, if any: 1 if there was one. */
static int
sidecar_health_abort(struct sidecar_health *h)
{
	if (h->creq == NULL)
		return 0;
	http_creq_cancel(h->creq);
	h->creq = NULL;
	return 1;
}

/*
 * A check has one interval in all: a streamed request's own timeout
 * bounds each silence only, and an app trickling its answer is as
 * unhealthy as one that does not answer.
 */
static void
sidecar_health_check(struct sidecar_health *h)
{
	const char	*cause;

	if (h->target == NULL) {
		sidecar_health_result(h, NULL);
		return;
	}
	if (sidecar_health_abort(h))
		sidecar_health_result(h,
		    "no answer within healthcheck_interval");
	h->creq = http_creq_new(h->http, "GET", h->addr, h->target, &cause);
	if (h->creq == NULL) {
		log_warnx("sidecar healthcheck_url: %s", cause);
		return;
	}
	/* A fresh connection each time: the check is of the listener too. */
	http_headers_set(http_creq_headers(h->creq), "Connection", "close");
	http_creq_set_done_cb(h->creq, sidecar_health_done, h);
	http_creq_set_stream_cbs(h->creq, sidecar_health_head, NULL);
	http_creq_start(h->creq);
}

/* A retired app is not checked: its deregistration is retried until done. */
static void
sidecar_health_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct sidecar_health	*h = arg;

	if (!h->retired)
		sidecar_health_check(h);
	else if (h->pending != 0)
		return;
	else if (h->state == HEALTH_UNKNOWN) {
		h->state = HEALTH_DEREGISTERED;
		sidecar_health_send(h, "deregister");
	} else
		event_del(h->timer);
}

/*
 * Stop checking the app and deregister it; the timer now retries that
 * (the registry worker may be restarting in the same reload), and the
 * worker's drain waits for it (sidecar_health_busy).
 */
static void
sidecar_health_retire(struct sidecar_health *h)
{
	struct timeval	 tv = util_timeval(HEALTH_RETRY_MS);

	log_info("sidecar app %s is no longer in the configuration: "
	    "deregistering", h->w->conf->sidecar_app_name);
	h->retired = 1;
	sidecar_health_abort(h);
	h->state = HEALTH_DEREGISTERED;
	sidecar_health_send(h, "deregister");
	evtimer_add(h->timer, &tv);
}

/*
 * The new configuration checks the same app (maybe at another URL or
 * interval): its worker has the node from now on, and this one leaves it
 * registered. Checking on while this worker drains would undo the new
 * worker's verdicts, and renew the node with this generation's TTL, which
 * may run out long before the new worker's next check.
 */
static void
sidecar_health_hand_over(struct sidecar_health *h)
{
	log_info("sidecar app %s: the new configuration checks it now",
	    h->w->conf->sidecar_app_name);
	sidecar_health_abort(h);
	event_del(h->timer);
}

/*
 * The [sidecar] app settings, checked when the configuration was loaded
 * (config_validate): failing here would be a bug, and then the app goes
 * unregistered rather than the sidecar down.
 */
static int
sidecar_health_configure(struct sidecar_health *h, const struct config *conf)
{
	const char	*cause, *target;
	char		*why;

	if (conf->sidecar_healthcheck_url[0] != '\0') {
		if (http_url_split(conf->sidecar_healthcheck_url, h->addr,
		    sizeof(h->addr), &target, &cause) == -1) {
			log_warnx("sidecar healthcheck_url: %s", cause);
			return -1;
		}
		h->target = xstrdup(target);
	}
	if ((h->json = svc_app_json(conf->sidecar_app_name,
	    conf->sidecar_app_address, &why)) == NULL) {
		log_warnx("sidecar app: %s", why);
		free(why);
		return -1;
	}
	return 0;
}

int
sidecar_health_init(struct worker *w)
{
	const struct config	*conf = w->conf;
	struct sidecar_health	*h;
	struct http_client_config hc;
	struct timeval		 tv;

	if (conf->sidecar_app_name[0] == '\0' || w->id != 0)
		return 0;
	h = xcalloc(1, sizeof(*h));
	h->w = w;
	if (sidecar_health_configure(h, conf) == -1) {
		free(h->target);
		free(h);
		return 0;
	}
	memset(&hc, 0, sizeof(hc));
	hc.max_idle = 1;
	hc.timeout_ms = conf->sidecar_healthcheck_interval_ms;
	h->http = http_client_new(w->base, &hc);
	h->timer = event_new(w->base, -1, EV_PERSIST, sidecar_health_timer_cb,
	    h);
	if (h->timer == NULL)
		fatalx("%s: event_new", __func__);
	tv = util_timeval(conf->sidecar_healthcheck_interval_ms);
	evtimer_add(h->timer, &tv);
	sidecar_health = h;
	sidecar_health_check(h);
	return 0;
}

void
sidecar_health_app(struct worker *w, const struct ctl_msg *msg)
{
	struct sidecar_health	*h = sidecar_health;
	char			 name[CONFIG_STR_MAX], address[CONFIG_STR_MAX];

	if (h == NULL || h->retired)
		return;
	if (ctl_obj_str(ctl_map_get(msg->args, "name"), name,
	    sizeof(name)) == -1 || ctl_obj_str(ctl_map_get(msg->args,
	    "address"), address, sizeof(address)) == -1) {
		log_warnx("%s: bad app from the master", __func__);
		return;
	}
	if (strcmp(name, w->conf->sidecar_app_name) != 0 ||
	    strcmp(address, w->conf->sidecar_app_address) != 0)
		sidecar_health_retire(h);
	else
		sidecar_health_hand_over(h);
}

int
sidecar_health_busy(struct worker *w)
{
	struct sidecar_health	*h = sidecar_health;

	return h != NULL && h->retired &&
	    (h->pending != 0 || h->state == HEALTH_UNKNOWN);
}

void
sidecar_health_shutdown(struct worker *w)
{
	struct sidecar_health	*h = sidecar_health;

	if (h == NULL)
		return;
	if (h->pending != 0)
		worker_request_cancel(w, h->pending);
	event_free(h->timer);
	http_client_free(h->http);
	free(h->target);
	free(h->json);
	free(h);
	sidecar_health = NULL;
}
