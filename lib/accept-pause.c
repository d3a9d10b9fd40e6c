#include "config.h"

#include <errno.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "accept-pause.h"
#include "log.h"

#define ACCEPT_PAUSE_MS		500

static void
accept_pause_over(evutil_socket_t fd, short what, void *arg)
{
	struct accept_pause	*ap = arg;

	ap->paused = 0;
	if (ap->may_resume == NULL || ap->may_resume(ap->arg))
		evconnlistener_enable(ap->listener);
}

void
accept_pause_init(struct accept_pause *ap, struct event_base *base,
    struct evconnlistener *l, const char *who, int (*may_resume)(void *),
    void *arg)
{
	memset(ap, 0, sizeof(*ap));
	ap->listener = l;
	ap->who = who;
	ap->may_resume = may_resume;
	ap->arg = arg;
	if ((ap->timer = evtimer_new(base, accept_pause_over, ap)) == NULL)
		fatalx("evtimer_new");
}

void
accept_pause_error(struct accept_pause *ap)
{
	struct timeval	 tv = { 0, ACCEPT_PAUSE_MS * 1000 };
	int		 err = EVUTIL_SOCKET_ERROR();

	if (err != EMFILE && err != ENFILE && err != ENOBUFS &&
	    err != ENOMEM) {
		log_debug("%s: accept: %s", ap->who, strerror(err));
		return;
	}
	log_warnx("%s: accept: %s; not accepting for %d ms", ap->who,
	    strerror(err), ACCEPT_PAUSE_MS);
	ap->paused = 1;
	evconnlistener_disable(ap->listener);
	evtimer_add(ap->timer, &tv);
}

void
accept_pause_clear(struct accept_pause *ap)
{
	if (ap->timer != NULL)
		event_free(ap->timer);
	ap->timer = NULL;
}
