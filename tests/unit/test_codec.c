#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "rpc/codec.h"

/* The buffer's bytes as a string (drained). */
static char *
take(struct evbuffer *b)
{
	size_t	 len = evbuffer_get_length(b);
	char	*s = malloc(len + 1);

	assert_non_null(s);
	evbuffer_remove(b, s, len);
	s[len] = '\0';
	return s;
}

static void
assert_json_eq(const char *got, const char *want)
{
	json_t	*a = json_loads(got, JSON_DECODE_ANY, NULL);
	json_t	*b = json_loads(want, JSON_DECODE_ANY, NULL);

	if (a == NULL || b == NULL || !json_equal(a, b))
		fail_msg("got %s, want %s", got, want);
	json_decref(a);
	json_decref(b);
}

static void
test_codec_ctype(void **state)
{
	assert_int_equal(rpc_ctype(NULL), RPC_CT_JSON);
	assert_int_equal(rpc_ctype("application/json"), RPC_CT_JSON);
	assert_int_equal(rpc_ctype("Application/JSON; charset=utf-8"),
	    RPC_CT_JSON);
	assert_int_equal(rpc_ctype("application/msgpack"), RPC_CT_MSGPACK);
	assert_int_equal(rpc_ctype("application/x-msgpack"), RPC_CT_MSGPACK);
	assert_int_equal(rpc_ctype("application/jsonx"), RPC_CT_OTHER);
	assert_int_equal(rpc_ctype("text/plain"), RPC_CT_OTHER);
}

static void
test_codec_error_json(void **state)
{
	struct evbuffer		*b = evbuffer_new();
	struct rpc_error	 e;
	char			*s;

	rpc_error_set(&e, "go.micro.client", 404, "service %s", "not found");
	rpc_error_json(&e, b);
	s = take(b);
	assert_json_eq(s, "{\"id\":\"go.micro.client\",\"code\":404,"
	    "\"detail\":\"service not found\",\"status\":\"Not Found\"}");
	free(s);
	/* Junk bytes from a node still give valid JSON. */
	rpc_error_set(&e, "x", 500, "bad \xff\xfe bytes");
	rpc_error_json(&e, b);
	s = take(b);
	assert_json_eq(s, "{\"id\":\"x\",\"code\":500,"
	    "\"detail\":\"bad \xef\xbf\xbd\xef\xbf\xbd bytes\","
	    "\"status\":\"Internal Server Error\"}");
	free(s);
	evbuffer_free(b);
}

static void
parse(const char *text, int fallback, struct rpc_error *e)
{
	rpc_error_parse(text, strlen(text), "fallback", fallback, e);
}

static void
test_codec_error_parse(void **state)
{
	struct rpc_error	 e;

	parse("{\"id\":\"go.micro.srv.greeter\",\"code\":403,"
	    "\"detail\":\"no\",\"status\":\"Forbidden\"}", 500, &e);
	assert_string_equal(e.id, "go.micro.srv.greeter");
	assert_int_equal(e.code, 403);
	assert_string_equal(e.detail, "no");
	/* A detail holding a NUL ("\u0000", Go's form): still the error. */
	parse("{\"id\":\"go.micro.srv.x\",\"code\":404,"
	    "\"detail\":\"a\\u0000b\"}", 500, &e);
	assert_string_equal(e.id, "go.micro.srv.x");
	assert_int_equal(e.code, 404);
	assert_string_equal(e.detail, "a");
	/* Plain text: the detail, with the HTTP status as code. */
	parse("boom", 502, &e);
	assert_string_equal(e.id, "fallback");
	assert_int_equal(e.code, 502);
	assert_string_equal(e.detail, "boom");
	/* A code that is not an error never turns into a success. */
	parse("{\"code\":200,\"detail\":\"x\"}", 500, &e);
	assert_int_equal(e.code, 500);
	parse("{\"detail\":\"x\"}", 200, &e);
	assert_int_equal(e.code, 500);
	assert_string_equal(e.id, "fallback");
	rpc_error_parse(NULL, 0, "fallback", 503, &e);
	assert_int_equal(e.code, 503);
	assert_string_equal(e.detail, "Service Unavailable");
}

