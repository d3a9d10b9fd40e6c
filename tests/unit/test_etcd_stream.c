/*
 * The etcd gateway wire format (plugins/etcd-proto.c): base64, prefix
 * ranges, the watch stream split at arbitrary chunk boundaries, and
 * hostile or truncated messages, which must be refused, never crash.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "plugins/etcd-proto.h"

/* base64 of "/micro/registry/a/n1" and of a one-node Service. */
#define KEY_B64		"L21pY3JvL3JlZ2lzdHJ5L2EvbjE="
#define VAL_B64		"eyJuYW1lIjoiYSJ9"		/* {"name":"a"} */

static void
test_b64_roundtrip(void **state)
{
	const char	*in[] = { "", "f", "fo", "foo", "foob", "fooba",
			    "foobar", "/micro/registry/\xff" };
	char		*enc, *dec;
	size_t		 i, len;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		enc = etcd_b64_encode(in[i], strlen(in[i]));
		dec = etcd_b64_decode(enc, &len);
		assert_non_null(dec);
		assert_int_equal(len, strlen(in[i]));
		assert_memory_equal(dec, in[i], len);
		free(enc);
		free(dec);
	}
	enc = etcd_b64_encode("foobar", 6);
	assert_string_equal(enc, "Zm9vYmFy");
	free(enc);
}

static void
test_b64_hostile(void **state)
{
	const char	*bad[] = { "Zm9", "Zm9v!", "Z===", "====", "Zm9vY===",
			    "Zm 9v" };
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(etcd_b64_decode(bad[i], NULL));
}

static const char *
json_b64_field(json_t *j, const char *name, char **out)
{
	*out = etcd_b64_decode(json_string_value(json_object_get(j, name)),
	    NULL);
	return *out;
}

static void
test_req_range_end(void **state)
{
	json_t	*j;
	char	*s, *key, *end;

	s = etcd_req_range("/micro/registry/", NULL, 0, 0, ETCD_RANGE_PAGE);
	j = json_loads(s, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_b64_field(j, "key", &key), "/micro/registry/");
	assert_string_equal(json_b64_field(j, "range_end", &end),
	    "/micro/registry0");
	assert_null(json_object_get(j, "revision"));
	assert_string_equal(json_string_value(json_object_get(j, "limit")),
	    "500");
	free(key);
	free(end);
	free(s);
	json_decref(j);

	/* The next page: just past the last key, at the first's revision. */
	s = etcd_req_range("/micro/registry/", "/micro/registry/a/n1", 20, 40,
	    7);
	j = json_loads(s, 0, NULL);
	assert_non_null(j);
	json_b64_field(j, "key", &key);
	assert_memory_equal(key, "/micro/registry/a/n1\0", 21);
	assert_string_equal(json_b64_field(j, "range_end", &end),
	    "/micro/registry0");
	assert_string_equal(json_string_value(json_object_get(j, "revision")),
	    "40");
	assert_string_equal(json_string_value(json_object_get(j, "limit")),
	    "7");
	free(key);
	free(end);
	free(s);
	json_decref(j);

	s = etcd_req_range("a\xff\xff", NULL, 0, 0, 1);
	j = json_loads(s, 0, NULL);
	assert_string_equal(json_b64_field(j, "range_end", &end), "b");
	free(end);
	free(s);
	json_decref(j);
}

static void
test_req_watch_int64_strings(void **state)
{
	json_t	*j, *cr;
	char	*s;

	s = etcd_req_watch("/p/", 9007199254740993LL);
	j = json_loads(s, 0, NULL);
	cr = json_object_get(j, "create_request");
	assert_string_equal(json_string_value(json_object_get(cr,
	    "start_revision")), "9007199254740993");
	assert_true(json_is_true(json_object_get(cr, "progress_notify")));
	free(s);
	json_decref(j);
}

/* The liveness probe reads one key, counts it, carries no value back. */
static void
test_req_probe(void **state)
{
	json_t	*j;
	char	*s;

	s = etcd_req_probe("/p/");
	j = json_loads(s, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "key")),
	    "L3Av");
	assert_null(json_object_get(j, "range_end"));
	assert_true(json_is_true(json_object_get(j, "count_only")));
	assert_null(json_object_get(j, "serializable"));
	free(s);
	json_decref(j);
}

struct lines {
	char	*got[8];
	int	 n;
};

static int
collect(const char *line, size_t len, void *arg)
{
	struct lines	*l = arg;

	if (l->n == 8)
		return -1;
	l->got[l->n++] = strndup(line, len);
	return 0;
}

