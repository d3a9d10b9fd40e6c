/*
 * The websocket opening handshake (RFC 6455 §4), both sides: check the
 * upgrade, answer or verify Sec-WebSocket-Accept, then hand the
 * connection to ws.c.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "base64.h"
#include "http.h"
#include "sha1.h"
#include "stream.h"
#include "ws.h"
#include "ws-int.h"

#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void
ws_accept_key(const char *key, char *out)
{
	struct sha1	 s;
	uint8_t		 digest[SHA1_DIGEST_LEN];

	sha1_init(&s);
	sha1_update(&s, key, strlen(key));
	sha1_update(&s, WS_GUID, sizeof(WS_GUID) - 1);
	sha1_final(&s, digest);
	base64_encode(digest, sizeof(digest), out);
}

/* RFC 6455 §4.2.1; returns the HTTP status to refuse with, or 0. */
static int
ws_check_upgrade(struct http_request *req, const char **cause)
{
	const struct http_headers	*h = http_request_headers(req);
	const char			*key, *version;
	char				 raw[18];

	if (strcmp(http_request_method(req), "GET") != 0) {
		*cause = "websocket upgrade must be GET";
		return 400;
	}
	if (!http_headers_has_token(h, "Upgrade", "websocket") ||
	    !http_headers_has_token(h, "Connection", "upgrade")) {
		*cause = "not a websocket upgrade request";
		return 400;
	}
	/* §11.3.1, §11.3.5: each of these two appears once at most. */
	if (http_headers_count_of(h, "Sec-WebSocket-Key") > 1 ||
	    http_headers_count_of(h, "Sec-WebSocket-Version") > 1) {
		*cause = "repeated Sec-WebSocket-Key or -Version";
		return 400;
	}
	version = http_headers_get(h, "Sec-WebSocket-Version");
	if (version == NULL || strcmp(version, "13") != 0) {
		*cause = "unsupported Sec-WebSocket-Version (13 only)";
		return 426;
	}
	key = http_headers_get(h, "Sec-WebSocket-Key");
	if (key == NULL || strlen(key) != WS_KEY_LEN ||
	    base64_decode(key, WS_KEY_LEN, raw) != 16) {
		*cause = "bad Sec-WebSocket-Key";
		return 400;
	}
	return 0;
}

int
ws_upgrade_check(struct http_request *req, const char *service,
    const char **cause)
{
	int	 status;

	if ((status = ws_check_upgrade(req, cause)) == 0)
		return 0;
	if (status == 426)
		http_headers_set(http_reply_headers(req),
		    "Sec-WebSocket-Version", "13");
	http_reply_error(req, status, service, *cause);
	return -1;
}

struct ws *
ws_accept(struct http_request *req, const struct ws_limits *limits,
    const struct ws_callbacks *cb, void *arg, const char **cause)
{
	struct stream	*s;
	char		 accept[WS_ACCEPT_LEN + 1];

	ws_accept_key(http_request_header(req, "Sec-WebSocket-Key"), accept);
	if ((s = http_request_hijack(req)) == NULL) {
		*cause = "client went away";
		return NULL;
	}
	evbuffer_add_printf(stream_output(s),
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	return ws_new(s, 1, limits, cb, arg);
}

void
ws_client_prepare(struct http_creq *creq, char *key)
{
	struct http_headers	*h = http_creq_headers(creq);
	uint8_t			 raw[16];

	ws_random(raw, sizeof(raw));
	base64_encode(raw, sizeof(raw), key);
	http_headers_set(h, "Upgrade", "websocket");
	http_headers_set(h, "Connection", "Upgrade");
	http_headers_set(h, "Sec-WebSocket-Version", "13");
	http_headers_set(h, "Sec-WebSocket-Key", key);
}

struct ws *
ws_client_open(struct http_creq *creq, struct stream *s,
    const char *key, const struct ws_limits *limits,
    const struct ws_callbacks *cb, void *arg, const char **cause)
{
	const struct http_headers	*h = http_creq_response_headers(creq);
	const char			*got;
	char				 want[WS_ACCEPT_LEN + 1];

	ws_accept_key(key, want);
	got = http_headers_get(h, "Sec-WebSocket-Accept");
	if (!http_headers_has_token(h, "Upgrade", "websocket") ||
	    got == NULL || strcmp(got, want) != 0) {
		*cause = "bad websocket handshake answer";
		stream_free(s);
		return NULL;
	}
	return ws_new(s, 0, limits, cb, arg);
}
