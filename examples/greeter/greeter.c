/* Shared by greeter-srv and greeter-api: see greeter.h. */
#include "config.h"

#include <sys/socket.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "examples/greeter/greeter.h"
#include "http.h"
#include "log.h"
#include "util.h"

static void
greeter_listen(struct greeter *g, const char *addr,
    void (*handler)(struct http_request *, void *))
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	const char		*cause;
	int			 fd, one = 1;

	if (util_parse_addr(addr, &ss, &len, &cause) == -1)
		fatalx("%s: %s", addr, cause);
	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) == -1)
		fatal("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, 128) == -1)
		fatal("%s", addr);
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		fatal("getsockname");
	util_format_addr((struct sockaddr *)&ss, g->address,
	    sizeof(g->address));
	if (util_set_nonblock(fd) == -1 ||
	    http_server_new(g->base, fd, NULL, handler, g, &cause) == NULL)
		fatalx("serve %s: %s", g->address, cause);
	/* Tests read the real port from here. */
	printf("listening on %s\n", g->address);
	fflush(stdout);
}

static void
greeter_registered_cb(struct http_creq *creq, enum http_client_error err,
    void *arg)
{
	if (err != HTTP_CLIENT_OK)
		log_warnx("sidecar %s: %s", (const char *)arg,
		    http_client_strerror(err));
	else if (http_creq_status(creq) != 200)
		log_warnx("sidecar refused the registration: %d",
		    http_creq_status(creq));
}

static struct http_creq *
greeter_registry_request(struct greeter *g, const char *method,
    const char *target)
{
	struct http_creq	*creq;
	const char		*cause;

	if ((creq = http_creq_new(g->http, method, g->sidecar, target,
	    &cause)) == NULL)
		fatalx("sidecar %s: %s", g->sidecar, cause);
	http_headers_set(http_creq_headers(creq), "Content-Type",
	    "application/json");
	evbuffer_add(http_creq_body(creq), g->service_json,
	    strlen(g->service_json));
	return creq;
}

static void
greeter_renew_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct greeter		*g = arg;
	struct http_creq	*creq;

	creq = greeter_registry_request(g, "POST",
	    "/registry?ttl=" GREETER_TTL);
	http_creq_set_done_cb(creq, greeter_registered_cb,
	    (void *)g->sidecar);
	http_creq_start(creq);
}

static void
greeter_register(struct greeter *g, json_t *svc)
{
	struct timeval	 tv = { GREETER_RENEW_MS / 1000, 0 };
	struct event	*ev;

	if ((g->service_json = json_dumps(svc, JSON_COMPACT)) == NULL)
		fatalx("json_dumps");
	ev = event_new(g->base, -1, EV_PERSIST, greeter_renew_cb, g);
	evtimer_add(ev, &tv);
	greeter_renew_cb(-1, 0, g);
}

static void
greeter_deregistered_cb(struct http_creq *creq, enum http_client_error err,
    void *arg)
{
	event_base_loopexit(arg, NULL);
}

static void
greeter_signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct greeter		*g = arg;
	struct http_creq	*creq;

	if (g->service_json == NULL) {
		event_base_loopexit(g->base, NULL);
		return;
	}
	creq = greeter_registry_request(g, "DELETE", "/registry");
	http_creq_set_done_cb(creq, greeter_deregistered_cb, g->base);
	http_creq_start(creq);
}

static void
greeter_run(struct greeter *g)
{
	struct event	*term, *intr;

	signal(SIGPIPE, SIG_IGN);
	term = evsignal_new(g->base, SIGTERM, greeter_signal_cb, g);
	intr = evsignal_new(g->base, SIGINT, greeter_signal_cb, g);
	evsignal_add(term, NULL);
	evsignal_add(intr, NULL);
	event_base_dispatch(g->base);
	event_free(term);
	event_free(intr);
}

json_t *
greeter_body_json(struct http_request *req)
{
	struct evbuffer	*b = http_request_body(req);

	return json_loadb((const char *)evbuffer_pullup(b, -1),
	    evbuffer_get_length(b), JSON_DECODE_ANY, NULL);
}

void
greeter_reply_json(struct http_request *req, int status, json_t *v)
{
	char	*s;

	if ((s = json_dumps(v, JSON_COMPACT)) == NULL)
		fatalx("json_dumps");
	http_reply(req, status, "application/json", s, strlen(s));
	free(s);
	json_decref(v);
}

int
greeter_serve(struct greeter *g, const char *name, const char *listen,
    void (*handle)(struct http_request *, void *),
    json_t *(*service)(const struct greeter *))
{
	json_t	*svc;

	log_init(name, LOG_LEVEL_INFO);
	if ((g->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	g->http = http_client_new(g->base, NULL);
	greeter_listen(g, listen, handle);
	svc = service(g);
	greeter_register(g, svc);
	json_decref(svc);
	greeter_run(g);
	return 0;
}