/* The same stream fed whole and one byte at a time gives the same lines. */
static void
test_lines_chunking(void **state)
{
	const char		*stream = "{\"a\":1}\n{\"b\":2}\n\n{\"c\":";
	struct etcd_lines	 el = { 0 };
	struct lines		 whole = { 0 }, bytes = { 0 };
	const char		*cause;
	size_t			 i;
	int			 k;

	assert_int_equal(etcd_lines_feed(&el, stream, strlen(stream), collect,
	    &whole, &cause), 0);
	etcd_lines_clear(&el);
	for (i = 0; i < strlen(stream); i++)
		assert_int_equal(etcd_lines_feed(&el, stream + i, 1, collect,
		    &bytes, &cause), 0);
	assert_int_equal(whole.n, 2);
	assert_int_equal(bytes.n, 2);
	for (k = 0; k < 2; k++) {
		assert_string_equal(whole.got[k], bytes.got[k]);
		free(whole.got[k]);
		free(bytes.got[k]);
	}
	/* the unfinished third message waits for its newline */
	assert_int_equal(etcd_lines_feed(&el, "3}\n", 3, collect, &bytes,
	    &cause), 0);
	assert_int_equal(bytes.n, 3);
	assert_string_equal(bytes.got[2], "{\"c\":3}");
	free(bytes.got[2]);
	etcd_lines_clear(&el);
}

static int
never(const char *line, size_t len, void *arg)
{
	fail_msg("no line expected");
	return 0;
}

static void
test_lines_too_long(void **state)
{
	struct etcd_lines	 el = { 0 };
	const char		*cause = NULL;
	size_t			 chunk = 1024 * 1024, i;
	char			*buf = malloc(chunk);
	int			 rv = 0;

	memset(buf, 'x', chunk);
	for (i = 0; i <= ETCD_LINE_MAX / chunk && rv == 0; i++)
		rv = etcd_lines_feed(&el, buf, chunk, never, NULL, &cause);
	assert_int_equal(rv, -1);
	assert_non_null(cause);
	etcd_lines_clear(&el);
	free(buf);
}

static void
test_watch_events(void **state)
{
	const char	*msg = "{\"result\":{\"header\":{\"revision\":\"12\"},"
	    "\"events\":[{\"kv\":{\"key\":\"" KEY_B64 "\",\"mod_revision\":"
	    "\"11\",\"value\":\"" VAL_B64 "\"}},{\"type\":\"DELETE\",\"kv\":"
	    "{\"key\":\"" KEY_B64 "\",\"mod_revision\":\"12\"}}]}}";
	struct etcd_batch	 b;
	char			*cause, *name, *id;

	assert_int_equal(etcd_parse_watch(msg, strlen(msg), &b, &cause), 0);
	assert_int_equal(b.revision, 12);
	assert_int_equal(b.nev, 2);
	assert_int_equal(b.ev[0].type, ETCD_PUT);
	assert_string_equal(b.ev[0].value, "{\"name\":\"a\"}");
	assert_int_equal(b.ev[0].mod_revision, 11);
	assert_int_equal(b.ev[1].type, ETCD_DELETE);
	assert_string_equal(b.ev[1].value, "");
	assert_int_equal(etcd_key_split(b.ev[1].key, "/micro/registry/",
	    &name, &id), 0);
	assert_string_equal(name, "a");
	assert_string_equal(id, "n1");
	free(name);
	free(id);
	etcd_batch_clear(&b);
}

static void
test_watch_created_canceled(void **state)
{
	const char	*created = "{\"result\":{\"header\":{\"revision\":\"5\"},"
	    "\"created\":true}}";
	const char	*compacted = "{\"result\":{\"header\":{\"revision\":"
	    "\"9\"},\"canceled\":true,\"compact_revision\":\"7\","
	    "\"cancel_reason\":\"mvcc: required revision has been compacted\"}}";
	const char	*error = "{\"error\":{\"grpc_code\":16,\"http_code\":401,"
	    "\"message\":\"etcdserver: invalid auth token\"}}";
	struct etcd_batch	 b;
	char			*cause;

	assert_int_equal(etcd_parse_watch(created, strlen(created), &b,
	    &cause), 0);
	assert_true(b.created);
	assert_false(b.canceled);
	etcd_batch_clear(&b);
	assert_int_equal(etcd_parse_watch(compacted, strlen(compacted), &b,
	    &cause), 0);
	assert_true(b.canceled);
	assert_int_equal(b.compact_revision, 7);
	assert_non_null(strstr(b.error, "compacted"));
	etcd_batch_clear(&b);
	assert_int_equal(etcd_parse_watch(error, strlen(error), &b, &cause), 0);
	assert_string_equal(b.error, "etcdserver: invalid auth token");
	etcd_batch_clear(&b);
}

/*
 * A key anyone could write (a NUL byte in its value, an empty key: the
 * gateway leaves an empty key out) is passed on as unusable with its
 * revision, so the stream moves past it.
 */
