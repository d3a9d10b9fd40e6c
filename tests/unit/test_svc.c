#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "svc.h"
#include "util.h"

#define GREETER_V1							\
	"{\"name\":\"go.micro.srv.greeter\",\"version\":\"1.0.0\","	\
	"\"metadata\":{\"a\":\"b\"},"					\
	"\"endpoints\":[{\"name\":\"Say.Hello\","			\
	"\"request\":{\"name\":\"Request\",\"type\":\"Request\","	\
	"\"values\":[{\"name\":\"name\",\"type\":\"string\",\"values\":null}]},"\
	"\"response\":null,\"metadata\":null}],"			\
	"\"nodes\":[{\"id\":\"n1\",\"address\":\"127.0.0.1:9091\","	\
	"\"metadata\":{\"protocol\":\"mucp\"}}]}"

static struct svc *
parse_ok(const char *text, int flags)
{
	struct svc	*s;
	char		*cause = NULL;

	s = svc_parse(text, strlen(text), flags, &cause);
	if (s == NULL)
		fail_msg("unexpected error: %s", cause);
	return s;
}

/* Bad input: NULL, and a cause containing want. */
static void
parse_bad(const char *text, int flags, const char *want)
{
	struct svc	*s;
	char		*cause = NULL;

	s = svc_parse(text, strlen(text), flags, &cause);
	assert_null(s);
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("cause \"%s\" lacks \"%s\" for %s", cause, want, text);
	assert_null(strchr(cause, '\n'));
	free(cause);
}

static void
assert_json_eq(const char *got, const char *want)
{
	json_t	*a, *b;

	a = json_loads(got, 0, NULL);
	b = json_loads(want, 0, NULL);
	assert_non_null(a);
	assert_non_null(b);
	if (!json_equal(a, b))
		fail_msg("got %s\nwant %s", got, want);
	json_decref(a);
	json_decref(b);
}

static void
test_parse_canonical(void **state)
{
	struct svc	*s;
	char		*text;

	s = parse_ok(GREETER_V1, SVC_NEED_NODES);
	assert_string_equal(s->name, "go.micro.srv.greeter");
	assert_string_equal(s->version, "1.0.0");
	assert_int_equal(s->nnodes, 1);
	assert_string_equal(s->nodes[0].address, "127.0.0.1:9091");
	text = svc_dump(s);
	assert_json_eq(text,
	    "{\"name\":\"go.micro.srv.greeter\",\"version\":\"1.0.0\","
	    "\"metadata\":{\"a\":\"b\"},"
	    "\"endpoints\":[{\"name\":\"Say.Hello\","
	    "\"request\":{\"name\":\"Request\",\"type\":\"Request\","
	    "\"values\":[{\"name\":\"name\",\"type\":\"string\","
	    "\"values\":[]}]},"
	    "\"response\":{},\"metadata\":{}}],"
	    "\"nodes\":[{\"id\":\"n1\",\"address\":\"127.0.0.1:9091\","
	    "\"metadata\":{\"protocol\":\"mucp\"}}]}");
	assert_null(strstr(text, "null"));
	free(text);
	svc_free(s);
}

static void
test_parse_nulls(void **state)
{
	struct svc	*s;
	char		*text;

	s = parse_ok("{\"name\":\"x\",\"version\":null,\"metadata\":null,"
	    "\"endpoints\":null,\"nodes\":[{\"id\":\"i\",\"address\":"
	    "\"h:1\",\"metadata\":null}]}", SVC_NEED_NODES);
	text = svc_dump(s);
	assert_json_eq(text, "{\"name\":\"x\",\"version\":\"\","
	    "\"metadata\":{},\"endpoints\":[],\"nodes\":[{\"id\":\"i\","
	    "\"address\":\"h:1\",\"metadata\":{}}]}");
	free(text);
	svc_free(s);
}

