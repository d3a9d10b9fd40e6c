#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "http.h"
#include "rpc/apireq.h"
#include "util.h"

static void
assert_json_eq(const char *got, const char *want)
{
	json_t	*a = json_loads(got, 0, NULL);
	json_t	*b = json_loads(want, 0, NULL);

	if (a == NULL || b == NULL || !json_equal(a, b))
		fail_msg("got %s\nwant %s", got, want);
	json_decref(a);
	json_decref(b);
}

static void
test_apireq_canonical(void **state)
{
	char	 a[] = "x-forwarded-FOR", b[] = "content-type", c[] = "bad key";

	apireq_canonical_key(a);
	apireq_canonical_key(b);
	apireq_canonical_key(c);
	assert_string_equal(a, "X-Forwarded-For");
	assert_string_equal(b, "Content-Type");
	assert_string_equal(c, "bad key");
}

static void
test_apireq_get(void **state)
{
	struct http_headers	*h = http_headers_new();
	struct apireq_in	 in = {
		.method = "GET", .path = "/greeter/say/hello",
		.query = "name=John&x=1&x=a+b%21&flag",
		.url = "/greeter/say/hello?name=John&x=1&x=a+b%21&flag",
		.headers = h, .body = NULL, .body_len = 0,
	};
	const char		*cause = NULL;
	size_t			 len;
	char			*s;

	http_headers_add(h, "host", "127.0.0.1:8080");
	http_headers_add(h, "accept", "a");
	http_headers_add(h, "Accept", "b");
	s = apireq_encode(&in, &len, &cause);
	if (s == NULL)
		fail_msg("%s", cause);
	assert_int_equal(len, strlen(s));
	assert_json_eq(s, "{\"method\":\"GET\",\"path\":\"/greeter/say/hello\","
	    "\"header\":{\"Host\":{\"key\":\"Host\",\"values\":"
	    "[\"127.0.0.1:8080\"]},\"Accept\":{\"key\":\"Accept\","
	    "\"values\":[\"a\",\"b\"]}},"
	    "\"get\":{\"name\":{\"key\":\"name\",\"values\":[\"John\"]},"
	    "\"x\":{\"key\":\"x\",\"values\":[\"1\",\"a b!\"]},"
	    "\"flag\":{\"key\":\"flag\",\"values\":[\"\"]}},"
	    "\"post\":{},\"body\":\"\","
	    "\"url\":\"/greeter/say/hello?name=John&x=1&x=a+b%21&flag\"}");
	free(s);
	http_headers_free(h);
}

static void
test_apireq_post(void **state)
{
	struct http_headers	*h = http_headers_new();
	struct apireq_in	 in = {
		.method = "POST", .path = "/p", .url = "/p", .headers = h,
		.content_type = "application/x-www-form-urlencoded",
		.body = "a=1&b=%7B%7D", .body_len = 12,
	};
	const char		*cause = NULL;
	size_t			 len;
	char			*s;
	json_t			*o;

	s = apireq_encode(&in, &len, &cause);
	assert_non_null(s);
	o = json_loads(s, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(o, "body")), "");
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    json_object_get(json_object_get(o, "post"), "b"), "values"), 0)),
	    "{}");
	json_decref(o);
	free(s);
	in.content_type = "application/json";
	in.body = "{\"name\":\"J\"}";
	in.body_len = strlen(in.body);
	s = apireq_encode(&in, &len, &cause);
	o = json_loads(s, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(o, "body")),
	    "{\"name\":\"J\"}");
	json_decref(o);
	free(s);
	http_headers_free(h);
}

static void
encode_bad(const char *query, const char *ct, const char *body, size_t len)
{
	struct http_headers	*h = http_headers_new();
	struct apireq_in	 in = {
		.method = "POST", .path = "/p", .url = "/p", .headers = h,
		.query = query, .content_type = ct, .body = body,
		.body_len = len,
	};
	const char		*cause = NULL;
	size_t			 n;

	assert_null(apireq_encode(&in, &n, &cause));
	assert_non_null(cause);
	http_headers_free(h);
}

/* Not UTF-8 in a header or the query: U+FFFD per byte, as Go sends it. */
static void
test_apireq_repairs_text(void **state)
{
	struct http_headers	*h = http_headers_new();
	struct apireq_in	 in = {
		.method = "GET", .path = "/p", .url = "/p?a=%ff&c=\xe9",
		.headers = h, .query = "a=%ff&%e9=b&c=\xe9", .body = "",
		.body_len = 0,
	};
	const char		*cause = NULL;
	json_t			*o;
	char			*s;
	size_t			 n;

	http_headers_add(h, "cookie", "n=caf\xe9");
	assert_non_null(s = apireq_encode(&in, &n, &cause));
	assert_non_null(o = json_loads(s, 0, NULL));
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    json_object_get(json_object_get(o, "header"), "Cookie"), "values"),
	    0)), "n=caf\xef\xbf\xbd");
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    json_object_get(json_object_get(o, "get"), "a"), "values"), 0)),
	    "\xef\xbf\xbd");
	assert_non_null(json_object_get(json_object_get(o, "get"),
	    "\xef\xbf\xbd"));
	/* A raw byte of the target: the url, not a 400. */
	assert_string_equal(json_string_value(json_object_get(o, "url")),
	    "/p?a=%ff&c=\xef\xbf\xbd");
	json_decref(o);
	free(s);
	http_headers_free(h);
}

