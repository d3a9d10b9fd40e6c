/*
 * The curl multi handle on libevent, as in curl's own "hiperfifo" example:
 * curl tells us which sockets to watch and when to wake it, libevent does
 * the waiting. Completed transfers are collected after every action.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "plugins/curlev.h"
#include "util.h"

struct curlev {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	struct curlev_xfer	*xfers;		/* running, doubly linked */
	long			 max_host;	/* connections, 0: no limit */
};

static void
curlev_unlink(struct curlev_xfer *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		x->cev->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	x->next = x->prev = NULL;
}

/* Free a transfer that is in no multi handle. */
static void
curlev_xfer_discard(struct curlev_xfer *x)
{
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->request);
	free(x->body);
	free(x);
}

static void
curlev_xfer_free(struct curlev_xfer *x)
{
	curl_multi_remove_handle(x->cev->multi, x->easy);
	curlev_xfer_discard(x);
}

static void
curlev_collect(struct curlev *cev)
{
	struct curlev_xfer	*x;
	CURLMsg			*msg;
	long			 status;
	int			 left;

	while ((msg = curl_multi_info_read(cev->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &x);
		status = 0;
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
		curlev_unlink(x);
		if (msg->data.result != CURLE_OK && x->error[0] == '\0')
			snprintf(x->error, sizeof(x->error), "%s",
			    curl_easy_strerror(msg->data.result));
		x->done(x, msg->data.result, status);
		curlev_xfer_free(x);
	}
}

static void
curlev_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct curlev	*cev = arg;
	int		 flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(cev->multi, fd, flags, &running);
	curlev_collect(cev);
}

static void
curlev_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct curlev	*cev = arg;
	int		 running;

	curl_multi_socket_action(cev->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	curlev_collect(cev);
}

static int
curlev_socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg,
    void *sockarg)
{
	struct curlev	*cev = arg;
	struct event	*ev = sockarg;
	short		 events = EV_PERSIST;

	if (ev != NULL) {
		event_free(ev);
		curl_multi_assign(cev->multi, fd, NULL);
	}
	if (what == CURL_POLL_REMOVE)
		return 0;
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if ((ev = event_new(cev->base, fd, events, curlev_socket_event,
	    cev)) == NULL || event_add(ev, NULL) == -1)
		return -1;
	curl_multi_assign(cev->multi, fd, ev);
	return 0;
}

static int
curlev_timer_cb(CURLM *multi, long ms, void *arg)
{
	struct curlev	*cev = arg;
	struct timeval	 tv;

	if (ms < 0)
		return evtimer_del(cev->timer);
	tv = util_timeval((uint64_t)ms);
	return evtimer_add(cev->timer, &tv);
}

struct curlev *
curlev_new(struct event_base *base, const char **cause)
{
	struct curlev	*cev;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		*cause = "libcurl cannot be initialised";
		return NULL;
	}
	cev = xcalloc(1, sizeof(*cev));
	cev->base = base;
	if ((cev->multi = curl_multi_init()) == NULL ||
	    (cev->timer = evtimer_new(base, curlev_timer_event, cev)) == NULL) {
		*cause = "libcurl multi handle cannot be created";
		curlev_free(cev);
		return NULL;
	}
	curl_multi_setopt(cev->multi, CURLMOPT_SOCKETFUNCTION, curlev_socket_cb);
	curl_multi_setopt(cev->multi, CURLMOPT_SOCKETDATA, cev);
	curl_multi_setopt(cev->multi, CURLMOPT_TIMERFUNCTION, curlev_timer_cb);
	curl_multi_setopt(cev->multi, CURLMOPT_TIMERDATA, cev);
	return cev;
}

void
curlev_max_host_connections(struct curlev *cev, long max)
{
	cev->max_host = max;
	curl_multi_setopt(cev->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max);
}

