/*
 * go-micro's Consul encoding and Consul's answers (plugins/consul-codec.c):
 * tags round-trip, health entries become Services per version with
 * critical nodes dropped, index rules, and hostile JSON refused.
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
			    "v789c", "v-789cXX", "x-789c" };
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(consul_tag_decode(bad[i], 'v'));
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
	tags = json_object_get(r.body, "Tags");
	assert_int_equal(json_array_size(tags), 3);	/* t-, e-, v- */
	v = consul_tag_decode(json_string_value(json_array_get(tags, 2)), 'v');
	assert_string_equal(v, "1.2");
	free(v);
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

	out = consul_parse_health(body, strlen(body), "greeter", &cause);
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
	json_t		*out;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(consul_parse_health(bad[i], strlen(bad[i]), "s",
		    &cause));
		free(cause);
	}
	/* well-formed JSON, nonsense entries: skipped, not fatal */
	out = consul_parse_health(odd, strlen(odd), "s", &cause);
	assert_non_null(out);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
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
		cmocka_unit_test(test_catalog),
		cmocka_unit_test(test_index_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