static void
test_parse_2016_port(void **state)
{
	struct svc	*s;

	s = parse_ok("{\"name\":\"go.micro.srv.old\",\"nodes\":["
	    "{\"id\":\"a\",\"address\":\"10.0.0.1\",\"port\":9091},"
	    "{\"id\":\"b\",\"address\":\"::1\",\"port\":80},"
	    "{\"id\":\"c\",\"address\":\"10.0.0.2:7\",\"port\":0}]}",
	    SVC_NEED_NODES);
	assert_int_equal(s->nnodes, 3);
	assert_string_equal(s->nodes[0].address, "10.0.0.1:9091");
	assert_string_equal(s->nodes[1].address, "[::1]:80");
	assert_string_equal(s->nodes[2].address, "10.0.0.2:7");
	svc_free(s);
}

/* A deregistration names nodes by id; an address given is still checked. */
static void
test_parse_ids_only(void **state)
{
	struct svc	*s;

	s = parse_ok("{\"name\":\"a\",\"nodes\":[{\"id\":\"x\"}]}",
	    SVC_IDS_ONLY);
	assert_string_equal(s->nodes[0].id, "x");
	svc_free(s);
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"id\":\"x\"}]}", 0,
	    "not host:port");
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"id\":\"x\","
	    "\"address\":\"h:0\"}]}", SVC_IDS_ONLY, "not host:port");
}

static void
test_parse_bad(void **state)
{
	char	*big;
	size_t	 n = SVC_JSON_MAX + 10;

	parse_bad("", 0, "invalid");
	parse_bad("{\"name\":", 0, "invalid");
	parse_bad("[1,2]", 0, "not an object");
	parse_bad("{\"version\":\"1\"}", 0, "no name");
	parse_bad("{\"name\":\"\"}", 0, "no name");
	parse_bad("{\"name\":42}", 0, "no name");
	parse_bad("{\"name\":\"a\\nb\"}", 0, "service name");
	parse_bad("{\"name\":\"a\\\\b\"}", 0, "service name");
	parse_bad("{\"name\":\"a/b\"}", 0, "service name");
	parse_bad("{\"name\":\"a\"}", SVC_NEED_NODES, "no nodes");
	parse_bad("{\"name\":\"a\",\"nodes\":[]}", SVC_NEED_NODES, "no nodes");
	parse_bad("{\"name\":\"a\",\"nodes\":{}}", 0, "nodes is not an array");
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"address\":\"h:1\"}]}", 0,
	    "node 0 has no id");
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"id\":\"x/y\","
	    "\"address\":\"h:1\"}]}", 0, "node 0 id");
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"id\":\"i\","
	    "\"address\":\"h\"}]}", 0, "not host:port");
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"id\":\"i\","
	    "\"address\":\"h:0\"}]}", 0, "not host:port");
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"id\":\"i\","
	    "\"address\":\"h:65536\"}]}", 0, "not host:port");
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"id\":\"i\","
	    "\"address\":\":80\"}]}", 0, "not host:port");
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"id\":\"i\","
	    "\"address\":\"h\",\"port\":70000}]}", 0, "port is not in");
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"id\":\"i\",\"address\":"
	    "\"h:1\"},{\"id\":\"i\",\"address\":\"h:2\"}]}", 0, "twice");
	parse_bad("{\"name\":\"a\",\"metadata\":{\"k\":1}}", 0,
	    "metadata \"k\" is not a string");
	parse_bad("{\"name\":\"a\",\"endpoints\":[{\"request\":{}}]}", 0,
	    "endpoint 0 has no name");
	parse_bad("{\"name\":\"a\",\"endpoints\":[{\"name\":\"E\","
	    "\"request\":[]}]}", 0, "request is not an object");
	parse_bad("{\"name\":\"a\",\"name\":\"b\"}", 0, "invalid");
	/* Brackets hold an IPv6 address, nothing else. */
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"id\":\"i\",\"address\":"
	    "\"127.0.0.1:81\",\"port\":82}]}", 0, "not host:port");
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"id\":\"i\",\"address\":"
	    "\"[cafe]:80\"}]}", 0, "not host:port");
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"id\":\"i\",\"address\":"
	    "\"[...]:80\"}]}", 0, "not host:port");
	/* What go-micro cannot unmarshal into a registry.Value. */
	parse_bad("{\"name\":\"a\",\"endpoints\":[{\"name\":\"E\","
	    "\"request\":{\"name\":5}}]}", 0, "name or type is not a string");
	parse_bad("{\"name\":\"a\",\"endpoints\":[{\"name\":\"E\","
	    "\"response\":{\"type\":[\"x\"]}}]}", 0,
	    "name or type is not a string");

	big = xmalloc(n + 1);
	memset(big, ' ', n);
	big[n] = '\0';
	big[0] = '{';
	big[n - 1] = '}';
	parse_bad(big, 0, "larger than");
	free(big);
}