static void
test_apireq_bad(void **state)
{
	encode_bad("a=%zz", NULL, "", 0);
	encode_bad("a=%00", NULL, "", 0);
	encode_bad(NULL, NULL, "\xff\xfe", 2);
	encode_bad(NULL, "application/x-www-form-urlencoded", "a=%", 3);
}

/* Every ASCII byte, escaped here as json_dumps does: the same text. */
static void
test_apireq_escapes(void **state)
{
	struct http_headers	*h = http_headers_new();
	char			 body[0x80 + 4];
	struct apireq_in	 in = {
		.method = "POST", .path = "/p", .url = "/p", .headers = h,
		.body = body, .body_len = sizeof(body),
	};
	const char		*cause = NULL;
	json_t			*o;
	char			*s, *want;
	size_t			 i, len;

	for (i = 0; i < 0x80; i++)
		body[i] = i;
	memcpy(body + 0x80, "\xe2\x82\xac\xc3", 4);
	assert_null(apireq_encode(&in, &len, &cause));
	in.body_len--;	/* the cut sequence off: text again */
	assert_non_null(s = apireq_encode(&in, &len, &cause));
	assert_int_equal(len, strlen(s));
	assert_non_null(o = json_loads(s, JSON_ALLOW_NUL, NULL));
	assert_int_equal(json_string_length(json_object_get(o, "body")),
	    in.body_len);
	assert_memory_equal(json_string_value(json_object_get(o, "body")),
	    body, in.body_len);
	want = json_dumps(o, JSON_COMPACT);
	assert_string_equal(s, want);
	free(want);
	json_decref(o);
	free(s);
	http_headers_free(h);
}

static char *
encode_bounded(const char *ct, const char *body, size_t body_len,
    size_t max_len, size_t *len, const char **cause)
{
	struct http_headers	*h = http_headers_new();
	struct apireq_in	 in = {
		.method = "POST", .path = "/p", .url = "/p", .headers = h,
		.content_type = ct, .body = body, .body_len = body_len,
		.max_len = max_len,
	};
	char			*s;

	*cause = NULL;
	s = apireq_encode(&in, len, cause);
	http_headers_free(h);
	return s;
}

/*
 * max_len bounds the body's part of the text: a control byte is six bytes
 * of it, so 1000 of them are refused under 6000 and *len tells why.
 */
static void
test_apireq_bound(void **state)
{
	char		 body[1000];
	const char	*cause;
	size_t		 len;
	char		*s;

	memset(body, '\x01', sizeof(body));
	assert_null(encode_bounded(NULL, body, sizeof(body), 5999, &len,
	    &cause));
	assert_int_equal(len, 6000);
	assert_non_null(strstr(cause, "too large"));
	assert_non_null(s = encode_bounded(NULL, body, sizeof(body), 6000,
	    &len, &cause));
	free(s);
	/* Text within twice its size: a quote is two bytes. */
	memset(body, '"', sizeof(body));
	assert_non_null(s = encode_bounded(NULL, body, sizeof(body), 2000,
	    &len, &cause));
	assert_int_equal(len, strlen(s));
	free(s);
	/* A form is bounded by its "post" as written. */
	assert_null(encode_bounded("application/x-www-form-urlencoded",
	    "a=%01%01%01", 11, 10, &len, &cause));
	assert_int_equal(len, strlen("{\"a\":{\"key\":\"a\",\"values\":"
	    "[\"\\u0001\\u0001\\u0001\"]}}"));
	assert_non_null(strstr(cause, "too large"));
	/* A refusal for another cause is no size. */
	assert_null(encode_bounded(NULL, "\xff", 1, 1, &len, &cause));
	assert_int_equal(len, 0);
}

/* As Go's net/url: APIREQ_MAX_PARAMS pieces of a form, and no more. */
static void
test_apireq_params(void **state)
{
	const char	*ct = "application/x-www-form-urlencoded", *cause;
	size_t		 n = APIREQ_MAX_PARAMS + strlen("a=1"), len;
	char		*form = xmalloc(n + 1), *s;

	/* APIREQ_MAX_PARAMS '&', then a=1: one piece too many. */
	memset(form, '&', n);
	memcpy(form + n - 3, "a=1", 4);
	assert_null(encode_bounded(ct, form, n, 0, &len, &cause));
	assert_non_null(strstr(cause, "too many parameters"));
	assert_int_equal(len, 0);
	assert_non_null(s = encode_bounded(ct, form + 1, n - 1, 0, &len,
	    &cause));
	free(s);
	free(form);
}

