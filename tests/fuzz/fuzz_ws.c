/*
 * Websocket frames (lib/ws-frame.c, lib/ws.c) as a peer sends them after
 * the handshake, read once as a server (frames must be masked) and once as
 * a client (they must not be). Messages are echoed, so the output side
 * and its queue limits run too.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "stream.h"
#include "ws.h"
#include "ws-int.h"

static int	 fuzz_open;

static void
fuzz_ws_message(struct ws *ws, int binary, const void *p, size_t n,
    void *arg)
{
	if (n == 5 && memcmp(p, "close", 5) == 0)
		ws_close(ws, WS_CLOSE_NORMAL, "asked to");
	else
		ws_send(ws, binary, p, n);
}

static void
fuzz_ws_closed(struct ws *ws, uint16_t code, void *arg)
{
	fuzz_open = 0;
}

static int
fuzz_ws_done(void *arg)
{
	return !fuzz_open;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ws_callbacks cb = {
		.message = fuzz_ws_message,
		.closed = fuzz_ws_closed,
	};
	static const struct ws_limits	 limits = { 4096, 8, 16384, 0, 0 };
	int				 fds[2], server;

	for (server = 0; server <= 1; server++) {
		fuzz_socketpair(fds);
		fuzz_open = 1;
		ws_new(stream_new(fuzz_base(), fds[0]), server, &limits, &cb,
		    NULL);
		if (fuzz_feed(fds[1], data, size, fuzz_ws_done, NULL) == -1)
			fatalx("websocket: still open after the peer went away");
		close(fds[1]);
	}
	return 0;
}
