/*
 * go-micro's Consul encoding and Consul's answers (plugins/consul-codec.c):
 * tags round-trip, health entries become Services per version with
 * critical nodes dropped, go-micro's tag forms read as its decoders read
 * them, index rules, and hostile JSON refused.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "plugins/consul-codec.h"

static void
test_tag_roundtrip(void **state)
{
	char	*tag, *text;

	tag = consul_tag_encode('v', "1.0.0");
	/* zlib header 0x78 0x9c, as Go's zlib.NewWriter writes it */
	assert_true(strncmp(tag, "v-789c", 6) == 0);
	text = consul_tag_decode(tag, 'v');
	assert_string_equal(text, "1.0.0");
	assert_null(consul_tag_decode(tag, 'e'));
	free(text);
	free(tag);
}

static void
test_tag_hostile(void **state)
{
	const char	*bad[] = { "v-", "v-7", "v-zz", "v-789c0000",
			    "v789c", "v-789cXX", "x-789c", "x=1" };
	char		*text;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(consul_tag_decode(bad[i], 'v'));
	/* go-micro's old plain form */
	text = consul_tag_decode("v=1.2.0", 'v');
	assert_string_equal(text, "1.2.0");
	free(text);
}

struct reg {
	char	*id;
	json_t	*body;
	int	 n;
};

static void
collect(const char *id, char *body, void *arg)
{
	struct reg	*r = arg;

	r->id = strdup(id);
	r->body = json_loads(body, 0, NULL);
	r->n++;
	free(body);
}

static void
test_register_body(void **state)
{
	const char	*svc = "{\"name\":\"go.micro.srv.greeter\",\"version\":"
	    "\"1.2\",\"endpoints\":[{\"name\":\"Say.Hello\"}],\"nodes\":[{\"id\":"
	    "\"g-1\",\"address\":\"10.0.0.1:9091\",\"metadata\":{\"protocol\":"
	    "\"mucp\"}}]}";
	struct reg	 r = { 0 };
	const json_t	*tags, *check;
	char		*cause, *v;

	assert_int_equal(consul_register_each(svc, 15000, collect, &r, &cause),
	    0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.id, "g-1");
	assert_string_equal(json_string_value(json_object_get(r.body, "ID")),
	    "g-1");
	assert_string_equal(json_string_value(json_object_get(r.body,
	    "Address")), "10.0.0.1");
	assert_int_equal(json_integer_value(json_object_get(r.body, "Port")),
	    9091);
	check = json_object_get(r.body, "Check");
	assert_string_equal(json_string_value(json_object_get(check,
	    "CheckID")), "service:g-1");
	assert_string_equal(json_string_value(json_object_get(check, "TTL")),
	    "15000ms");
	/* go-micro's getDeregisterTTL: at least 1m5s */
	assert_string_equal(json_string_value(json_object_get(check,
	    "DeregisterCriticalServiceAfter")), "65000ms");
	/* metadata only in the t- tag: Consul refuses many keys as Meta */
	assert_null(json_object_get(r.body, "Meta"));
	tags = json_object_get(r.body, "Tags");
	assert_int_equal(json_array_size(tags), 3);	/* t-, e-, v- */
	v = consul_tag_decode(json_string_value(json_array_get(tags, 2)), 'v');
	assert_string_equal(v, "1.2");
	free(v);
	free(r.id);
	json_decref(r.body);

	/* past a minute: TTL + 5 s */
	assert_int_equal(consul_register_each(svc, 300000, collect, &r,
	    &cause), 0);
	check = json_object_get(r.body, "Check");
	assert_string_equal(json_string_value(json_object_get(check,
	    "DeregisterCriticalServiceAfter")), "305000ms");
	free(r.id);
	json_decref(r.body);

	assert_int_equal(consul_register_each("{\"name\":\"x\",\"nodes\":"
	    "[{\"id\":\"a\",\"address\":\"nope\"}]}", 1000, collect, &r,
	    &cause), -1);
	free(cause);
	assert_int_equal(consul_register_each("[]", 1000, collect, &r, &cause),
	    -1);
	free(cause);
}

