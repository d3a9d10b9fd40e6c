/*
 * The HTTP client's response parser (lib/http-creq-parse.c): the input is
 * what a node answers, over TCP, to a buffered GET, a HEAD and a streamed
 * websocket upgrade (lib/ws-handshake.c: the 101 is checked against the
 * key, then the frames that follow are read as a client reads them).
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "fuzz.h"
#include "http.h"
#include "log.h"
#include "stream.h"
#include "util.h"
#include "ws.h"

/* RFC 6455's example key: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" accepts it. */
#define FUZZ_WS_KEY	"dGhlIHNhbXBsZSBub25jZQ=="

struct fuzz_mode {
	const char	*method;
	int		 stream;	/* head, body and upgrade callbacks */
};

static int	 fuzz_lfd = -1;
static char	 fuzz_addr[64];
static int	 fuzz_pending;	/* requests and websockets not over */

static void
fuzz_creq_done(struct http_creq *r, enum http_client_error err, void *arg)
{
	const char	*name, *value;
	size_t		 i;

	for (i = 0; http_headers_at(http_creq_response_headers(r), i, &name,
	    &value); i++)
		continue;
	fuzz_pending--;
}

static void
fuzz_creq_head(struct http_creq *r, void *arg)
{
	http_creq_status(r);
}

static void
fuzz_creq_body(struct http_creq *r, struct evbuffer *buf, void *arg)
{
	evbuffer_drain(buf, evbuffer_get_length(buf));
}

static void
fuzz_creq_upgrade(struct http_creq *r, struct stream *s, void *arg)
{
	const char	*cause;

	if (ws_client_open(r, s, FUZZ_WS_KEY, &fuzz_ws_limits, &fuzz_ws_echo,
	    &fuzz_pending, &cause) == NULL)
		fuzz_pending--;
}

static struct http_creq *
fuzz_creq_new(struct http_client *c, const struct fuzz_mode *m)
{
	struct http_creq	*r;
	struct http_headers	*h;
	const char		*cause;

	if ((r = http_creq_new(c, m->method, fuzz_addr, "/", &cause)) == NULL)
		fatalx("http_creq_new: %s", cause);
	http_creq_set_done_cb(r, fuzz_creq_done, NULL);
	if (m->stream) {
		http_creq_set_stream_cbs(r, fuzz_creq_head, fuzz_creq_body);
		http_creq_set_upgrade_cb(r, fuzz_creq_upgrade);
		h = http_creq_headers(r);
		http_headers_set(h, "Upgrade", "websocket");
		http_headers_set(h, "Connection", "Upgrade");
		http_headers_set(h, "Sec-WebSocket-Key", FUZZ_WS_KEY);
	}
	return r;
}

/* The node's side of the connection the request opened. */
static int
fuzz_accept(void)
{
	int	 fd, turns;

	for (turns = 0; turns < 1000; turns++) {
		event_base_loop(fuzz_base(), EVLOOP_NONBLOCK);
		if ((fd = accept(fuzz_lfd, NULL, NULL)) != -1) {
			util_set_nonblock(fd);
			return fd;
		}
	}
	fatalx("http client: no connection");
}

static int
fuzz_done(void *arg)
{
	return fuzz_pending == 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	fuzz_base();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fuzz_lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(fuzz_lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fuzz_lfd, 4) == -1 ||
	    getsockname(fuzz_lfd, (struct sockaddr *)&sin, &len) == -1 ||
	    util_set_nonblock(fuzz_lfd) == -1)
		fatal("listen");
	snprintf(fuzz_addr, sizeof(fuzz_addr), "127.0.0.1:%d",
	    ntohs(sin.sin_port));
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fuzz_mode	 modes[] = {
		{ "GET", 0 }, { "HEAD", 0 }, { "GET", 1 },
	};
	static const struct http_client_config cfg = { 1, 0, 0, 0, 4096,
					    8192 };
	struct http_client		*c;
	size_t				 i;
	int				 fd;

	for (i = 0; i < nitems(modes); i++) {
		c = http_client_new(fuzz_base(), &cfg);
		fuzz_pending = 1;
		http_creq_start(fuzz_creq_new(c, &modes[i]));
		fd = fuzz_accept();
		if (fuzz_feed(fd, data, size, fuzz_done, NULL) == -1)
			fatalx("http client: request still open after the "
			    "node went away");
		close(fd);
		http_client_free(c);
	}
	return 0;
}