static void
test_watch_unusable_key(void **state)
{
	/* "a\0b" as the value, and an empty key */
	const char	 msg[] = "{\"result\":{\"events\":["
	    "{\"kv\":{\"key\":\"" KEY_B64 "\",\"value\":\"YQBi\","
	    "\"mod_revision\":\"41\"}},"
	    "{\"kv\":{\"value\":\"e30=\",\"mod_revision\":\"42\"}},"
	    "{\"kv\":{\"key\":\"" KEY_B64 "\",\"value\":\"e30=\","
	    "\"mod_revision\":\"43\"}}]}}";
	struct etcd_batch	 b;
	char			*cause = NULL;

	assert_int_equal(etcd_parse_watch(msg, strlen(msg), &b, &cause), 0);
	assert_int_equal(b.nev, 3);
	assert_int_equal(b.ev[0].type, ETCD_UNUSABLE);
	assert_int_equal(b.ev[0].mod_revision, 41);
	assert_int_equal(b.ev[1].type, ETCD_UNUSABLE);
	assert_int_equal(b.ev[1].mod_revision, 42);
	assert_int_equal(b.ev[2].type, ETCD_PUT);
	etcd_batch_clear(&b);
}

/* Every hostile message is refused with a cause and leaves nothing. */
static void
test_watch_hostile(void **state)
{
	const char	*bad[] = {
		"", "{", "[]", "null", "{\"result\":1}", "{\"other\":{}}",
		"{\"result\":{\"events\":{}}}",
		"{\"result\":{\"events\":[1]}}",
		"{\"result\":{\"events\":[{\"kv\":{\"key\":\"!!\"}}]}}",
		"{\"result\":{\"events\":[{\"type\":\"EXPLODE\",\"kv\":{\"key\":"
		    "\"" KEY_B64 "\"}}]}}",
		"{\"result\":{\"events\":[{\"type\":7,\"kv\":{\"key\":"
		    "\"" KEY_B64 "\"}}]}}",
		"{\"result\":{\"header\":{\"revision\":\"12x\"}}}",
		"{\"result\":{\"header\":{\"revision\":[]}}}",
		"{\"result\":{\"compact_revision\":{}}}",
		"{\"result\":{\"events\":[{\"kv\":{\"key\":\"" KEY_B64 "\"}},"
		    "{\"kv\":5}]}}",
		"{\"result\":{\"events\":[{\"kv\":{\"key\":\"" KEY_B64,
	};
	struct etcd_batch	 b;
	char			*cause;
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cause = NULL;
		assert_int_equal(etcd_parse_watch(bad[i], strlen(bad[i]), &b,
		    &cause), -1);
		assert_non_null(cause);
		assert_int_equal(b.nev, 0);
		assert_null(b.ev);
		free(cause);
	}
}

/* Every prefix of a valid message is refused or parsed, never a crash. */
static void
test_watch_truncated(void **state)
{
	const char	*msg = "{\"result\":{\"header\":{\"revision\":\"12\"},"
	    "\"events\":[{\"kv\":{\"key\":\"" KEY_B64 "\",\"value\":\""
	    VAL_B64 "\"}}]}}";
	struct etcd_batch	 b;
	char			*cause;
	size_t			 len;

	for (len = 0; len < strlen(msg); len++) {
		cause = NULL;
		assert_int_equal(etcd_parse_watch(msg, len, &b, &cause), -1);
		free(cause);
	}
	assert_int_equal(etcd_parse_watch(msg, len, &b, &cause), 0);
	etcd_batch_clear(&b);
}

static void
test_range(void **state)
{
	const char	*ok = "{\"header\":{\"revision\":\"40\"},\"kvs\":[{\"key\":"
	    "\"" KEY_B64 "\",\"value\":\"" VAL_B64 "\",\"mod_revision\":\"3\","
	    "\"lease\":\"77\"}],\"count\":\"1\"}";
	const char	*empty = "{\"header\":{\"revision\":\"1\"}}";
	const char	*more = "{\"header\":{\"revision\":\"1\"},\"more\":true}";
	struct etcd_batch	 b;
	char			*cause;

	assert_int_equal(etcd_parse_range(ok, strlen(ok), &b, &cause), 0);
	assert_int_equal(b.revision, 40);
	assert_int_equal(b.nev, 1);
	assert_false(b.more);
	assert_string_equal(b.ev[0].key, "/micro/registry/a/n1");
	assert_int_equal(b.ev[0].keylen, 20);
	etcd_batch_clear(&b);
	assert_int_equal(etcd_parse_range(more, strlen(more), &b, &cause), 0);
	assert_true(b.more);
	etcd_batch_clear(&b);
	assert_int_equal(etcd_parse_range(empty, strlen(empty), &b, &cause), 0);
	assert_int_equal(b.nev, 0);
	etcd_batch_clear(&b);
	assert_int_equal(etcd_parse_range("{\"kvs\":7}", 9, &b, &cause), -1);
	free(cause);
}