/*
 * C1 controls (U+0080..U+009F) are control characters too: U+009B is a
 * terminal's CSI. Other non-ASCII text stays welcome.
 */
static void
test_c1_controls(void **state)
{
	struct svc	*s;
	char		*cause = NULL;
	const char	*ok = "{\"name\":\"gr\\u00fc\\u00dfe \\u00a0\","
	    "\"version\":\"\\u00e9\",\"nodes\":[{\"id\":\"\\u00c2\\u00bf\","
	    "\"address\":\"h:1\"}]}";

	parse_bad("{\"name\":\"a\\u0085b\"}", 0, "service name");
	parse_bad("{\"name\":\"a\\u009b31m\"}", 0, "service name");
	parse_bad("{\"name\":\"a\",\"version\":\"1\\u0080\"}", 0,
	    "service version");
	parse_bad("{\"name\":\"a\",\"nodes\":[{\"id\":\"i\\u009f\","
	    "\"address\":\"h:1\"}]}", 0, "node 0 id");
	s = svc_parse(ok, strlen(ok), SVC_NEED_NODES, &cause);
	if (s == NULL)
		fail_msg("%s", cause);
	svc_free(s);
}

/* A request value nested 16 deep is taken, 17 is not (doc/registry.md). */
static void
test_value_depth(void **state)
{
	char		 json[1024], cause_want[] = "nested too deep";
	struct svc	*s;
	char		*cause = NULL;
	int		 depth, i, n;

	for (depth = 16; depth <= 17; depth++) {
		n = snprintf(json, sizeof(json), "{\"name\":\"a\",\"endpoints\":"
		    "[{\"name\":\"E\",\"request\":");
		for (i = 1; i < depth; i++)
			n += snprintf(json + n, sizeof(json) - (size_t)n,
			    "{\"values\":[");
		n += snprintf(json + n, sizeof(json) - (size_t)n, "{}");
		for (i = 1; i < depth; i++)
			n += snprintf(json + n, sizeof(json) - (size_t)n, "]}");
		snprintf(json + n, sizeof(json) - (size_t)n, "}]}");
		s = svc_parse(json, strlen(json), 0, &cause);
		if (depth == 16) {
			assert_non_null(s);
			svc_free(s);
		} else {
			assert_null(s);
			assert_non_null(strstr(cause, cause_want));
			free(cause);
		}
	}
}

static void
test_too_many_nodes(void **state)
{
	json_t	*root, *nodes;
	char	*text, id[32];
	int	 i;

	nodes = json_array();
	for (i = 0; i <= SVC_NODES_MAX; i++) {
		snprintf(id, sizeof(id), "%d", i);
		json_array_append_new(nodes, json_pack("{s:s, s:s}", "id", id,
		    "address", "1.2.3.4:5"));
	}
	root = json_pack("{s:s, s:o}", "name", "many", "nodes", nodes);
	text = json_dumps(root, JSON_COMPACT);
	assert_true(strlen(text) <= SVC_JSON_MAX);
	parse_bad(text, 0, "more than");
	free(text);
	json_decref(root);
}

