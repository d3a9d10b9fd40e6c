/*
 * Requests the master forwards to the registry worker (register,
 * deregister) on behalf of a control client or another worker, or makes
 * itself (relay_request: no asker, only a callback). Each
 * forwarded request gets a fresh id on the registry channel; the reply is
 * sent back to whoever asked under their own id. If the asker goes away
 * first the reply is dropped; if the registry worker dies, every asker gets
 * an error at once instead of waiting forever. One that the registry worker
 * leaves unanswered for RELAY_TIMEOUT_MS (stopped, or busy in one long
 * callback) gets an error then; a late reply is dropped.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "ctlproto.h"
#include "log.h"
#include "microd/master.h"
#include "util.h"

/* go-micro's default request timeout; the watchdog kills a hung worker later */
#define RELAY_TIMEOUT_MS	5000

struct relay_pending {
	TAILQ_ENTRY(relay_pending) entry;
	struct event		*timer;		/* RELAY_TIMEOUT_MS */
	uint32_t		 id;		/* on the registry channel */
	struct bufferevent	*from;		/* NULL once the asker left */
	uint32_t		 from_id;
	relay_answered_cb	 answered;
	relay_applied_cb	 applied;	/* the master's own request */
	void			*arg;
};
static TAILQ_HEAD(, relay_pending) relay_pending =
    TAILQ_HEAD_INITIALIZER(relay_pending);
static uint32_t		 relay_next_id;

void
relay_send(struct bufferevent *to, struct ctl_frame *f)
{
	const void	*data;
	size_t		 len;

	ctl_frame_end(f, &data, &len);
	bufferevent_write(to, data, len);
	ctl_frame_free(f);
}

/* code: NULL, or CTL_CODE_UNAVAILABLE when the asker may retry. */
void
relay_send_error(struct bufferevent *to, uint32_t id, const char *code,
    const char *error)
{
	struct ctl_frame	 f;

	ctl_frame_error_code(&f, id, code, error);
	relay_send(to, &f);
}

static void
relay_done(struct relay_pending *rp)
{
	TAILQ_REMOVE(&relay_pending, rp, entry);
	event_free(rp->timer);
	free(rp);
}

/* Answer the asker with an error it may retry on. */
static void
relay_fail(struct relay_pending *rp, const char *why)
{
	if (rp->from != NULL)
		relay_send_error(rp->from, rp->from_id, CTL_CODE_UNAVAILABLE,
		    why);
	if (rp->answered != NULL)
		rp->answered(rp->arg);
	if (rp->applied != NULL)
		rp->applied(rp->arg, 0);
	relay_done(rp);
}

static void
relay_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct relay_pending	*rp = arg;

	(void)fd;
	(void)ev;
	log_warnx("registry worker did not answer request %u in %d ms: "
	    "failing it", rp->id, RELAY_TIMEOUT_MS);
	relay_fail(rp, "registry worker did not answer in time (the change "
	    "may still be applied)");
}

/*
 * Start a request to the registry worker in f, its args to be packed
 * before relay_end sends it: the pending request, or NULL and *cause.
 */
static struct relay_pending *
relay_begin(struct ctl_frame *f, const char *cmd, int has_args,
    const char **cause)
{
	struct proc		*reg = proc_registry();
	struct relay_pending	*rp;
	struct timeval		 tv = { RELAY_TIMEOUT_MS / 1000,
				    RELAY_TIMEOUT_MS % 1000 * 1000 };

	if (reg == NULL || reg->chan == NULL) {
		*cause = "registry worker is not running";
		return NULL;
	}
	rp = xcalloc(1, sizeof(*rp));
	rp->id = ++relay_next_id;
	ctl_frame_request(f, rp->id, cmd, has_args);
	rp->timer = evtimer_new(master->base, relay_timeout, rp);
	evtimer_add(rp->timer, &tv);
	TAILQ_INSERT_TAIL(&relay_pending, rp, entry);
	return rp;
}

static void
relay_end(struct ctl_frame *f)
{
	relay_send(proc_registry()->chan, f);
}

int
relay_to_registry(struct bufferevent *from, const struct ctl_msg *req,
    relay_answered_cb answered, void *arg, const char **cause)
{
	struct relay_pending	*rp;
	struct ctl_frame	 f;

	if ((rp = relay_begin(&f, req->cmd, req->args != NULL, cause)) == NULL)
		return -1;
	rp->from = from;
	rp->from_id = req->id;
	rp->answered = answered;
	rp->arg = arg;
	if (req->args != NULL) {
		ctl_pack_str(&f.pk, "args");
		msgpack_pack_object(&f.pk, *req->args);
	}
	relay_end(&f);
	return 0;
}

int
relay_request(const char *cmd, const char *json, relay_applied_cb applied,
    void *arg, const char **cause)
{
	struct relay_pending	*rp;
	struct ctl_frame	 f;

	if ((rp = relay_begin(&f, cmd, 1, cause)) == NULL)
		return -1;
	rp->applied = applied;
	rp->arg = arg;
	ctl_pack_str(&f.pk, "args");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_kv_str(&f.pk, "json", json);
	relay_end(&f);
	return 0;
}

static void
relay_answer(struct relay_pending *rp, const struct ctl_msg *reply)
{
	struct ctl_frame	 f;

	if (rp->applied != NULL)
		rp->applied(rp->arg, reply->ok);
	if (rp->from == NULL)
		return;
	if (!reply->ok)
		relay_send_error(rp->from, rp->from_id, reply->code,
		    reply->error ? reply->error : "registry error");
	else {
		ctl_frame_reply(&f, rp->from_id, 1);
		ctl_pack_str(&f.pk, "data");
		if (reply->data != NULL)
			msgpack_pack_object(&f.pk, *reply->data);
		else
			msgpack_pack_map(&f.pk, 0);
		relay_send(rp->from, &f);
	}
	if (rp->answered != NULL)
		rp->answered(rp->arg);
}

void
relay_reply(const struct ctl_msg *reply)
{
	struct relay_pending	*rp;

	TAILQ_FOREACH(rp, &relay_pending, entry) {
		if (rp->id == reply->id)
			break;
	}
	if (rp == NULL) {
		log_info("registry reply to request %u came after it was "
		    "failed: dropped", reply->id);
		return;
	}
	relay_answer(rp, reply);
	relay_done(rp);
}

void
relay_forget(struct bufferevent *from)
{
	struct relay_pending	*rp;

	TAILQ_FOREACH(rp, &relay_pending, entry) {
		if (rp->from == from) {
			rp->from = NULL;
			rp->answered = NULL;
		}
	}
}

void
relay_fail_all(const char *why)
{
	struct relay_pending	*rp;

	while ((rp = TAILQ_FIRST(&relay_pending)) != NULL)
		relay_fail(rp, why);
}