static void
test_lease_auth_error(void **state)
{
	const char	*grant = "{\"header\":{},\"ID\":\"7587862\",\"TTL\":\"10\"}";
	const char	*keep = "{\"result\":{\"header\":{},\"ID\":\"7587862\"}}";
	int64_t		 id, ttl;
	char		*cause, *s;

	assert_int_equal(etcd_parse_lease(grant, strlen(grant), &id, &ttl,
	    &cause), 0);
	assert_int_equal(id, 7587862);
	assert_int_equal(ttl, 10);
	/* an expired lease: TTL omitted, i.e. 0 */
	assert_int_equal(etcd_parse_lease(keep, strlen(keep), &id, &ttl,
	    &cause), 0);
	assert_int_equal(ttl, 0);
	assert_int_equal(etcd_parse_lease("{\"ID\":[]}", 9, &id, &ttl,
	    &cause), -1);
	free(cause);

	s = etcd_parse_auth("{\"token\":\"abc.1\"}", 17, &cause);
	assert_string_equal(s, "abc.1");
	free(s);
	assert_null(etcd_parse_auth("{\"token\":\"\"}", 12, &cause));
	free(cause);

	s = etcd_parse_error("{\"error\":\"x\",\"message\":\"lease not found\"}",
	    41);
	assert_string_equal(s, "lease not found");
	free(s);
	s = etcd_parse_error("<html>", 6);
	assert_non_null(s);
	free(s);
}

static void
test_key_split_hostile(void **state)
{
	const char	*bad[] = { "/micro/registry/", "/micro/registry/a",
			    "/micro/registry//n", "/micro/registry/a/",
			    "/other/a/n" };
	char		*name, *id;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(etcd_key_split(bad[i], "/micro/registry/",
		    &name, &id), -1);
}

static void
test_value_is_node(void **state)
{
	const char	*good = "{\"name\":\"a\",\"version\":\"1\","
	    "\"nodes\":[{\"id\":\"n1\",\"address\":\"h:1\"}]}";
	const char	*bad[] = {
		"garbage",
		"{\"name\":\"b\",\"nodes\":[{\"id\":\"n1\"}]}",
		"{\"name\":\"a\",\"nodes\":[{\"id\":\"n2\"}]}",
		"{\"name\":\"a\",\"nodes\":[{\"id\":\"n1\"},{\"id\":\"n2\"}]}",
		"{\"name\":\"a\",\"nodes\":[]}",
		"{\"name\":\"a\",\"nodes\":{\"id\":\"n1\"}}",
		"{\"nodes\":[{\"id\":\"n1\"}]}",
		"[{\"name\":\"a\",\"nodes\":[{\"id\":\"n1\"}]}]",
	};
	size_t		 i;

	assert_true(etcd_value_is_node(good, strlen(good), "a", "n1"));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(etcd_value_is_node(bad[i], strlen(bad[i]), "a",
		    "n1"));
}

static void
test_node_2016(void **state)
{
	static const struct {
		const char	*address, *host;
		int		 port;
	} cases[] = {
		{ "10.0.0.1:9091", "10.0.0.1", 9091 },
		{ "[::1]:80", "::1", 80 },
		{ "localhost:1", "localhost", 1 },
	};
	json_t	*node;
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		node = json_pack("{ss ss}", "id", "n", "address",
		    cases[i].address);
		etcd_node_2016(node);
		assert_string_equal(json_string_value(json_object_get(node,
		    "address")), cases[i].host);
		assert_int_equal(json_integer_value(json_object_get(node,
		    "port")), cases[i].port);
		assert_string_equal(json_string_value(json_object_get(node,
		    "id")), "n");
		json_decref(node);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_roundtrip),
		cmocka_unit_test(test_value_is_node),
		cmocka_unit_test(test_node_2016),
		cmocka_unit_test(test_b64_hostile),
		cmocka_unit_test(test_req_range_end),
		cmocka_unit_test(test_req_watch_int64_strings),
		cmocka_unit_test(test_req_probe),
		cmocka_unit_test(test_lines_chunking),
		cmocka_unit_test(test_lines_too_long),
		cmocka_unit_test(test_watch_events),
		cmocka_unit_test(test_watch_created_canceled),
		cmocka_unit_test(test_watch_unusable_key),
		cmocka_unit_test(test_watch_hostile),
		cmocka_unit_test(test_watch_truncated),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_lease_auth_error),
		cmocka_unit_test(test_key_split_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