static struct svc *
node_svc(const char *version, const char *ids)
{
	char	*text, *p, *out = xstrdup("");
	char	*list = xstrdup(ids), *tok, *save;
	struct svc *s;

	for (tok = strtok_r(list, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		xasprintf(&p, "%s%s{\"id\":\"%s\",\"address\":\"h:1\"}", out,
		    *out ? "," : "", tok);
		free(out);
		out = p;
	}
	xasprintf(&text, "{\"name\":\"s\",\"version\":\"%s\","
	    "\"metadata\":{\"v\":\"%s\"},\"nodes\":[%s]}", version, ids, out);
	s = parse_ok(text, 0);
	free(text);
	free(out);
	free(list);
	return s;
}

static void
test_merge_remove(void **state)
{
	struct svc_set	 set = { NULL, 0 };
	struct svc	*s;
	char		*cause;

	s = node_svc("1", "a,b");
	assert_int_equal(svc_set_merge(&set, s, &cause), 0);
	svc_free(s);
	s = node_svc("1", "b,c");	/* refresh b, add c, new metadata */
	s->nodes[0].expires = 42;
	assert_int_equal(svc_set_merge(&set, s, &cause), 0);
	svc_free(s);
	s = node_svc("2", "a");		/* same id, another version */
	assert_int_equal(svc_set_merge(&set, s, &cause), 0);
	svc_free(s);

	assert_int_equal(set.n, 2);
	assert_int_equal(svc_set_nodes(&set), 4);
	assert_string_equal(json_string_value(json_object_get(
	    svc_set_find(&set, "1")->metadata, "v")), "b,c");
	assert_int_equal(svc_find_node(svc_set_find(&set, "1"), "b")->expires,
	    42);

	s = node_svc("1", "a,x");	/* x is not there: ignored */
	assert_int_equal(svc_set_remove(&set, s), 1);
	svc_free(s);
	assert_null(svc_find_node(svc_set_find(&set, "1"), "a"));
	assert_non_null(svc_find_node(svc_set_find(&set, "2"), "a"));

	s = node_svc("2", "a");		/* last node: the version goes */
	assert_int_equal(svc_set_remove(&set, s), 1);
	svc_free(s);
	assert_int_equal(set.n, 1);
	assert_null(svc_set_find(&set, "2"));

	s = parse_ok("{\"name\":\"s\",\"version\":\"1\"}", 0);
	assert_int_equal(svc_set_remove(&set, s), 2);	/* whole version */
	svc_free(s);
	assert_int_equal(set.n, 0);
	svc_set_clear(&set);
}

static void
test_merge_limit(void **state)
{
	struct svc_set	 set = { NULL, 0 };
	struct svc	*s;
	char		*cause = NULL, id[32];
	int		 i;

	s = node_svc("1", "seed");
	for (i = 1; i < SVC_NODES_MAX; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		svc_add_node(s, id, "h:1", json_object(), 0, 0);
	}
	assert_int_equal(svc_set_merge(&set, s, &cause), 0);
	svc_free(s);
	s = node_svc("1", "seed,one-more");
	assert_int_equal(svc_set_merge(&set, s, &cause), -1);
	assert_non_null(strstr(cause, "more than"));
	free(cause);
	svc_free(s);
	assert_int_equal(svc_set_nodes(&set), SVC_NODES_MAX);
	assert_null(svc_find_node(set.v[0], "one-more"));
	svc_set_clear(&set);
}

static void
test_set_json(void **state)
{
	struct svc_set	 set = { NULL, 0 };
	struct svc	*s;
	char		*cause, *text;

	text = svc_set_dump(&set);
	assert_string_equal(text, "[]");
	free(text);
	s = node_svc("1", "a");
	assert_int_equal(svc_set_merge(&set, s, &cause), 0);
	svc_free(s);
	text = svc_set_dump(&set);
	assert_json_eq(text, "[{\"name\":\"s\",\"version\":\"1\","
	    "\"metadata\":{\"v\":\"a\"},\"endpoints\":[],\"nodes\":[{\"id\":"
	    "\"a\",\"address\":\"h:1\",\"metadata\":{}}]}]");
	free(text);
	svc_set_clear(&set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_canonical),
		cmocka_unit_test(test_parse_nulls),
		cmocka_unit_test(test_parse_2016_port),
		cmocka_unit_test(test_parse_ids_only),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_c1_controls),
		cmocka_unit_test(test_value_depth),
		cmocka_unit_test(test_too_many_nodes),
		cmocka_unit_test(test_merge_remove),
		cmocka_unit_test(test_merge_limit),
		cmocka_unit_test(test_set_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