void
curlev_free(struct curlev *cev)
{
	if (cev == NULL)
		return;
	while (cev->xfers != NULL)
		curlev_cancel(cev->xfers);
	if (cev->timer != NULL)
		event_free(cev->timer);
	if (cev->multi != NULL)
		curl_multi_cleanup(cev->multi);
	free(cev);
}

static size_t
curlev_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct curlev_xfer	*x = arg;

	n *= size;
	if (x->data != NULL)
		return x->data(x, p, n) == -1 ? 0 : n;
	if (x->len + n + 1 > CURLEV_BODY_MAX) {
		snprintf(x->error, sizeof(x->error), "response too large");
		return 0;
	}
	if (x->len + n + 1 > x->size) {
		x->size = (x->len + n + 1) * 2;
		x->body = xrealloc(x->body, x->size);
	}
	memcpy(x->body + x->len, p, n);
	x->len += n;
	x->body[x->len] = '\0';
	return n;
}

struct curlev_xfer *
curlev_xfer_new(struct curlev *cev, const char *method, const char *url,
    const char *request, curlev_done_cb done, void *arg)
{
	struct curlev_xfer	*x;

	x = xcalloc(1, sizeof(*x));
	x->cev = cev;
	x->done = done;
	x->arg = arg;
	if ((x->easy = curl_easy_init()) == NULL)
		fatalx("curl_easy_init");
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->error);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, curlev_write_cb);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method);
	if (request != NULL) {
		x->request = xstrdup(request);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->request);
		curlev_header(x, "Content-Type: application/json");
	}
	return x;
}

void
curlev_header(struct curlev_xfer *x, const char *line)
{
	struct curl_slist	*l;

	if ((l = curl_slist_append(x->headers, line)) == NULL)
		fatalx("curl_slist_append");
	x->headers = l;
}

int
curlev_start(struct curlev_xfer *x, const char **cause)
{
	struct curlev	*cev = x->cev;

	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	if (curl_multi_add_handle(cev->multi, x->easy) != CURLM_OK) {
		*cause = "libcurl refused the transfer";
		curlev_xfer_free(x);
		return -1;
	}
	x->next = cev->xfers;
	if (x->next != NULL)
		x->next->prev = x;
	cev->xfers = x;
	return 0;
}

void
curlev_cancel(struct curlev_xfer *x)
{
	if (x == NULL)
		return;
	curlev_unlink(x);
	curlev_xfer_free(x);
}

static size_t
curlev_count_ok(CURLM *multi)
{
	CURLMsg		*msg;
	long		 status;
	size_t		 ok = 0;
	int		 left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
		status = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE,
		    &status);
		if (msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK &&
		    status == 200)
			ok++;
	}
	return ok;
}

/*
 * A private multi handle, driven here with curl_multi_poll: the event loop
 * is not running any more, and these must not wake anything else on it.
 */
size_t
curlev_run_all_now(struct curlev_xfer **xs, size_t n, long timeout_ms)
{
	CURLM		*multi;
	uint64_t	 deadline = util_now_ms() + timeout_ms, now;
	size_t		 i, ok;
	int		 running;

	if (n == 0)
		return 0;
	if ((multi = curl_multi_init()) == NULL)
		fatalx("curl_multi_init");
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    xs[0]->cev->max_host);
	for (i = 0; i < n; i++) {
		curl_easy_setopt(xs[i]->easy, CURLOPT_HTTPHEADER,
		    xs[i]->headers);
		curl_easy_setopt(xs[i]->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
		curl_multi_add_handle(multi, xs[i]->easy);
	}
	while (curl_multi_perform(multi, &running) == CURLM_OK &&
	    running > 0 && (now = util_now_ms()) < deadline)
		curl_multi_poll(multi, NULL, 0, (int)(deadline - now), NULL);
	ok = curlev_count_ok(multi);
	for (i = 0; i < n; i++) {
		curl_multi_remove_handle(multi, xs[i]->easy);
		curlev_xfer_discard(xs[i]);
	}
	curl_multi_cleanup(multi);
	return ok;
}