static void
test_codec_jsonrpc_encode(void **state)
{
	struct evbuffer	*b = evbuffer_new();
	const char	*cause = NULL;
	char		*s;

	assert_int_equal(rpc_jsonrpc_encode(b, "Say.Hello",
	    "{\"name\": \"John\"}", 16, 7, &cause), 0);
	s = take(b);
	assert_json_eq(s, "{\"method\":\"Say.Hello\","
	    "\"params\":[{\"name\":\"John\"}],\"id\":7}");
	free(s);
	/* Passed on as written: doubles keep their digits, a uint64 fits. */
	assert_int_equal(rpc_jsonrpc_encode(b, "S.M", "{\"p\":0.1,\"e\":1.5e3,"
	    "\"u\":18446744073709551615,\"s\":\"J\\u00f6hn\"}", 60, 2, &cause),
	    0);
	s = take(b);
	assert_string_equal(s, "{\"method\":\"S.M\",\"params\":[{\"p\":0.1,"
	    "\"e\":1.5e3,\"u\":18446744073709551615,\"s\":\"J\\u00f6hn\"}],"
	    "\"id\":2}");
	free(s);
	/* An injection attempt is not JSON, so it is refused. */
	assert_int_equal(rpc_jsonrpc_encode(b, "Say.Hello",
	    "1],\"id\":5,\"x\":[2", 16, 1, &cause), -1);
	assert_non_null(cause);
	assert_int_equal(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}

static int
decode(const char *text, struct evbuffer *b, struct rpc_error *e)
{
	return rpc_jsonrpc_decode(text, strlen(text), b, e);
}

static void
test_codec_jsonrpc_decode(void **state)
{
	struct evbuffer		*b = evbuffer_new();
	struct rpc_error	 e;
	char			*s;

	assert_int_equal(decode("{\"id\":1,\"result\":{\"msg\":\"Hello John\"},"
	    "\"error\":null}", b, &e), 0);
	s = take(b);
	assert_json_eq(s, "{\"msg\":\"Hello John\"}");
	free(s);
	assert_int_equal(decode("{\"id\":1,\"result\":null,"
	    "\"error\":\"database down\"}", b, &e), -1);
	assert_int_equal(e.code, 500);
	assert_string_equal(e.detail, "database down");
	/* A go-micro error JSON inside the text keeps its code. */
	assert_int_equal(decode("{\"id\":1,\"result\":null,\"error\":"
	    "\"{\\\"id\\\":\\\"s\\\",\\\"code\\\":400,\\\"detail\\\":\\\"bad\\\"}\"}",
	    b, &e), -1);
	assert_int_equal(e.code, 400);
	assert_string_equal(e.detail, "bad");
	/* The result as the service wrote it, whatever its numbers. */
	assert_int_equal(decode("{\"id\":1,\"result\": {\"p\":0.1,\"u\":"
	    "18446744073709551615,\"x\":[1e-7,\"\\u00e9\\\"\"]} ,\"error\":null}",
	    b, &e), 0);
	s = take(b);
	assert_string_equal(s, "{\"p\":0.1,\"u\":18446744073709551615,"
	    "\"x\":[1e-7,\"\\u00e9\\\"\"]}");
	free(s);
	/* Twice: the last one, as the tree keeps it. */
	assert_int_equal(decode("{\"result\":1,\"result\":2}", b, &e), 0);
	s = take(b);
	assert_string_equal(s, "2");
	free(s);
	assert_int_equal(decode("not json", b, &e), -1);
	assert_int_equal(e.code, 502);
	assert_int_equal(decode("{\"id\":1}", b, &e), -1);
	assert_int_equal(e.code, 502);
	assert_int_equal(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}

static void
test_codec_transcode(void **state)
{
	/* {"msg":"hi","n":[1,true]} in msgpack. */
	static const unsigned char mp[] = {
		0x82, 0xa3, 'm', 's', 'g', 0xa2, 'h', 'i',
		0xa1, 'n', 0x92, 0x01, 0xc3,
	};
	struct evbuffer	*in = evbuffer_new(), *out = evbuffer_new();
	const char	*cause = NULL;
	unsigned char	 got[sizeof(mp)];
	char		*s;

	evbuffer_add(in, mp, sizeof(mp));
	assert_int_equal(rpc_transcode(in, RPC_CT_MSGPACK, out, RPC_CT_JSON,
	    &cause), 0);
	assert_int_equal(evbuffer_get_length(in), 0);
	s = take(out);
	assert_json_eq(s, "{\"msg\":\"hi\",\"n\":[1,true]}");
	evbuffer_add(in, s, strlen(s));
	free(s);
	assert_int_equal(rpc_transcode(in, RPC_CT_JSON, out, RPC_CT_MSGPACK,
	    &cause), 0);
	assert_int_equal(evbuffer_get_length(out), sizeof(mp));
	evbuffer_remove(out, got, sizeof(got));
	/* Key order is kept, so the bytes round-trip. */
	assert_memory_equal(got, mp, sizeof(mp));

	evbuffer_add(in, "{bad", 4);
	assert_int_equal(rpc_transcode(in, RPC_CT_JSON, out, RPC_CT_MSGPACK,
	    &cause), -1);
	assert_string_equal(cause, "body is not JSON");
	assert_int_equal(evbuffer_get_length(in), 4);
	evbuffer_drain(in, 4);
	/* A Go uint64 beyond int64 crosses as a msgpack uint64. */
	evbuffer_add(in, "[18446744073709551615]", 22);
	assert_int_equal(rpc_transcode(in, RPC_CT_JSON, out, RPC_CT_MSGPACK,
	    &cause), 0);
	assert_int_equal(evbuffer_get_length(out), 10);
	assert_memory_equal(evbuffer_pullup(out, -1),
	    "\x91\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 10);
	evbuffer_drain(out, 10);
	/* bin objects have no JSON form; trailing bytes are refused too. */
	evbuffer_add(in, "\xc4\x01x", 3);
	assert_int_equal(rpc_transcode(in, RPC_CT_MSGPACK, out, RPC_CT_JSON,
	    &cause), -1);
	evbuffer_drain(in, 3);
	evbuffer_add(in, "\x01\x02", 2);
	assert_int_equal(rpc_transcode(in, RPC_CT_MSGPACK, out, RPC_CT_JSON,
	    &cause), -1);
	evbuffer_drain(in, 2);
	evbuffer_add(in, "abc", 3);
	assert_int_equal(rpc_transcode(in, RPC_CT_JSON, out, RPC_CT_JSON,
	    &cause), 0);
	assert_int_equal(evbuffer_get_length(out), 3);
	evbuffer_free(in);
	evbuffer_free(out);
}

/*
 * Element counts the body cannot hold are refused before msgpack-c
 * allocates them: 5 bytes must not ask for 4G objects (ASan aborts).
 */
static void
test_codec_msgpack_counts(void **state)
{
	static const char *bodies[] = { "\xdd\xff\xff\xff\xff",
	    "\xdf\x7f\xff\xff\xff", "\x91\xdd\x10\x00\x00\x00" };
	struct evbuffer	*in = evbuffer_new(), *out = evbuffer_new();
	const char	*cause = NULL;
	size_t		 i;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		evbuffer_add(in, bodies[i], strlen(bodies[i]));
		assert_int_equal(rpc_transcode(in, RPC_CT_MSGPACK, out,
		    RPC_CT_JSON, &cause), -1);
		assert_string_equal(cause, "body is not one msgpack object");
		evbuffer_drain(in, strlen(bodies[i]));
	}
	evbuffer_free(in);
	evbuffer_free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_ctype),
		cmocka_unit_test(test_codec_error_json),
		cmocka_unit_test(test_codec_error_parse),
		cmocka_unit_test(test_codec_jsonrpc_encode),
		cmocka_unit_test(test_codec_jsonrpc_decode),
		cmocka_unit_test(test_codec_transcode),
		cmocka_unit_test(test_codec_msgpack_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
