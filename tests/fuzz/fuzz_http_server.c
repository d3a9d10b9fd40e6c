/*
 * The HTTP/1.1 server (lib/http-parse.c, http-headers.c, http-query.c):
 * the input is what a client sends on one connection, pipelined requests
 * and bodies included. Handlers read what handlers read (headers, query,
 * form body) and answer; /stream takes its body as it arrives, /early
 * answers before its body, /ws upgrades (lib/ws-handshake.c) and echoes
 * the frames that follow.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "fuzz.h"
#include "http.h"
#include "http-int.h"
#include "log.h"
#include "util.h"
#include "ws.h"

static struct http_server	*fuzz_srv;
static int			 fuzz_ws_open;

static void
fuzz_http_ws(struct http_request *req)
{
	const char	*cause;

	if (ws_upgrade_check(req, "fuzz", &cause) == 0 &&
	    ws_accept(req, &fuzz_ws_limits, &fuzz_ws_echo, &fuzz_ws_open,
	    &cause) != NULL)
		fuzz_ws_open++;
}

/* Read what handlers read, then answer with the body. */
static void
fuzz_http_handler(struct http_request *req, void *arg)
{
	struct evbuffer	*body = http_request_body(req);
	const char	*name, *value;
	char		*form;
	size_t		 i;

	if (strcmp(http_request_path(req), "/ws") == 0) {
		fuzz_http_ws(req);
		return;
	}
	if (http_request_query_check(req, "fuzz") == -1)
		return;
	for (i = 0; http_headers_at(http_request_headers(req), i, &name,
	    &value); i++)
		http_headers_add(http_reply_headers(req), "X-Echo", name);
	free(http_request_query_param(req, "a"));
	if (evbuffer_get_length(body) > 0) {
		form = xstrndup((const char *)evbuffer_pullup(body, -1),
		    evbuffer_get_length(body));
		if (http_query_valid(form))
			free(http_query_get(form, "a"));
		free(form);
	}
	http_reply_buffer(req, 200, "text/plain", body);
}

static void
fuzz_http_body(struct http_request *req, struct evbuffer *buf, int done,
    void *arg)
{
	evbuffer_drain(buf, evbuffer_get_length(buf));
	if (done)
		http_reply(req, 200, "text/plain", "streamed", 8);
}

/* The client left before the streamed body ended: ours to end. */
static void
fuzz_http_cancel(struct http_request *req, void *arg)
{
	http_request_release(req);
}

static void
fuzz_http_head(struct http_request *req, void *arg)
{
	if (strcmp(http_request_path(req), "/stream") == 0) {
		http_request_set_cancel_cb(req, fuzz_http_cancel, NULL);
		http_request_stream_body(req, fuzz_http_body, NULL);
	} else if (strcmp(http_request_path(req), "/early") == 0)
		http_reply_error(req, 403, "fuzz", "early");
}

/* A listener nobody connects to: connections come from the harness. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct http_limits	 limits = { 4096, 8192, 0, 0, 0, 0 };
	struct sockaddr_in		 sin;
	const char			*cause;
	int				 fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 1) == -1)
		fatal("listen");
	fuzz_srv = http_server_new(fuzz_base(), fd, &limits,
	    fuzz_http_handler, NULL, &cause);
	if (fuzz_srv == NULL)
		fatalx("http_server_new: %s", cause);
	http_server_set_head_handler(fuzz_srv, fuzz_http_head);
	return 0;
}

static int
fuzz_http_done(void *arg)
{
	return http_server_connections(fuzz_srv) == 0 && fuzz_ws_open == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	int			 fds[2];

	fuzz_socketpair(fds);
	http_conn_new(fuzz_srv, fds[0], (struct sockaddr *)&sun);
	if (fuzz_feed(fds[1], data, size, fuzz_http_done, NULL) == -1)
		fatalx("http server: connection left open after the client "
		    "went away");
	close(fds[1]);
	return 0;
}
