/*
 * What a service node sends back to the RPC client (rpc/codec.c): an
 * error body, a legacy JSON-RPC envelope, a body to transcode; and the
 * input as a Content-Type.
 */
#include "config.h"

#include <stdlib.h>

#include <event2/buffer.h>

#include "fuzz.h"
#include "log.h"
#include "rpc/codec.h"
#include "util.h"

static struct evbuffer *
fuzz_codec_buffer(const uint8_t *data, size_t size)
{
	struct evbuffer	*b;

	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	if (data != NULL)
		evbuffer_add(b, data, size);
	return b;
}

static void
fuzz_codec_transcode(const uint8_t *data, size_t size, enum rpc_ctype from,
    enum rpc_ctype to)
{
	struct evbuffer	*in = fuzz_codec_buffer(data, size);
	struct evbuffer	*out = fuzz_codec_buffer(NULL, 0);
	const char	*cause;

	rpc_transcode(in, from, out, to, &cause);
	evbuffer_free(in);
	evbuffer_free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*text = (const char *)data;
	struct rpc_error e;
	struct evbuffer	*out = fuzz_codec_buffer(NULL, 0);
	char		*ct;

	rpc_error_parse(text, size, "go.micro.client", 502, &e);
	if (e.code < 400 || e.code > 599)
		fatalx("codec: a node's error became code %d", e.code);
	rpc_error_json(&e, out);
	rpc_jsonrpc_decode(text, size, out, &e);
	evbuffer_free(out);
	fuzz_codec_transcode(data, size, RPC_CT_JSON, RPC_CT_MSGPACK);
	fuzz_codec_transcode(data, size, RPC_CT_MSGPACK, RPC_CT_JSON);
	ct = xstrndup(text, size);
	rpc_ctype(ct);
	free(ct);
	return 0;
}