/* A /v1/health/service answer shaped like Consul's documentation. */
static char *
health_answer(void)
{
	char	*v1 = consul_tag_encode('v', "1.0"), *v2 = consul_tag_encode('v',
		    "2.0");
	char	*ep = consul_tag_encode('e', "{\"name\":\"Say.Hello\"}");
	char	*md = consul_tag_encode('t', "{\"protocol\":\"mucp\"}");
	char	*s;

	asprintf(&s, "["
	    "{\"Node\":{\"ID\":\"40e4a748\",\"Node\":\"foobar\",\"Address\":"
	    "\"10.1.10.12\",\"Datacenter\":\"dc1\"},\"Service\":{\"ID\":\"a-1\","
	    "\"Service\":\"greeter\",\"Tags\":[\"%s\",\"%s\",\"%s\"],"
	    "\"Address\":\"\",\"Port\":8000,\"Meta\":null},\"Checks\":[{"
	    "\"Node\":\"foobar\",\"CheckID\":\"serfHealth\",\"Status\":"
	    "\"passing\"}]},"
	    "{\"Node\":{\"Address\":\"10.1.10.13\"},\"Service\":{\"ID\":\"a-2\","
	    "\"Service\":\"greeter\",\"Tags\":[\"%s\"],\"Address\":"
	    "\"10.1.10.99\",\"Port\":8001},\"Checks\":[{\"CheckID\":"
	    "\"service:a-2\",\"Status\":\"critical\"}]},"
	    "{\"Node\":{\"Address\":\"10.1.10.14\"},\"Service\":{\"ID\":\"b-1\","
	    "\"Service\":\"greeter\",\"Tags\":[\"%s\",\"other\"],\"Address\":"
	    "\"10.1.10.14\",\"Port\":8002,\"Meta\":{\"k\":\"v\"}},\"Checks\":[]}"
	    "]", v1, ep, md, v1, v2);
	free(v1);
	free(v2);
	free(ep);
	free(md);
	return s;
}

static void
test_health(void **state)
{
	char		*body = health_answer(), *cause;
	json_t		*out, *s1, *s2, *n;
	size_t		 skipped;

	out = consul_parse_health(body, strlen(body), "greeter", &skipped,
	    &cause);
	assert_non_null(out);
	assert_int_equal(json_array_size(out), 2);	/* 1.0 and 2.0 */
	s1 = json_array_get(out, 0);
	assert_string_equal(json_string_value(json_object_get(s1, "version")),
	    "1.0");
	/* a-2 is critical: dropped */
	assert_int_equal(json_array_size(json_object_get(s1, "nodes")), 1);
	n = json_array_get(json_object_get(s1, "nodes"), 0);
	assert_string_equal(json_string_value(json_object_get(n, "id")), "a-1");
	/* empty Service.Address: the agent's node address */
	assert_string_equal(json_string_value(json_object_get(n, "address")),
	    "10.1.10.12:8000");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    n, "metadata"), "protocol")), "mucp");
	assert_int_equal(json_array_size(json_object_get(s1, "endpoints")), 1);
	s2 = json_array_get(out, 1);
	n = json_array_get(json_object_get(s2, "nodes"), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    n, "metadata"), "k")), "v");
	json_decref(out);
	free(body);
}

static void
test_health_hostile(void **state)
{
	const char	*bad[] = { "", "{", "{}", "null", "[1,", "\"x\"" };
	const char	*odd = "[1,null,{},{\"Service\":7},{\"Service\":{\"ID\":"
	    "\"x\",\"Tags\":[\"v-zz\"],\"Address\":\"h\",\"Port\":1}},"
	    "{\"Service\":{\"ID\":\"y\",\"Tags\":[\"e-789c\"],\"Address\":"
	    "\"h\"}}]";
	char		*cause;
	json_t		*out, *nodes;
	size_t		 i, skipped;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(consul_parse_health(bad[i], strlen(bad[i]), "s",
		    &skipped, &cause));
		free(cause);
	}
	/*
	 * well-formed JSON, nonsense entries: skipped, not fatal; nodes
	 * whose tags do not decode keep their node, not the tags
	 */
	out = consul_parse_health(odd, strlen(odd), "s", &skipped, &cause);
	assert_non_null(out);
	assert_int_equal(json_array_size(out), 1);
	nodes = json_object_get(json_array_get(out, 0), "nodes");
	assert_int_equal(json_array_size(nodes), 2);
	assert_int_equal(skipped, 2);
	json_decref(out);
}

/*
 * Consul answers /v1/health/service/greeter with "Greeter" too (names are
 * looked up ignoring case): only the name asked for is ours.
 */
static void
test_health_other_name(void **state)
{
	const char	*body = "["
	    "{\"Node\":{\"Address\":\"h\"},\"Service\":{\"ID\":\"up\","
	    "\"Service\":\"Greeter\",\"Port\":1}},"
	    "{\"Node\":{\"Address\":\"h\"},\"Service\":{\"ID\":\"low\","
	    "\"Service\":\"greeter\",\"Port\":2}}]";
	json_t		*out, *nodes;
	char		*cause;
	size_t		 skipped;

	out = consul_parse_health(body, strlen(body), "greeter", &skipped,
	    &cause);
	assert_non_null(out);
	assert_int_equal(json_array_size(out), 1);
	nodes = json_object_get(json_array_get(out, 0), "nodes");
	assert_int_equal(json_array_size(nodes), 1);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(nodes, 0), "id")), "low");
	json_decref(out);
}