static void
test_apireq_query_object(void **state)
{
	const char	*cause = NULL;
	size_t		 len;
	char		*s;

	s = apireq_query_object("name=John&x=1&x=2&e=", &len, &cause);
	assert_non_null(s);
	assert_json_eq(s, "{\"name\":\"John\",\"x\":[\"1\",\"2\"],"
	    "\"e\":\"\"}");
	free(s);
	assert_null(apireq_query_object("a=%g1", &len, &cause));
	assert_non_null(cause);
}

static void
hdr_cb(const char *name, const char *value, void *arg)
{
	char	*out = arg;

	snprintf(out + strlen(out), 256 - strlen(out), "%s=%s;", name, value);
}

static int
rsp_parse(const char *text, struct apireq_rsp *rsp)
{
	const char	*cause = NULL;

	return apireq_response_parse(text, strlen(text), rsp, &cause);
}

static void
test_apireq_response(void **state)
{
	struct apireq_rsp	 rsp;
	char			 hdrs[256] = "";

	assert_int_equal(rsp_parse("{\"statusCode\":0,\"header\":{"
	    "\"content-type\":{\"key\":\"Content-Type\",\"values\":"
	    "[\"text/plain\"]},\"X-A\":{\"values\":[\"1\",\"2\"]},"
	    "\"X-Bad\":{\"values\":[\"a\\r\\nInjected: 1\"]},"
	    "\"Bad Name\":{\"values\":[\"x\"]}},"
	    "\"body\":\"{\\\"msg\\\":\\\"Hello John\\\"}\"}", &rsp), 0);
	assert_int_equal(rsp.status, 200);
	assert_int_equal(rsp.body_len, strlen("{\"msg\":\"Hello John\"}"));
	assert_string_equal(rsp.body, "{\"msg\":\"Hello John\"}");
	apireq_response_headers(&rsp, hdr_cb, hdrs);
	assert_string_equal(hdrs, "Content-Type=text/plain;X-A=1;X-A=2;");
	apireq_response_free(&rsp);

	assert_int_equal(rsp_parse("{\"statusCode\":404}", &rsp), 0);
	assert_int_equal(rsp.status, 404);
	assert_int_equal(rsp.body_len, 0);
	apireq_response_free(&rsp);
	assert_int_equal(rsp_parse("{}", &rsp), 0);
	assert_int_equal(rsp.status, 200);
	apireq_response_free(&rsp);

	/*
	 * Go writes a NUL byte "\u0000": the body keeps it, a header value
	 * it would cut short is dropped.
	 */
	hdrs[0] = '\0';
	assert_int_equal(rsp_parse("{\"body\":\"a\\u0000b\",\"header\":{"
	    "\"X-N\":{\"values\":[\"a\\u0000b\",\"c\"]},"
	    "\"X-K\":{\"key\":\"X-K\\u0000\",\"values\":[\"d\"]}}}",
	    &rsp), 0);
	assert_int_equal(rsp.body_len, 3);
	assert_memory_equal(rsp.body, "a\0b", 3);
	apireq_response_headers(&rsp, hdr_cb, hdrs);
	assert_string_equal(hdrs, "X-N=c;");
	apireq_response_free(&rsp);

	assert_int_equal(rsp_parse("[]", &rsp), -1);
	assert_int_equal(rsp_parse("nope", &rsp), -1);
	assert_int_equal(rsp_parse("{\"statusCode\":99}", &rsp), -1);
	assert_int_equal(rsp_parse("{\"statusCode\":100}", &rsp), -1);
	assert_int_equal(rsp_parse("{\"statusCode\":101}", &rsp), -1);
	assert_int_equal(rsp_parse("{\"statusCode\":\"200\"}", &rsp), -1);
	assert_int_equal(rsp_parse("{\"body\":1}", &rsp), -1);
	assert_int_equal(rsp_parse("{\"header\":[]}", &rsp), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apireq_canonical),
		cmocka_unit_test(test_apireq_get),
		cmocka_unit_test(test_apireq_post),
		cmocka_unit_test(test_apireq_bad),
		cmocka_unit_test(test_apireq_repairs_text),
		cmocka_unit_test(test_apireq_response),
		cmocka_unit_test(test_apireq_query_object),
		cmocka_unit_test(test_apireq_escapes),
		cmocka_unit_test(test_apireq_bound),
		cmocka_unit_test(test_apireq_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