/* The Service of one entry tagged tags (a JSON array's text). */
static json_t *
one_entry(const char *tags, size_t *skipped)
{
	char		*body, *cause;
	json_t		*out, *svc;

	asprintf(&body, "[{\"Node\":{\"Address\":\"10.0.0.1\"},\"Service\":"
	    "{\"ID\":\"a\",\"Service\":\"s\",\"Tags\":%s,\"Port\":1}}]",
	    tags);
	out = consul_parse_health(body, strlen(body), "s", skipped, &cause);
	free(body);
	assert_non_null(out);
	assert_int_equal(json_array_size(out), 1);
	svc = json_incref(json_array_get(out, 0));
	json_decref(out);
	return svc;
}

static const char *
node_meta(const json_t *svc, const char *key)
{
	return json_string_value(json_object_get(json_object_get(
	    json_array_get(json_object_get(svc, "nodes"), 0), "metadata"),
	    key));
}

/* go-micro's encodeMetadata writes one t- tag per key: all are kept. */
static void
test_metadata_tags_merged(void **state)
{
	char	*t1 = consul_tag_encode('t', "{\"protocol\":\"mucp\"}");
	char	*t2 = consul_tag_encode('t', "{\"transport\":\"http\"}");
	char	*tags;
	json_t	*svc;
	size_t	 skipped;

	asprintf(&tags, "[\"%s\",\"%s\"]", t1, t2);
	svc = one_entry(tags, &skipped);
	assert_string_equal(node_meta(svc, "protocol"), "mucp");
	assert_string_equal(node_meta(svc, "transport"), "http");
	assert_int_equal(skipped, 0);
	json_decref(svc);
	free(tags);
	free(t1);
	free(t2);
}

/*
 * Tags go-micro cannot decode are skipped, not the node; the old plain
 * "=" forms are read; per kind only the first format seen counts.
 */
static void
test_tags_foreign_and_old(void **state)
{
	char		*ep = consul_tag_encode('e', "{\"name\":\"New.Call\"}");
	char		*tags;
	json_t		*svc, *eps;
	size_t		 skipped;

	svc = one_entry("[\"e-commerce\",\"v-2\",\"t-zz\",\"primary\"]",
	    &skipped);
	assert_string_equal(json_string_value(json_object_get(svc, "version")),
	    "");
	assert_int_equal(json_array_size(json_object_get(svc, "nodes")), 1);
	assert_int_equal(skipped, 3);
	json_decref(svc);

	asprintf(&tags, "[\"v=1.2.0\",\"t={\\\"protocol\\\":\\\"mucp\\\"}\","
	    "\"e={\\\"name\\\":\\\"Old.Call\\\"}\",\"%s\",\"t=[1]\"]", ep);
	svc = one_entry(tags, &skipped);
	assert_string_equal(json_string_value(json_object_get(svc, "version")),
	    "1.2.0");
	assert_string_equal(node_meta(svc, "protocol"), "mucp");
	eps = json_object_get(svc, "endpoints");
	/* e= came first: the e- copy (go-micro once wrote both) is not read */
	assert_int_equal(json_array_size(eps), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    eps, 0), "name")), "Old.Call");
	assert_int_equal(skipped, 1);	/* t=[1]: not a map */
	json_decref(svc);
	free(tags);
	free(ep);
}

static void
test_catalog(void **state)
{
	const char	*ok = "{\"consul\":[],\"redis\":[\"primary\","
	    "\"secondary\"],\"postgresql\":null}";
	char		*cause;
	json_t		*names;

	names = consul_parse_catalog(ok, strlen(ok), &cause);
	assert_int_equal(json_array_size(names), 3);
	json_decref(names);
	assert_null(consul_parse_catalog("[]", 2, &cause));
	free(cause);
	assert_null(consul_parse_catalog("{\"a\":", 5, &cause));
	free(cause);
}

static void
test_index_rules(void **state)
{
	assert_int_equal(consul_index_next(0, "17"), 17);
	assert_int_equal(consul_index_next(17, "17"), 17);
	assert_int_equal(consul_index_next(17, "20"), 20);
	/* backwards: reset */
	assert_int_equal(consul_index_next(20, "5"), 0);
	/* never 0 in the loop */
	assert_int_equal(consul_index_next(0, "0"), 1);
	/* absent or garbage: start over with a plain query */
	assert_int_equal(consul_index_next(20, NULL), 0);
	assert_int_equal(consul_index_next(20, "x1"), 0);
	assert_int_equal(consul_index_next(20, "21x"), 0);
	assert_int_equal(consul_index_next(20, "-3"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tag_roundtrip),
		cmocka_unit_test(test_tag_hostile),
		cmocka_unit_test(test_register_body),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_health_hostile),
		cmocka_unit_test(test_health_other_name),
		cmocka_unit_test(test_metadata_tags_merged),
		cmocka_unit_test(test_tags_foreign_and_old),
		cmocka_unit_test(test_catalog),
		cmocka_unit_test(test_index_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
